package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2transitgateway"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// server is one instance of the lab, by the role in its Name tag.
type server struct {
	Role     string
	Instance *ec2.Instance
}

// servers lists every instance of the lab, the NAT instance included.
func (infra *infrastructure) servers() []server {
	comp := infra.Compute
	out := []server{{"VPN", comp.VPN}, {"VoilaServer", comp.Voila}, {"Jupyter", comp.Jupyter}}
	if infra.Egress.NATInstance != nil {
		out = append(out, server{"NAT", infra.Egress.NATInstance})
	}
	return out
}

// createLifecycle declares the power state of every instance (labState). The
// project refreshes before every update (Pulumi.yaml), so a plain `pulumi up`
// also starts again what was stopped outside Pulumi: an AWS Academy session
// end, Jupyter's idle stop.
func createLifecycle(ctx *pulumi.Context, c *labConfig, servers []server) error {
	for _, s := range servers {
		name, alias := c.logical(s.Role + "-State")
		_, err := ec2transitgateway.NewInstanceState(ctx, name, &ec2transitgateway.InstanceStateArgs{
			InstanceId: s.Instance.ID(),
			State:      pulumi.String(c.LabState),
		}, alias)
		if err != nil {
			return fmt.Errorf("declaring the %s power state: %w", s.Role, err)
		}
	}
	return nil
}
