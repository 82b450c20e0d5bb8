// Package profile makes a team member's WireGuard profile from a lab's stack
// outputs and the member's private key: as a wg-quick file, as a QR code for
// the WireGuard app (in the terminal, or as a PNG image), written readable by
// the member alone.
package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"research-lab/internal/wgkey"
)

// Outputs are the stack outputs a member's profile is made from.
type Outputs struct {
	ServerPublicKey  string            `json:"vpnServerPublicKey"`
	Endpoint         string            `json:"vpnEndpoint"`
	ClientAddresses  map[string]string `json:"vpnClientAddresses"`
	ClientPublicKeys map[string]string `json:"vpnClientPublicKeys"`
	Routes           []string          `json:"vpnRoutes"`
	// ClientURL is set instead when the lab runs OpenVPN Access Server.
	ClientURL string `json:"vpnClientUrl"`
}

// ParseOutputs reads the outputs of a WireGuard lab and checks every value a
// profile is made from.
func ParseOutputs(raw []byte) (*Outputs, error) {
	var o Outputs
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("the outputs are not the JSON of `pulumi stack output --json`: %v", err)
	}
	if o.ServerPublicKey == "" && o.ClientURL != "" {
		return nil, fmt.Errorf("this lab's VPN is OpenVPN Access Server (vpn: openvpn-as), which makes no WireGuard profiles: log in at %s with your name and password and download your profile there", o.ClientURL)
	}
	var missing []string
	for k, empty := range map[string]bool{"vpnServerPublicKey": o.ServerPublicKey == "", "vpnEndpoint": o.Endpoint == "",
		"vpnClientAddresses": o.ClientAddresses == nil, "vpnRoutes": len(o.Routes) == 0} {
		if empty {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("the outputs lack %s (is the stack deployed, with vpn: wireguard?)", strings.Join(missing, ", "))
	}
	if err := wgkey.CheckPublic(o.ServerPublicKey); err != nil {
		return nil, fmt.Errorf("output vpnServerPublicKey: %w", err)
	}
	if _, err := netip.ParseAddrPort(o.Endpoint); err != nil {
		return nil, fmt.Errorf("output vpnEndpoint = %q is not an address:port", o.Endpoint)
	}
	for _, r := range o.Routes {
		p, err := netip.ParsePrefix(r)
		if err != nil || p.Bits() == 0 {
			return nil, fmt.Errorf("output vpnRoutes holds %q: a member routes the lab's private networks through the tunnel, and nothing else", r)
		}
	}
	return &o, nil
}

// Member is the member's VPN address, once their key is known to be the one
// the lab has for them.
func (o *Outputs) Member(name, public string) (netip.Addr, error) {
	a, ok := o.ClientAddresses[name]
	if !ok {
		if len(o.ClientAddresses) == 0 {
			return netip.Addr{}, fmt.Errorf("this lab has no members yet: the owner adds %q to members (with the public key) and runs pulumi up", name)
		}
		known := make([]string, 0, len(o.ClientAddresses))
		for n := range o.ClientAddresses {
			known = append(known, n)
		}
		sort.Strings(known)
		return netip.Addr{}, fmt.Errorf("%q is not a member of this lab; its members are %s (added since the last pulumi up? run it first)", name, strings.Join(known, ", "))
	}
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("output vpnClientAddresses: %s's address %q is not an IP address", name, a)
	}
	if public == o.ServerPublicKey {
		return netip.Addr{}, errors.New("this private key is the VPN server's: each member needs a key pair of their own (go run ./cmd/lab-vpn keygen)")
	}
	// Outputs of a lab deployed before vpnClientPublicKeys existed cannot
	// tell; the handshake then says it.
	if want, ok := o.ClientPublicKeys[name]; ok && want != public {
		return netip.Addr{}, fmt.Errorf("this private key is not %s's: its public key is %s, and the lab has %s for %s; use the key file whose public half you gave, or give the lab this one (members[N].wireguardPublicKey) and run pulumi up", name, public, want, name)
	}
	return addr, nil
}

// keepalive keeps a member's tunnel open through home routers' NAT: the
// interval wg(8) suggests.
const keepalive = 25

// format is a member's profile in wg-quick format, which the WireGuard apps
// import too. Only the lab's private networks go through the tunnel: the
// member's internet traffic never does.
const format = `[Interface]
PrivateKey = %s
Address = %s/32

[Peer]
PublicKey = %s
Endpoint = %s
AllowedIPs = %s
PersistentKeepalive = %d
`

// Text is the profile of the member with this private key and address.
func (o *Outputs) Text(private string, addr netip.Addr) string {
	return fmt.Sprintf(format, private, addr, o.ServerPublicKey, o.Endpoint, strings.Join(o.Routes, ", "), keepalive)
}

// ReadPrivateKey reads a private key file as `wg genkey` (or keygen) writes
// it and returns the key and its public half, with a warning when others may
// read the file; the error never quotes the file, which may hold a key.
func ReadPrivateKey(file string) (private, public, warning string, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", "", fmt.Errorf("reading the private key: %w", err)
	}
	if info, err := os.Stat(file); err == nil && info.Mode().Perm()&0o077 != 0 {
		warning = fmt.Sprintf("%s can be read by other users (mode %04o): chmod 600 %s", file, info.Mode().Perm(), file)
	}
	private = strings.TrimSpace(string(b))
	key, err := wgkey.Parse(private)
	if err != nil {
		return "", "", "", fmt.Errorf("%s does not hold a private key: %w", file, err)
	}
	public, err = wgkey.Public(key)
	if err != nil {
		return "", "", "", err
	}
	return private, public, warning, nil
}

// WritePrivate replaces path with content, readable by its owner only,
// whatever the mode of a file it replaces; a missing folder is made, its
// owner's alone too.
func WritePrivate(path string, content []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".research-lab-profile-*") // mode 0600
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Medium error correction fits a profile in 80 columns.
const qrLevel = qrcode.Medium

// QR is the profile as a QR code in half-block characters, light modules
// drawn white on black whatever the terminal's colours, with the quiet zone
// a scanner needs.
func QR(profile string) (string, error) {
	q, err := qrcode.New(profile, qrLevel)
	if err != nil {
		return "", fmt.Errorf("encoding the QR code: %w", err)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(q.ToSmallString(false), "\n"), "\n") {
		b.WriteString(qrColours + line + qrReset + "\n")
	}
	return b.String(), nil
}

// ANSI colours for the QR code: bright white on black.
const (
	qrColours = "\x1b[97;40m"
	qrReset   = "\x1b[0m"
)

// pngSide is the PNG's width and height in pixels: a few pixels a module,
// large enough to scan from a screen across a desk.
const pngSide = 512

// PNG is the profile as a QR code in a PNG image, for an image viewer where
// the terminal's code is too small or too dim to scan.
func PNG(profile string) ([]byte, error) {
	b, err := qrcode.Encode(profile, qrLevel, pngSide)
	if err != nil {
		return nil, fmt.Errorf("encoding the QR code: %w", err)
	}
	return b, nil
}
