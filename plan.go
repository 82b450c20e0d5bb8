package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// runPlan is `go run . plan [--stack NAME] [--diagram]`: the stack declared
// under the recording mock, without the Pulumi CLI, credentials or network.
func runPlan(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(w)
	stack := fs.String("stack", "dev", "the stack `NAME` (or org/project/NAME) whose Pulumi.NAME.yaml to read")
	diagram := fs.Bool("diagram", false, "print only the Mermaid architecture diagram")
	dir := fs.String("dir", ".", "the project's `FOLDER`, where Pulumi.yaml is")
	weekly := fs.Float64("hours-per-week", 40, "`HOURS` a week the VPN, Jupyter and the NAT instance run, for the usage estimate (0 to 168)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage asked for was printed
		}
		return errUsage // the flag package said what is wrong
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: to plan that stack, `go run . plan --stack %s` (see `go run . plan --help`)", fs.Arg(0), fs.Arg(0))
	}
	if !(*weekly >= 0 && *weekly <= hoursInWeek) {
		return fmt.Errorf("--hours-per-week %g: must be between 0 and %d", *weekly, hoursInWeek)
	}
	name, err := stackName(*stack)
	if err != nil {
		return err
	}
	config, secrets, notes, err := readStackConfig(*dir, name)
	if err != nil {
		return err
	}
	if len(secrets) > 0 {
		notes = append(notes, "the plan does not decrypt secrets, so only `pulumi up` checks their values: the passwords' lengths and the WireGuard key")
	}
	notes = append(notes, "offline, every zone is taken to offer every instance type; `pulumi up` looks the offerings up and picks the first zone that offers them all")
	run, err := runOffline(name, config, secrets)
	var bad *configError
	if errors.As(err, &bad) {
		return bad // the configuration's own errors, without the engine's wrapping
	}
	if err != nil {
		return err
	}
	warnings := run.Infra.Config.Warnings
	if run.Infra.Config.ResearchEgress == egressNone {
		warnings = append(warnings, "researchEgress is none: Jupyter cannot install its Python packages, so it will not start (see the README)")
	}
	p := newPlanView(run)
	if *diagram {
		_, err := io.WriteString(w, p.diagram())
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, n := range warnings {
		fmt.Fprintln(w, "warning:", n)
	}
	p.printResources(w)
	p.printTeam(w)
	printSite(w, voilaLiveBound(run.Infra.Config))
	p.printMatrix(w)
	b, region := billOfMaterials(run.Infra.Config), run.Infra.Region
	printCost(w, "always on", run.Infra.Cost, fmt.Sprintf("Estimated monthly cost: %%s (%s, on-demand, %.0f h/month)", region, prices.HoursPerMonth))
	printCost(w, "stopped (labState: stopped)", estimateCost(b, region, allStopped), "Estimated monthly cost stopped: %s")
	printCost(w, fmt.Sprintf("%s %g h a week, Voila always on", b.partTime(), *weekly),
		estimateCost(b, region, hoursPerWeek(*weekly)), fmt.Sprintf("Estimated monthly cost at %g h/week: %%s", *weekly))
	return nil
}

// runOffline is runUnderMocks for the offline commands: the same program,
// without building the certificate client that only `pulumi up` uploads.
func runOffline(stack string, config map[string]string, secrets []string) (*mockRun, error) {
	acmeClient = offlineACME
	defer func() { acmeClient = buildACME }()
	return runUnderMocks(stack, config, secrets)
}

// errUsage is a command-line error that the flag package has already
// printed, with the usage.
var errUsage = errors.New("bad usage")

// printTeam shows who the lab serves: one researcher, or each member with
// their VPN address and their folder.
func (p *planView) printTeam(w io.Writer) {
	c := p.run.Infra.Config
	spec := vpnKinds[c.VPN]
	if !c.team() {
		fmt.Fprintf(w, "\nOne researcher (no members): %s, Jupyter with one password\n", spec.Name)
		return
	}
	limit := "no limit of connections"
	if c.VPN == vpnOpenVPNAS {
		limit = fmt.Sprintf("%d connections at once without a licence", openVPNFreeConnections)
	}
	bucket := propString(p.run.Mocks.ofName("notebooks").State, "bucket")
	fmt.Fprintf(w, "\nTeam of %d on %s (%s); JupyterHub, a login, Unix user and folder each, and s3://%s/%s/%s/ shared\n",
		len(c.Members), spec.Name, limit, bucket, c.NotebookPrefix, sharedFolder)
	for _, m := range c.sortedMembers() {
		vpn := "VPN user " + m.Name
		if c.VPN == vpnWireGuard {
			vpn = "VPN address " + m.Address.String()
		}
		fmt.Fprintf(w, "  %-32s %-28s s3://%s/%s/%s/\n", m.Name, vpn, bucket, c.NotebookPrefix, m.Name)
	}
	fmt.Fprintln(w, "  Members must trust each other: their servers share one web origin, and a shared notebook runs as whoever opens it (docs/security.md)")
	fmt.Fprint(w, "\n"+c.Hub.describe())
}

// printSite shows what the public site holds: every reader a static page,
// and as many live views as its memory allows.
func printSite(w io.Writer, l voilaLimits) {
	mem := fmt.Sprintf("%d MiB", l.InstanceMiB)
	if !l.KnownType {
		mem = fmt.Sprintf("memory unknown to the lab, taken as %d MiB", l.InstanceMiB)
	}
	fmt.Fprintf(w, "\nPublic site on a %s (%s): every reader gets a notebook's static page from Nginx; %d live (Voila) views at once, %d MiB each\n",
		l.InstanceType, mem, l.MaxKernels, l.KernelMiB)
}

// planView prints the recorded stack: its resources, who can reach what,
// the diagram.
type planView struct {
	run       *mockRun
	instances []recordedResource
	reach     *reachability
}

func newPlanView(run *mockRun) *planView {
	return &planView{run: run, instances: run.Mocks.ofType(typeInstance), reach: computeReachability(run)}
}

func prop(m resource.PropertyMap, key string) resource.PropertyValue {
	v := m[resource.PropertyKey(key)]
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func propString(m resource.PropertyMap, key string) string {
	v := prop(m, key)
	if v.IsString() {
		return v.StringValue()
	}
	if v.IsNumber() {
		return fmt.Sprint(v.NumberValue())
	}
	if v.IsBool() {
		return fmt.Sprint(v.BoolValue())
	}
	return ""
}

// propBool reads a boolean property; absent or not a bool reads as false.
func propBool(m resource.PropertyMap, key string) bool {
	v := prop(m, key)
	return v.IsBool() && v.BoolValue()
}

// propArray reads a list property; absent or not a list reads as empty.
func propArray(m resource.PropertyMap, key string) []resource.PropertyValue {
	if v := prop(m, key); v.IsArray() {
		return v.ArrayValue()
	}
	return nil
}

func propStrings(m resource.PropertyMap, key string) []string {
	v := prop(m, key)
	if !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		if e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

// name is how the plan names the resource with this ID (label); a network
// interface is named after its instance.
func (p *planView) name(id string) string {
	if r, ok := p.run.Mocks.byID(id); ok {
		return p.label(r)
	}
	for _, in := range p.instances {
		if id != "" && propString(in.State, "primaryNetworkInterfaceId") == id {
			return p.label(in)
		}
	}
	return id
}

// routeTarget is where a route (inline or a resource of its own) sends traffic.
func routeTarget(route resource.PropertyMap) string {
	for _, k := range []string{"gatewayId", "natGatewayId", "networkInterfaceId"} {
		if v := propString(route, k); v != "" {
			return v
		}
	}
	return ""
}

// describe lists the properties a reader checks for one resource.
func (p *planView) describe(r recordedResource) string {
	in := r.Inputs
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+"="+v)
		}
	}
	switch r.Type {
	case typeVPC, typeSubnet:
		add("cidr", propString(in, "cidrBlock"))
		add("zone", propString(in, "availabilityZone"))
	case typeRouteTable:
		routes := []string{"local"}
		for _, rt := range propArray(in, "routes") {
			o := rt.ObjectValue()
			routes = append(routes, propString(o, "cidrBlock")+"->"+p.name(routeTarget(o)))
		}
		add("routes", strings.Join(routes, ","))
	case typeRTA:
		add("subnet", p.name(propString(in, "subnetId")))
		add("table", p.name(propString(in, "routeTableId")))
	case typeNAT:
		add("subnet", p.name(propString(in, "subnetId")))
	case typeRoute:
		add("table", p.name(propString(in, "routeTableId")))
		add("route", propString(in, "destinationCidrBlock")+"->"+p.name(routeTarget(in)))
	case typeState:
		add("instance", p.name(propString(in, "instanceId")))
		add("state", propString(in, "state"))
	case typeBudget:
		add("limit", propString(in, "limitAmount")+" "+propString(in, "limitUnit"))
	case typeParameter:
		add("type", propString(in, "type"))
	case typeEndpoint:
		add("service", propString(in, "serviceName"))
		add("type", propString(in, "vpcEndpointType"))
	case typeIngress, typeEgress:
		add("group", p.name(propString(in, "securityGroupId")))
		add("port", ruleDescription(r, p.name))
	case typeInstance:
		add("type", propString(in, "instanceType"))
		add("ami", propString(in, "ami"))
		add("subnet", p.name(propString(in, "subnetId")))
		add("publicIp", propString(in, "associatePublicIpAddress"))
		if !propBool(in, "sourceDestCheck") {
			add("forwards", "true")
		}
		add("rootGiB", propString(prop(in, "rootBlockDevice").ObjectValue(), "volumeSize"))
		add("profile", propString(in, "iamInstanceProfile"))
	case typeEIPAssoc:
		add("instance", p.name(propString(in, "instanceId")))
	case typeBucket:
		add("bucket", propString(r.State, "bucket"))
		add("forceDestroy", propString(in, "forceDestroy"))
	case typeObject:
		add("key", propString(in, "key"))
	}
	return strings.Join(parts, " ")
}

func ruleDescription(r recordedResource, name func(string) string) string {
	in := r.Inputs
	port := rulePort(in)
	src := propString(in, "cidrIpv4")
	if ref := propString(in, "referencedSecurityGroupId"); ref != "" {
		src = name(ref)
	}
	dir := "from"
	if r.Type == typeEgress {
		dir = "to"
	}
	return port + " " + dir + " " + src
}

// rulePort labels a recorded rule's port with port.label: "22/tcp", or "all".
func rulePort(rule resource.PropertyMap) string {
	number, _ := strconv.Atoi(propString(rule, "fromPort"))
	return port{Protocol: propString(rule, "ipProtocol"), Number: number}.label()
}

// tierOf groups a resource by the tier its name belongs to.
func tierOf(c *labConfig, r recordedResource) string {
	name := strings.TrimPrefix(r.Name, logicalName(""))
	switch {
	case strings.HasPrefix(r.Type, "aws:iam/"):
		return "IAM"
	case strings.HasPrefix(r.Type, "aws:s3/"):
		return "Storage"
	case strings.HasPrefix(r.Type, "aws:ssm/"):
		return tierDMZ // the VPN's admin password
	case strings.HasPrefix(r.Type, "aws:budgets/"):
		return "Account"
	case strings.HasPrefix(name, tierDMZ), strings.HasPrefix(name, "VPN"), strings.HasPrefix(name, "NAT"):
		return tierDMZ
	case strings.HasPrefix(name, tierProduction), strings.HasPrefix(name, "Voila"):
		return tierProduction
	case strings.HasPrefix(name, tierResearch), strings.HasPrefix(name, "Jupyter"):
		return tierResearch
	}
	return "Network"
}

func (p *planView) printResources(w io.Writer) {
	c := p.run.Infra.Config
	groups := map[string][]recordedResource{}
	all := p.run.Mocks.all()
	for _, r := range all {
		groups[tierOf(c, r)] = append(groups[tierOf(c, r)], r)
	}
	fmt.Fprintf(w, "Stack %s: %d resources in %s, zone %s (%s)\n", c.Stack, len(all), p.run.Infra.Region, p.run.Infra.Zone, p.run.Infra.ZoneReason)
	for _, g := range []string{"Network", tierDMZ, tierProduction, tierResearch, "Storage", "IAM", "Account"} {
		if len(groups[g]) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", g)
		for _, r := range groups[g] {
			typ := r.Type[strings.LastIndex(r.Type, ":")+1:]
			fmt.Fprintf(w, "  %-34s %-36s %s\n", typ, p.label(r), p.describe(r))
		}
	}
}

// host is an instance as the reachability analysis sees it.
func (p *planView) printMatrix(w io.Writer) {
	r := p.reach
	fmt.Fprintf(w, "\nWho can reach what (computed from the security groups, routes and public addresses)\n")
	// Each column as wide as its widest cell, so a long cell (adminCidrs)
	// never runs into the next host's column.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "  from \\ to")
	for _, h := range r.Hosts {
		fmt.Fprint(tw, "\t", h.Label)
	}
	fmt.Fprintln(tw)
	for _, s := range r.Sources {
		fmt.Fprint(tw, "  ", s.Label)
		for _, h := range r.Hosts {
			cell := "-"
			if s.Label == sourceVPNClients && h.Role == "VPN" {
				cell = "(the VPN server itself)"
			} else if ports := r.Open(s.Label, h.Role); len(ports) > 0 {
				cell = strings.Join(ports, " ")
			}
			fmt.Fprint(tw, "\t", cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// printCost prints one estimate line by line, then its total in the format
// given, whose %s is the dollar amount.
func printCost(w io.Writer, title string, e *costEstimate, total string) {
	fmt.Fprintf(w, "\nMonthly cost, %s (prices.json, %s)\n", title, prices.Date)
	for _, l := range e.Lines {
		if l.Missing != "" {
			fmt.Fprintf(w, "  %-44s %-12s %s\n", l.Item, l.Quantity, "unknown: "+l.Missing)
			continue
		}
		fmt.Fprintf(w, "  %-44s %-12s $%8.2f\n", l.Item, l.Quantity, l.Monthly)
	}
	amount := fmt.Sprintf("$%.2f", e.Total())
	if !e.Complete() {
		amount = "unknown (" + e.Missing() + ")"
	}
	fmt.Fprintf(w, total+"\n", amount)
}

// label is how the plan names a resource: as its Name tag does, with the
// stack's namePrefix (the logical name keeps the default prefix).
func (p *planView) label(r recordedResource) string {
	if suffix, ok := strings.CutPrefix(r.Name, logicalName("")); ok {
		return p.run.Infra.Config.name(suffix)
	}
	return r.Name
}

// diagram is the Mermaid architecture diagram of the recorded stack: subnets,
// instances, gateways, and the edges the reachability analysis finds.
func (p *planView) diagram() string {
	c := p.run.Infra.Config
	var b strings.Builder
	id := func(name string) string {
		return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, logicalName("")), "-", ""))
	}
	b.WriteString("```mermaid\nflowchart LR\n")
	b.WriteString("  internet((Internet))\n  clients([VPN clients])\n")
	vpc := p.run.Mocks.ofType(typeVPC)[0]
	fmt.Fprintf(&b, "  subgraph vpc[\"%s %s\"]\n", p.label(vpc), propString(vpc.Inputs, "cidrBlock"))
	for _, sub := range p.run.Mocks.ofType(typeSubnet) {
		fmt.Fprintf(&b, "    subgraph %s[\"%s %s\"]\n", id(sub.Name), p.label(sub), propString(sub.Inputs, "cidrBlock"))
		for _, in := range p.instances {
			if propString(in.Inputs, "subnetId") == sub.ID {
				fmt.Fprintf(&b, "      %s[\"%s<br/>%s\"]\n", id(in.Name), p.label(in), propString(in.Inputs, "instanceType"))
			}
		}
		for _, nat := range p.run.Mocks.ofType(typeNAT) {
			if propString(nat.Inputs, "subnetId") == sub.ID {
				fmt.Fprintf(&b, "      %s{{\"%s\"}}\n", id(nat.Name), p.label(nat))
			}
		}
		b.WriteString("    end\n")
	}
	for _, ep := range p.run.Mocks.ofType(typeEndpoint) {
		fmt.Fprintf(&b, "    %s{{\"S3 gateway endpoint\"}}\n", id(ep.Name))
	}
	b.WriteString("  end\n")
	fmt.Fprintf(&b, "  bucket[(\"notebook bucket<br/>%s/\")]\n", c.NotebookPrefix)

	for _, s := range p.reach.Sources {
		from := map[string]string{sourceInternet: "internet", sourceVPNClients: "clients"}[s.Label]
		if from == "" {
			continue
		}
		for _, h := range p.reach.Hosts {
			if s.Label == sourceVPNClients && h.Role == "VPN" {
				continue
			}
			if ports := p.reach.Open(s.Label, h.Role); len(ports) > 0 {
				fmt.Fprintf(&b, "  %s -- \"%s\" --> %s\n", from, strings.Join(ports, " "), id(logicalName(h.Role)))
			}
		}
	}
	fmt.Fprintf(&b, "  clients -. \"tunnel\" .- %s\n", id(logicalName("VPN")))
	for _, nat := range p.run.Mocks.ofType(typeNAT) {
		fmt.Fprintf(&b, "  %s -. \"egress\" .-> %s\n", id(logicalName("Jupyter")), id(nat.Name))
	}
	if p.run.Infra.Egress.NATInstance != nil {
		fmt.Fprintf(&b, "  %s -. \"egress\" .-> %s\n", id(logicalName("Jupyter")), id(logicalName("NAT")))
	}
	fmt.Fprintf(&b, "  %s -- \"push every %s, restore\" --> bucket\n", id(logicalName("Jupyter")), c.SyncInterval)
	fmt.Fprintf(&b, "  bucket -- \"pull every %s\" --> %s\n", c.SyncInterval, id(logicalName("VoilaServer")))
	b.WriteString("```\n")
	return b.String()
}
