// research-lab declares, with one `pulumi up`, a private Jupyter server behind
// an OpenVPN Access Server, a public Voila site behind Nginx, and the versioned
// S3 bucket that carries the notebooks from one to the other.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/budgets"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type infrastructure struct {
	Config  *labConfig
	Region  string
	Zone    string
	Network *network
	Storage *storage
	Egress  *egress
	Compute *compute
	Budget  *budgets.Budget // nil unless monthlyBudgetUsd is set
	// Cost is the always-on estimate, the stack output estimatedMonthlyCostUsd.
	Cost *costEstimate
	// Outputs are the stack outputs, also exported; tests read them here.
	Outputs map[string]pulumi.Output
}

// createInfrastructure validates the configuration, declares the whole lab and
// exports its outputs.
func createInfrastructure(ctx *pulumi.Context) (*infrastructure, error) {
	c, err := loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	region, err := aws.GetRegion(ctx, &aws.GetRegionArgs{})
	if err != nil {
		return nil, fmt.Errorf("looking up the region: %w", err)
	}
	if region.Name != "" {
		c.Region = region.Name
	} else if c.Region == "" {
		c.Region = regionFallback
	}
	zone := c.AvailabilityZone
	if zone == "" {
		zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{State: pulumi.StringRef("available")})
		if err != nil {
			return nil, fmt.Errorf("looking up the availability zones of %s: %w", c.Region, err)
		}
		if len(zones.Names) > 0 {
			zone = zones.Names[0]
		} else {
			// AWS always lists a region's zones; an empty answer (a bare test
			// double) gets the region's usual first zone, said out loud.
			zone = c.Region + "a"
			if err := ctx.Log.Warn(fmt.Sprintf("no availability zone listed for %s; using %s (set %s:availabilityZone to choose)", c.Region, zone, projectName), nil); err != nil {
				return nil, err
			}
		}
	} else if err := checkZoneInRegion(zone, c.Region); err != nil {
		return nil, fmt.Errorf("invalid configuration of stack %q, nothing was declared:\n%s:availabilityZone = %q: %w", c.Stack, projectName, zone, err)
	}

	infra := &infrastructure{Config: c, Region: c.Region, Zone: zone}
	if infra.Network, err = createNetwork(ctx, c, zone, c.Region); err != nil {
		return nil, err
	}
	if infra.Storage, err = createStorage(ctx, c); err != nil {
		return nil, err
	}
	secret, err := createVPNSecret(ctx, c)
	if err != nil {
		return nil, err
	}
	img := newImages(ctx)
	if infra.Egress, err = createEgress(ctx, c, infra.Network, img); err != nil {
		return nil, err
	}
	if infra.Compute, err = createCompute(ctx, c, infra.Network, infra.Storage, secret, img); err != nil {
		return nil, err
	}
	if err := createLifecycle(ctx, c, infra.servers()); err != nil {
		return nil, err
	}
	if infra.Budget, err = createBudget(ctx, c); err != nil {
		return nil, err
	}
	infra.Cost = estimateCost(billOfMaterials(c), c.Region, alwaysOn)
	infra.Outputs = stackOutputs(infra)
	if !infra.Cost.Complete() {
		if err := ctx.Log.Warn(fmt.Sprintf("no estimatedMonthlyCostUsd: %s", infra.Cost.Missing()), nil); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(infra.Outputs))
	for k := range infra.Outputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ctx.Export(k, infra.Outputs[k])
	}
	return infra, nil
}

// stackOutputs are the contract of DESIGN.md; none of them holds a password.
func stackOutputs(infra *infrastructure) map[string]pulumi.Output {
	c, comp := infra.Config, infra.Compute
	vpnIP := comp.VPNIP.PublicIp
	bucket := infra.Storage.Bucket.Bucket
	out := map[string]pulumi.Output{
		"vpnPublicIp":      vpnIP,
		"vpnAdminUrl":      pulumi.Sprintf("https://%s:%d/admin", vpnIP, portVPNWeb.Number),
		"vpnClientUrl":     pulumi.Sprintf("https://%s:%d/", vpnIP, portVPNWeb.Number),
		"voilaUrl":         voilaURL(c, comp.VoilaIP.PublicIp),
		"voilaPublicIp":    comp.VoilaIP.PublicIp,
		"jupyterUrl":       pulumi.Sprintf("http://%s:%d", comp.Jupyter.PrivateIp, portJupyter.Number),
		"jupyterPrivateIp": comp.Jupyter.PrivateIp,
		"voilaPrivateIp":   comp.Voila.PrivateIp,
		"bucketName":       bucket,
		"notebooksUri":     pulumi.Sprintf("s3://%s/%s/", bucket, c.NotebookPrefix),
		"sshVpn":           pulumi.Sprintf("ssh %s@%s", ubuntuUser, vpnIP),
		"sshJupyter":       pulumi.Sprintf("ssh -J %s@%s %s@%s", ubuntuUser, vpnIP, al2023User, comp.Jupyter.PrivateIp),
		"sshVoila":         pulumi.Sprintf("ssh -J %s@%s %s@%s", ubuntuUser, vpnIP, al2023User, comp.Voila.PrivateIp),
		"vpcId":            infra.Network.VPC.ID(),
	}
	if infra.Cost.Complete() {
		out["estimatedMonthlyCostUsd"] = pulumi.Float64(infra.Cost.Total()).ToFloat64Output()
	}
	return out
}

// programUsage is what `go run .` says outside the Pulumi engine.
const programUsage = `research-lab: a Pulumi program; run it with the Pulumi CLI:
  pulumi up                     deploy or update the lab (see README.md)
or offline, with Go only:
  go run . plan [--stack NAME] [--hours-per-week N] [--diagram] [--dir DIR]
                                what a stack creates, who can reach what, what it costs
  go run . check [--stack NAME | --outputs FILE] [--via-vpn]
                                probe the deployed lab from here, rule by rule
`

// voilaURL is the public site over HTTPS: on voilaDomain, or the Elastic IP
// its certificate is issued for.
func voilaURL(c *labConfig, ip pulumi.StringOutput) pulumi.StringOutput {
	if c.VoilaDomain != "" {
		return pulumi.String("https://" + c.VoilaDomain + "/").ToStringOutput()
	}
	return pulumi.Sprintf("https://%s/", ip)
}

func main() {
	switch {
	case len(os.Args) > 1 && os.Args[1] == "plan":
		if err := runPlan(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "research-lab plan:", err)
			os.Exit(1)
		}
		return
	case len(os.Args) > 1 && os.Args[1] == "check":
		os.Exit(runCheck(os.Args[2:], os.Stdout, os.Stderr))
	case len(os.Args) > 1 || os.Getenv(pulumi.EnvMonitor) == "":
		// Not started by the engine (it sets the monitor's address), or asked
		// for something else: say how to use the program.
		fmt.Fprint(os.Stderr, programUsage)
		if len(os.Args) > 1 && (os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help") {
			return
		}
		os.Exit(2)
	}
	pulumi.Run(func(ctx *pulumi.Context) error {
		_, err := createInfrastructure(ctx)
		return err
	})
}
