// research-lab declares, with one `pulumi up`, a private Jupyter server (or a
// team's JupyterHub) behind a VPN (OpenVPN Access Server or WireGuard), a
// public Voila site behind Nginx, and the versioned S3 bucket that carries the
// notebooks from one to the other.
package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/budgets"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type infrastructure struct {
	Config *labConfig
	Region string
	Zone   string
	// ZoneReason says why the lab is in Zone, for the plan.
	ZoneReason string
	Network    *network
	Storage    *storage
	Egress     *egress
	Compute    *compute
	Budget     *budgets.Budget // nil unless monthlyBudgetUsd is set
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
	for _, w := range c.Warnings {
		if err := ctx.Log.Warn(w, nil); err != nil {
			return nil, err
		}
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
	if c.AvailabilityZone != "" {
		if err := checkZoneInRegion(c.AvailabilityZone, c.Region); err != nil {
			return nil, zoneError(c, "availabilityZone", c.AvailabilityZone, err)
		}
	}
	zone, why, err := chooseZone(ctx, c)
	if err != nil {
		return nil, err
	}

	infra := &infrastructure{Config: c, Region: c.Region, Zone: zone, ZoneReason: why}
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

// stackOutputs are the outputs of the README's table; none of them holds a
// password or a private key.
func stackOutputs(infra *infrastructure) map[string]pulumi.Output {
	c, comp := infra.Config, infra.Compute
	vpnIP := comp.VPNIP.PublicIp
	bucket := infra.Storage.Bucket.Bucket
	out := map[string]pulumi.Output{
		"vpnPublicIp":      vpnIP,
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
	// Every public address of the lab, for `check`: the NAT's (its own
	// address changes at each start; this is the last `pulumi up`'s), and
	// Jupyter's in internet-gateway mode.
	switch e := infra.Egress; {
	case e.NATInstance != nil:
		out["natPublicIp"] = e.NATInstance.PublicIp
	case e.NATGateway != nil:
		out["natPublicIp"] = e.NATGateway.PublicIp
	}
	if c.ResearchEgress == egressIGW {
		out["jupyterPublicIp"] = comp.Jupyter.PublicIp
	}
	switch c.VPN {
	case vpnOpenVPNAS:
		out["vpnAdminUrl"] = pulumi.Sprintf("https://%s:%d/admin", vpnIP, portVPNWeb.Number)
		out["vpnClientUrl"] = pulumi.Sprintf("https://%s:%d/", vpnIP, portVPNWeb.Number)
	case vpnWireGuard:
		// What `go run . vpn profile` writes a member's profile from.
		out["vpnServerPublicKey"] = pulumi.String(c.WireGuardPublicKey).ToStringOutput()
		out["vpnEndpoint"] = pulumi.Sprintf("%s:%d", vpnIP, portWireGuard.Number)
		// The members' public keys (public, as their name says) let the
		// profile command check that a member's private key is theirs.
		addresses, keys := pulumi.StringMap{}, pulumi.StringMap{}
		for _, m := range c.Members {
			addresses[m.Name] = pulumi.String(m.Address.String())
			keys[m.Name] = pulumi.String(m.WireGuardPublicKey)
		}
		out["vpnClientAddresses"] = addresses.ToStringMapOutput()
		out["vpnClientPublicKeys"] = keys.ToStringMapOutput()
		out["vpnRoutes"] = pulumi.ToStringArray(c.vpnRoutes()).ToStringArrayOutput()
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
  go run . plan [--stack NAME] [--hours-per-week HOURS] [--diagram] [--dir FOLDER]
                                what a stack creates, who can reach what, what it costs
  go run . check [--stack NAME] [--outputs FILE] [--via-vpn] [--timeout DURATION]
                                probe the deployed lab from here, rule by rule
  go run . vpn keygen [--private-key FILE]
                                a WireGuard key pair (vpn: wireguard): the server's, or a member's
  go run . vpn profile --member NAME --private-key FILE [--stack NAME | --outputs FILE] [--out FILE] [--qr] [--png FILE]
                                a member's WireGuard profile: a file, or a QR code for a phone
                                (members: go run ./cmd/lab-vpn keygen|profile, which builds in seconds)
  go run . class plan|up|stop|start|status|check|handouts|destroy --roster FILE [--template FILE] [--parallel N]
                                a lab for every student of a class (see docs/class.md)
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
	if len(os.Args) == 1 && os.Getenv(pulumi.EnvMonitor) != "" {
		// Started by the Pulumi engine, which sets the monitor's address
		// and passes the whole configuration to the language host.
		var keys []string
		pulumi.Run(func(ctx *pulumi.Context) error {
			_, err := createInfrastructure(withStackKeys(ctx, keys))
			return err
		}, func(info *pulumi.RunInfo) { keys = slices.Collect(maps.Keys(info.Config)) })
		return
	}
	os.Exit(runCommand(os.Args[1:], os.Stdout, os.Stderr))
}

// runCommand runs what `go run .` was asked for outside the Pulumi engine and
// returns the exit status.
func runCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, programUsage)
		return 2
	}
	switch cmd := args[0]; cmd {
	case "plan":
		err := runPlan(args[1:], stdout)
		switch {
		case errors.Is(err, errUsage):
			return 2
		case err != nil:
			fmt.Fprintln(stderr, "research-lab plan:", err)
			return 1
		}
		return 0
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "vpn":
		return runVPN(args[1:], stdout, stderr)
	case "class":
		return runClass(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, programUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "research-lab: unknown command %q\n\n%s", cmd, programUsage)
		return 2
	}
}
