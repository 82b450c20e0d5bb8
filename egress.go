package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The NAT instance (researchEgress nat-instance): the smallest Graviton type
// forwards a lab's installs and syncs easily, for a tenth of a NAT gateway.
const (
	natInstanceType = "t4g.nano"
	natRootGB       = 8 // Amazon Linux 2023's image is 8 GiB; it cannot be smaller
)

// egress is how the Research subnet reaches the internet (researchEgress).
type egress struct {
	NATGateway  *ec2.NatGateway // nat-gateway mode only
	NATInstance *ec2.Instance   // nat-instance mode only
	// Route is the Research subnet's default route; nil in none mode. It is a
	// resource of its own, so switching to none deletes it.
	Route *ec2.Route
}

// createEgress declares the Research subnet's way out and its default route.
// Nothing else waits for it: installs on Jupyter retry until it is up.
func createEgress(ctx *pulumi.Context, c *labConfig, n *network, img *images) (*egress, error) {
	e := &egress{}
	route := &ec2.RouteArgs{RouteTableId: n.Research.RouteTable.ID(), DestinationCidrBlock: pulumi.String(anywhereIPv4)}
	switch c.ResearchEgress {
	case egressNATInstance:
		ami, err := img.al2023(natInstanceType)
		if err != nil {
			return nil, err
		}
		userData, err := natUserData(c)
		if err != nil {
			return nil, err
		}
		e.NATInstance, err = createInstance(ctx, c, instanceSpec{
			Role: "NAT", Type: natInstanceType, AMI: ami, Tier: n.DMZ, Group: n.NATGroup, RootGB: natRootGB,
			// Its own public address is its way out; it changes on a stop and
			// start, which nothing depends on.
			PublicIP: true,
			// A router forwards packets that are addressed to others.
			Forwards: true,
			UserData: pulumi.String(userData).ToStringOutput(),
		})
		if err != nil {
			return nil, err
		}
		route.NetworkInterfaceId = e.NATInstance.PrimaryNetworkInterfaceId
	case egressNATGateway:
		name, alias := c.logical("NAT-EIP")
		eip, err := ec2.NewEip(ctx, name, &ec2.EipArgs{
			Domain: pulumi.String("vpc"),
			Tags:   c.tags("NAT-EIP"),
		}, alias)
		if err != nil {
			return nil, fmt.Errorf("declaring the NAT gateway's address: %w", err)
		}
		name, alias = c.logical("NAT")
		e.NATGateway, err = ec2.NewNatGateway(ctx, name, &ec2.NatGatewayArgs{
			AllocationId: eip.ID(),
			SubnetId:     n.DMZ.Subnet.ID(),
			Tags:         c.tags("NAT"),
		}, pulumi.DependsOn([]pulumi.Resource{n.IGW}), alias)
		if err != nil {
			return nil, fmt.Errorf("declaring the NAT gateway: %w", err)
		}
		route.NatGatewayId = e.NATGateway.ID()
	case egressIGW:
		route.GatewayId = n.IGW.ID()
	case egressNone:
		return e, nil
	default:
		return nil, fmt.Errorf("researchEgress %q: no egress is declared for this mode", c.ResearchEgress)
	}
	var err error
	name, alias := c.logical("Research-default-route")
	e.Route, err = ec2.NewRoute(ctx, name, route, alias)
	if err != nil {
		return nil, fmt.Errorf("declaring the Research subnet's default route: %w", err)
	}
	return e, nil
}
