package main

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// port is a named protocol and port number. Every port the lab uses is here.
type port struct {
	Name     string
	Protocol string // tcp or udp
	Number   int
}

var (
	portSSH        = port{"SSH", "tcp", 22}
	portHTTP       = port{"HTTP", "tcp", 80}
	portHTTPS      = port{"HTTPS", "tcp", 443}
	portOpenVPN    = port{"OpenVPN", "udp", 1194}
	portOpenVPNTCP = port{"OpenVPN over TCP", "tcp", 443}
	portVPNWeb     = port{"OpenVPN AS web UI", "tcp", 943}
	portWireGuard  = port{"WireGuard", "udp", 51820}
	portJupyter    = port{"Jupyter", "tcp", 8888}
	portVoila      = port{"Voila (loopback only)", "tcp", 8866}
	// portAll is every protocol and port, for the NAT instance's forwarding.
	portAll = port{"all traffic", "-1", 0}
)

// label is how rules and the plan name a port: "22/tcp", or "all".
func (p port) label() string {
	if p.Protocol == portAll.Protocol {
		return "all"
	}
	return fmt.Sprintf("%d/%s", p.Number, p.Protocol)
}

const anywhereIPv4 = "0.0.0.0/0"

// Tier names: the lab's subnets, each with its route table and security group.
const (
	tierDMZ        = "DMZ"
	tierProduction = "Production"
	tierResearch   = "Research"
	// groupNAT is the NAT instance's own security group (researchEgress
	// nat-instance); it sits in the DMZ subnet but admits only the Research one.
	groupNAT = "NAT"
)

// Sources of an ingress rule.
const (
	fromAnywhere = "anywhere"     // 0.0.0.0/0
	fromAdmins   = "adminCidrs"   // each CIDR of adminCidrs
	fromDMZGroup = "DMZ group"    // the DMZ security group, i.e. the VPN instance
	fromResearch = "researchCidr" // the Research subnet, i.e. Jupyter
)

// ingressRule opens one port of a tier's security group to one source.
type ingressRule struct {
	Tier   string
	Port   port
	Source string
	Only   vpnKind // "": with every VPN; else only with this one
}

// ingressRules is the whole inbound policy of the lab. The OpenVPN AS cluster
// port 945/tcp is deliberately absent: a single server does not use it.
var ingressRules = []ingressRule{
	{tierDMZ, portOpenVPN, fromAnywhere, vpnOpenVPNAS},
	{tierDMZ, portOpenVPNTCP, fromAnywhere, vpnOpenVPNAS},
	{tierDMZ, portVPNWeb, fromAnywhere, vpnOpenVPNAS},
	{tierDMZ, portWireGuard, fromAnywhere, vpnWireGuard},
	{tierDMZ, portSSH, fromAdmins, ""},
	{tierProduction, portHTTP, fromAnywhere, ""},
	{tierProduction, portHTTPS, fromAnywhere, ""},
	{tierProduction, portSSH, fromDMZGroup, ""},
	{tierResearch, portSSH, fromDMZGroup, ""},
	{tierResearch, portJupyter, fromDMZGroup, ""},
	{groupNAT, portAll, fromResearch, ""},
}

// tier is one subnet of the lab with its routing and its security group.
type tier struct {
	Name          string
	CIDR          netip.Prefix
	Subnet        *ec2.Subnet
	RouteTable    *ec2.RouteTable
	SecurityGroup *ec2.SecurityGroup
	// EgressRule lets the tier's servers out, S3 pushes included.
	EgressRule *vpc.SecurityGroupEgressRule
}

type network struct {
	VPC        *ec2.Vpc
	IGW        *ec2.InternetGateway
	S3Endpoint *ec2.VpcEndpoint
	DMZ        *tier
	Production *tier
	Research   *tier
	// NATGroup is the NAT instance's security group; nil unless
	// researchEgress is nat-instance.
	NATGroup *ec2.SecurityGroup
	// ResearchAssociation ties the Research subnet to its route table: the
	// path of Jupyter's notebook pushes to the S3 endpoint.
	ResearchAssociation *ec2.RouteTableAssociation
}

func (n *network) tiers() []*tier { return []*tier{n.DMZ, n.Production, n.Research} }

// group returns the security group of a tier, or the NAT instance's group;
// nil for the NAT group when the lab has no NAT instance.
func (n *network) group(name string) (*ec2.SecurityGroup, error) {
	if name == groupNAT {
		return n.NATGroup, nil
	}
	for _, t := range n.tiers() {
		if t.Name == name {
			return t.SecurityGroup, nil
		}
	}
	return nil, fmt.Errorf("no security group %q", name)
}

// createNetwork declares the VPC, its three subnets with their routes, the S3
// gateway endpoint and the security groups with their rules.
func createNetwork(ctx *pulumi.Context, c *labConfig, zone, region string) (*network, error) {
	n := &network{
		DMZ:        &tier{Name: tierDMZ, CIDR: c.DMZCidr},
		Production: &tier{Name: tierProduction, CIDR: c.ProductionCidr},
		Research:   &tier{Name: tierResearch, CIDR: c.ResearchCidr},
	}
	var err error
	name, alias := c.logical("VPC")
	n.VPC, err = ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.String(c.VPCCidr.String()),
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		Tags:               c.tags("VPC"),
	}, alias)
	if err != nil {
		return nil, fmt.Errorf("declaring the VPC: %w", err)
	}
	name, alias = c.logical("IGW")
	n.IGW, err = ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{
		VpcId: n.VPC.ID(),
		Tags:  c.tags("IGW"),
	}, alias)
	if err != nil {
		return nil, fmt.Errorf("declaring the internet gateway: %w", err)
	}
	for _, t := range n.tiers() {
		name, alias := c.logical(t.Name)
		opts := []pulumi.ResourceOption{alias}
		if c.AvailabilityZone == "" {
			// A zone chosen by the program stays the lab's: AWS replaces a
			// subnet whose zone changes, and with it every server, when a
			// zone's state or a new instance type would choose another one.
			// Setting availabilityZone moves the lab on purpose.
			opts = append(opts, pulumi.IgnoreChanges([]string{"availabilityZone"}))
		}
		t.Subnet, err = ec2.NewSubnet(ctx, name, &ec2.SubnetArgs{
			VpcId:               n.VPC.ID(),
			CidrBlock:           pulumi.String(t.CIDR.String()),
			AvailabilityZone:    pulumi.String(zone),
			MapPublicIpOnLaunch: pulumi.Bool(false), // each instance says whether it has a public address
			Tags:                c.tags(t.Name),
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("declaring the %s subnet: %w", t.Name, err)
		}
	}
	for _, t := range n.tiers() {
		args := &ec2.RouteTableArgs{VpcId: n.VPC.ID(), Tags: c.tags(t.Name + "-RT")}
		if t.Name != tierResearch {
			// The public tiers list their one route inline. The Research
			// table lists none: its default route is a resource of its own
			// (egress.go), which an inline list would fight over.
			args.Routes = ec2.RouteTableRouteArray{
				ec2.RouteTableRouteArgs{CidrBlock: pulumi.String(anywhereIPv4), GatewayId: n.IGW.ID()},
			}
		}
		name, alias := c.logical(t.Name + "-RT")
		t.RouteTable, err = ec2.NewRouteTable(ctx, name, args, alias)
		if err != nil {
			return nil, fmt.Errorf("declaring the %s route table: %w", t.Name, err)
		}
		name, alias = c.logical(t.Name + "-RTA")
		rta, err := ec2.NewRouteTableAssociation(ctx, name, &ec2.RouteTableAssociationArgs{
			SubnetId:     t.Subnet.ID(),
			RouteTableId: t.RouteTable.ID(),
		}, alias)
		if err != nil {
			return nil, fmt.Errorf("associating the %s route table: %w", t.Name, err)
		}
		if t.Name == tierResearch {
			n.ResearchAssociation = rta
		}
	}
	name, alias = c.logical("S3-Endpoint")
	n.S3Endpoint, err = ec2.NewVpcEndpoint(ctx, name, &ec2.VpcEndpointArgs{
		VpcId:           n.VPC.ID(),
		ServiceName:     pulumi.Sprintf("com.amazonaws.%s.s3", region),
		VpcEndpointType: pulumi.String("Gateway"),
		RouteTableIds:   pulumi.StringArray{n.DMZ.RouteTable.ID(), n.Production.RouteTable.ID(), n.Research.RouteTable.ID()},
		Tags:            c.tags("S3-Endpoint"),
	}, alias)
	if err != nil {
		return nil, fmt.Errorf("declaring the S3 gateway endpoint: %w", err)
	}
	if err := createSecurityGroups(ctx, c, n); err != nil {
		return nil, err
	}
	return n, nil
}

// createSecurityGroups declares one group per tier and its rules as standalone
// rule resources (never inline), following ingressRules.
func createSecurityGroups(ctx *pulumi.Context, c *labConfig, n *network) error {
	descriptions := map[string]string{
		tierDMZ:        vpnKinds[c.VPN].GroupDescription,
		tierProduction: "Voila behind Nginx: web from anywhere, SSH from the DMZ group",
		tierResearch:   "Jupyter: SSH and Jupyter from the DMZ group only",
		groupNAT:       "NAT instance: forwards traffic from the Research subnet only",
	}
	// Where each group and its egress rule go: the tiers', and the NAT
	// instance's group, whose egress rule nothing depends on.
	type slot struct {
		name   string
		group  **ec2.SecurityGroup
		egress **vpc.SecurityGroupEgressRule
	}
	var slots []slot
	for _, t := range n.tiers() {
		slots = append(slots, slot{t.Name, &t.SecurityGroup, &t.EgressRule})
	}
	if c.ResearchEgress == egressNATInstance {
		slots = append(slots, slot{groupNAT, &n.NATGroup, new(*vpc.SecurityGroupEgressRule)})
	}
	for _, s := range slots {
		g := s.name
		name, alias := c.logical(g + "-SG")
		sg, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
			VpcId:       n.VPC.ID(),
			Description: pulumi.String(descriptions[g]),
			Tags:        c.tags(g + "-SG"),
		}, alias)
		if err != nil {
			return fmt.Errorf("declaring the %s security group: %w", g, err)
		}
		*s.group = sg
		name, alias = c.logical(g + "-SG-egress-all")
		*s.egress, err = vpc.NewSecurityGroupEgressRule(ctx, name, &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: sg.ID(),
			IpProtocol:      pulumi.String("-1"),
			CidrIpv4:        pulumi.String(anywhereIPv4),
			Description:     pulumi.String("all outbound traffic"),
			Tags:            c.tags(g + "-SG-egress-all"),
		}, alias)
		if err != nil {
			return fmt.Errorf("declaring the %s egress rule: %w", g, err)
		}
	}
	for _, r := range ingressRules {
		if r.Only != "" && r.Only != c.VPN {
			continue
		}
		sg, err := n.group(r.Tier)
		if err != nil {
			return err
		}
		if sg == nil {
			continue // the NAT group's rules, in a lab without a NAT instance
		}
		args := vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: sg.ID(),
			IpProtocol:      pulumi.String(r.Port.Protocol),
		}
		base := fmt.Sprintf("%s-SG-in-%s-%d", r.Tier, r.Port.Protocol, r.Port.Number)
		if r.Port == portAll {
			base = r.Tier + "-SG-in-all" // AWS takes no port range with all protocols
		} else {
			args.FromPort, args.ToPort = pulumi.Int(r.Port.Number), pulumi.Int(r.Port.Number)
		}
		var sources []vpc.SecurityGroupIngressRuleArgs
		switch r.Source {
		case fromAnywhere:
			args.CidrIpv4 = pulumi.String(anywhereIPv4)
			sources = append(sources, args)
		case fromAdmins:
			for _, cidr := range c.AdminCidrs {
				a := args
				a.CidrIpv4 = pulumi.String(cidr.String())
				sources = append(sources, a)
			}
		case fromDMZGroup:
			args.ReferencedSecurityGroupId = n.DMZ.SecurityGroup.ID()
			sources = append(sources, args)
		case fromResearch:
			args.CidrIpv4 = pulumi.String(c.ResearchCidr.String())
			sources = append(sources, args)
		default:
			return fmt.Errorf("ingress rule %s %s: unknown source %q", r.Tier, r.Port.Name, r.Source)
		}
		for i, a := range sources {
			name := base
			if len(sources) > 1 {
				name = fmt.Sprintf("%s-%d", base, i+1)
			}
			a.Description = pulumi.Sprintf("%s from %s", r.Port.Name, r.Source)
			a.Tags = c.tags(name)
			logical, alias := c.logical(name)
			if _, err := vpc.NewSecurityGroupIngressRule(ctx, logical, &a, alias); err != nil {
				return fmt.Errorf("declaring ingress rule %s: %w", name, err)
			}
		}
	}
	return nil
}
