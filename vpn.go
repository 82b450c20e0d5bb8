package main

import "net/netip"

// vpnKind is the VPN server of the lab (the vpn key).
type vpnKind string

const (
	vpnOpenVPNAS vpnKind = "openvpn-as"
	vpnWireGuard vpnKind = "wireguard"
)

// vpnSpec is what differs between the VPN kinds. The DMZ group's inbound
// rules of each kind are in ingressRules (their Only field).
type vpnSpec struct {
	Name string // for people: "OpenVPN Access Server"
	// DefaultType is the cheapest instance type that runs it well.
	DefaultType string
	// MinMemoryMiB is the least memory it runs in.
	MinMemoryMiB int
	// Template is the VPN server's cloud-config in userdata/.
	Template string
	// Service is the systemd unit of the VPN itself.
	Service string
	// Units are the systemd units its userdata writes: the sync that
	// applies its secret and team from SSM, and what else it needs.
	Units []string
	// Output is a stack output that only this kind exports, which tells
	// its labs' outputs from the other kind's (check).
	Output string
	// GroupDescription describes the DMZ group. AWS replaces a group whose
	// description changes (internal/awsmodel), so openvpn-as keeps the one
	// it always had.
	GroupDescription string
}

var vpnKinds = map[vpnKind]vpnSpec{
	vpnOpenVPNAS: {
		Name: "OpenVPN Access Server", DefaultType: "t4g.micro", MinMemoryMiB: 1024, Template: "vpn.yaml",
		Service: "openvpnas.service", Units: vpnSyncUnits, Output: "vpnClientUrl",
		GroupDescription: "OpenVPN Access Server: VPN from anywhere, SSH from adminCidrs",
	},
	vpnWireGuard: {
		Name: "WireGuard", DefaultType: "t4g.nano", MinMemoryMiB: 512, Template: "vpn-wireguard.yaml",
		// Forwarding and masquerade of the members to the lab, and the sync.
		Service: "wg-quick@" + wireguardInterface + ".service", Units: append([]string{"research-lab-vpn-nat.service"}, vpnSyncUnits...),
		Output:           "vpnServerPublicKey",
		GroupDescription: "WireGuard: its UDP port from anywhere, SSH from adminCidrs",
	},
}

// vpnSyncUnits run research-lab-vpn-sync every minute, whatever the kind.
var vpnSyncUnits = []string{"research-lab-vpn-sync.service", "research-lab-vpn-sync.timer"}

// The WireGuard tunnel: the server's address and the members' come from this
// network, in the shared address space (RFC 6598) that VPCs and home networks
// rarely use. Members' traffic leaves the VPN masqueraded as the VPN's own
// address, so the VPC never sees these addresses.
var (
	wireguardNetwork = netip.MustParsePrefix("100.96.0.0/16")
	wireguardServer  = netip.MustParseAddr("100.96.0.1")
)

// wireguardInterface is the WireGuard server's interface (/etc/wireguard/wg0.conf).
const wireguardInterface = "wg0"

// vpnRoutes are the networks a VPN client reaches through the tunnel: the
// lab's private subnets, and nothing else (no internet reroute).
func (c *labConfig) vpnRoutes() []string {
	return []string{c.ProductionCidr.String(), c.ResearchCidr.String()}
}
