package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/curve25519"
)

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
	// GroupDescription describes the DMZ group. AWS replaces a group whose
	// description changes (internal/awsmodel), so openvpn-as keeps the one
	// it always had.
	GroupDescription string
}

var vpnKinds = map[vpnKind]vpnSpec{
	vpnOpenVPNAS: {
		Name: "OpenVPN Access Server", DefaultType: "t4g.micro", MinMemoryMiB: 1024, Template: "vpn.yaml",
		Service: "openvpnas.service", Units: vpnSyncUnits,
		GroupDescription: "OpenVPN Access Server: VPN from anywhere, SSH from adminCidrs",
	},
	vpnWireGuard: {
		Name: "WireGuard", DefaultType: "t4g.nano", MinMemoryMiB: 512, Template: "vpn-wireguard.yaml",
		// Forwarding and masquerade of the members to the lab, and the sync.
		Service: "wg-quick@" + wireguardInterface + ".service", Units: append([]string{"research-lab-vpn-nat.service"}, vpnSyncUnits...),
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

// wireguardKeyLen is the length of a Curve25519 key.
const wireguardKeyLen = 32

// parseWireGuardKey decodes a key as wg(8) writes it: 32 bytes in standard,
// padded base64 (44 characters). Go's lenient decoder would accept keys wg
// refuses, so the strict one decides.
func parseWireGuardKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != wireguardKeyLen {
		return nil, errors.New("not a WireGuard key: 44 characters of base64, as `wg genkey` and `wg pubkey` (or `go run . vpn keygen`) print")
	}
	return b, nil
}

// wireguardPublicKey is the public key of a private key, as `wg pubkey`
// computes it: X25519 with the base point.
func wireguardPublicKey(private []byte) (string, error) {
	pub, err := curve25519.X25519(private, curve25519.Basepoint)
	if err != nil {
		return "", fmt.Errorf("deriving the WireGuard public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(pub), nil
}

// checkWireGuardPublicKey refuses a public key no peer can use: X25519 with
// a low-order point (the all-zero key among them) gives no shared secret.
func checkWireGuardPublicKey(s string) error {
	pub, err := parseWireGuardKey(s)
	if err != nil {
		return err
	}
	probe := make([]byte, wireguardKeyLen)
	probe[0] = 9 // any scalar will do: a low-order point gives zero for all
	if _, err := curve25519.X25519(probe, pub); err != nil {
		return errors.New("a low-order point, not a usable WireGuard public key")
	}
	return nil
}

// newWireGuardKeyPair makes a key pair as `wg genkey | wg pubkey` does: 32
// random bytes, clamped for Curve25519.
func newWireGuardKeyPair() (private, public string, err error) {
	k := make([]byte, wireguardKeyLen)
	if _, err := rand.Read(k); err != nil {
		return "", "", fmt.Errorf("reading random bytes: %w", err)
	}
	return wireguardKeyPairFrom(k)
}

// wireguardKeyPairFrom clamps the 32 bytes k for Curve25519, in place, and
// returns them as a private key with its public key.
func wireguardKeyPairFrom(k []byte) (private, public string, err error) {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	public, err = wireguardPublicKey(k)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(k), public, nil
}
