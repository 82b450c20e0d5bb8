package main

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// reachability is who can reach what in a recorded stack, computed once from
// the security groups, routes and public addresses it declares. The plan
// prints it (matrix, diagram); check probes the internet's row of it.
type reachability struct {
	Hosts   []host
	Sources []source
	open    map[string][]string // "<source label>/<host role>" -> ports
}

// Sources of traffic in the model.
const (
	sourceInternet   = "Internet"
	sourceVPNClients = "VPN clients"
)

// host is an instance as the reachability analysis sees it.
type host struct {
	Role     string // the suffix of its names: VPN, VoilaServer, Jupyter, NAT
	Label    string // its Name tag
	Addr     netip.Addr
	PublicIP bool
	Groups   []string // security group IDs
	Subnet   string   // subnet ID
}

// source is where traffic comes from: an address (or the internet) and the
// security groups of the sending instance.
type source struct {
	Label    string
	Addr     netip.Addr // the invalid Addr means any internet address
	Groups   []string
	Internet bool
}

// Open lists the ports of the host with this role that the source reaches:
// "22/tcp", or "22/tcp (203.0.113.7/32)" when only some internet addresses
// may connect.
func (r *reachability) Open(sourceLabel, role string) []string {
	return r.open[sourceLabel+"/"+role]
}

func computeReachability(run *mockRun) *reachability {
	m := run.Mocks
	r := &reachability{open: map[string][]string{}}
	public := map[string]bool{}
	for _, a := range m.ofType(typeEIPAssoc) {
		public[propString(a.Inputs, "instanceId")] = true
	}
	for _, in := range m.ofType(typeInstance) {
		addr, _ := netip.ParseAddr(propString(in.State, "privateIp"))
		r.Hosts = append(r.Hosts, host{
			Role:     strings.TrimPrefix(in.Name, logicalName("")),
			Label:    run.Infra.Config.name(strings.TrimPrefix(in.Name, logicalName(""))),
			Addr:     addr,
			PublicIP: public[in.ID] || propBool(in.Inputs, "associatePublicIpAddress"),
			Groups:   propStrings(in.Inputs, "vpcSecurityGroupIds"),
			Subnet:   propString(in.Inputs, "subnetId"),
		})
	}
	// The Internet; VPN clients, with the VPN instance's address and groups
	// (both VPNs masquerade their clients); and a server of each subnet, in
	// that tier's group (the DMZ's NAT instance has a group of its own and
	// is no server).
	r.Sources = []source{{Label: sourceInternet, Internet: true}}
	for _, h := range r.Hosts {
		if h.Role == "VPN" {
			r.Sources = append(r.Sources, source{Label: sourceVPNClients, Addr: h.Addr, Groups: h.Groups})
		}
	}
	for _, t := range run.Infra.Network.tiers() {
		group := m.ofName(logicalName(t.Name + "-SG"))
		for _, h := range r.Hosts {
			if slices.Contains(h.Groups, group.ID) {
				r.Sources = append(r.Sources, source{Label: t.Name + " subnet", Addr: h.Addr, Groups: h.Groups})
				break
			}
		}
	}
	for _, s := range r.Sources {
		for _, h := range r.Hosts {
			r.open[s.Label+"/"+h.Role] = openPorts(m, s, h)
		}
	}
	return r
}

// internetRoute says whether a subnet's route table sends 0.0.0.0/0 to an
// internet gateway, which inbound traffic from the internet needs. Routes are
// read inline and as resources of their own.
func internetRoute(m *recordingMocks, subnet string) bool {
	for _, a := range m.ofType(typeRTA) {
		if propString(a.Inputs, "subnetId") != subnet {
			continue
		}
		table := propString(a.Inputs, "routeTableId")
		rt, _ := m.byID(table)
		var targets []string // of the default routes
		for _, route := range propArray(rt.Inputs, "routes") {
			if o := route.ObjectValue(); propString(o, "cidrBlock") == anywhereIPv4 {
				targets = append(targets, propString(o, "gatewayId"))
			}
		}
		for _, r := range m.ofType(typeRoute) {
			if propString(r.Inputs, "routeTableId") == table && propString(r.Inputs, "destinationCidrBlock") == anywhereIPv4 {
				targets = append(targets, propString(r.Inputs, "gatewayId"))
			}
		}
		for _, gwID := range targets {
			if gw, ok := m.byID(gwID); ok && gw.Type == typeIGW {
				return true
			}
		}
	}
	return false
}

// openPorts lists the ports of dst that src reaches, from the declared
// security group rules and routes.
func openPorts(m *recordingMocks, src source, dst host) []string {
	if src.Internet && (!dst.PublicIP || !internetRoute(m, dst.Subnet)) {
		return nil
	}
	if !src.Internet && !egressAllows(m, src, dst) {
		return nil
	}
	var ports []string
	seen := map[string]bool{}
	for _, r := range m.ofType(typeIngress) {
		if !slices.Contains(dst.Groups, propString(r.Inputs, "securityGroupId")) {
			continue
		}
		port := rulePort(r.Inputs)
		cidr := propString(r.Inputs, "cidrIpv4")
		ref := propString(r.Inputs, "referencedSecurityGroupId")
		var label string
		switch {
		case ref != "":
			if !slices.Contains(src.Groups, ref) {
				continue
			}
			label = port
		case src.Internet:
			if pfx, err := netip.ParsePrefix(cidr); err == nil && pfx.Addr().IsPrivate() {
				continue // private addresses do not come from the internet
			}
			if cidr == anywhereIPv4 {
				label = port
			} else {
				label = port + " (" + cidr + ")"
			}
		default:
			pfx, err := netip.ParsePrefix(cidr)
			if err != nil || !pfx.Contains(src.Addr) {
				continue
			}
			label = port
		}
		if !seen[label] {
			seen[label] = true
			ports = append(ports, label)
		}
	}
	sort.Slice(ports, func(i, j int) bool { return portOrder(ports[i]) < portOrder(ports[j]) })
	return ports
}

// portOrder sorts "22/tcp" before "443/tcp": by number, then by the text.
func portOrder(s string) string {
	number, _, _ := strings.Cut(s, "/")
	return fmt.Sprintf("%6s%s", number, s)
}

func egressAllows(m *recordingMocks, src source, dst host) bool {
	for _, r := range m.ofType(typeEgress) {
		if !slices.Contains(src.Groups, propString(r.Inputs, "securityGroupId")) {
			continue
		}
		pfx, err := netip.ParsePrefix(propString(r.Inputs, "cidrIpv4"))
		if propString(r.Inputs, "ipProtocol") == "-1" && err == nil && pfx.Contains(dst.Addr) {
			return true
		}
	}
	return false
}
