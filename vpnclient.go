package main

// `go run . vpn keygen` and `go run . vpn profile`: the member's side of a
// WireGuard lab. Both run on the member's own device, so that a private key
// never leaves it: the lab only ever learns the public half.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// Exit statuses of vpn.
const (
	vpnDone  = 0
	vpnError = 1
	vpnUsage = 2
)

const vpnUsageText = `usage:
  go run . vpn keygen [--private-key FILE]
      make a WireGuard key pair: print both halves, or write the private one
      to FILE (mode 0600) and print the public one
  go run . vpn profile --member NAME --private-key FILE [--stack NAME | --outputs FILE] (--out FILE | --qr)
      write NAME's WireGuard profile (wg-quick format) from the stack's outputs,
      to FILE (mode 0600) or as a QR code for the WireGuard app on a phone
`

// runVPN is `go run . vpn`; it returns the exit status.
func runVPN(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, vpnUsageText)
		return vpnUsage
	}
	var err error
	switch args[0] {
	case "keygen":
		err = runKeygen(args[1:], stdout, stderr)
	case "profile":
		err = runProfile(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, vpnUsageText)
		return vpnDone
	default:
		fmt.Fprintf(stderr, "research-lab vpn: unknown command %q\n%s", args[0], vpnUsageText)
		return vpnUsage
	}
	var usage *usageError
	switch {
	case err == nil:
		return vpnDone
	case errors.Is(err, flag.ErrHelp):
		return vpnDone
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "research-lab vpn %s: %v\n%s", args[0], err, vpnUsageText)
		return vpnUsage
	default:
		fmt.Fprintf(stderr, "research-lab vpn %s: %v\n", args[0], err)
		return vpnError
	}
}

// usageError is a command line that cannot be run as given.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", strings.Join(fs.Args(), " "))}
	}
	return nil
}

func runKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("vpn keygen", stderr)
	file := fs.String("private-key", "", "write the private key to this new file (mode 0600) instead of printing it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	private, public, err := newWireGuardKeyPair()
	if err != nil {
		return err
	}
	if *file == "" {
		fmt.Fprintf(stdout, "private key  %s  (secret: keep it on this device, never share it)\n", private)
		fmt.Fprintf(stdout, "public key   %s  (share it: the lab's owner sets it as your wireguardPublicKey)\n", public)
		return nil
	}
	// A key file is never overwritten: the lab may already know its public half.
	f, err := os.OpenFile(*file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing the private key: %w", err)
	}
	if _, err := fmt.Fprintln(f, private); err != nil {
		f.Close()
		return fmt.Errorf("writing the private key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the private key: %w", err)
	}
	fmt.Fprintf(stdout, "private key  written to %s (mode 0600: keep it on this device, never share it)\n", *file)
	fmt.Fprintf(stdout, "public key   %s  (share it: the lab's owner sets it as your wireguardPublicKey)\n", public)
	return nil
}

// wireguardOutputs are the stack outputs a member's profile is made from.
type wireguardOutputs struct {
	ServerPublicKey  string            `json:"vpnServerPublicKey"`
	Endpoint         string            `json:"vpnEndpoint"`
	ClientAddresses  map[string]string `json:"vpnClientAddresses"`
	ClientPublicKeys map[string]string `json:"vpnClientPublicKeys"`
	Routes           []string          `json:"vpnRoutes"`
	// ClientURL is set instead when the lab runs OpenVPN Access Server.
	ClientURL string `json:"vpnClientUrl"`
}

// wireguardKeepalive keeps a member's tunnel open through home routers' NAT:
// the interval wg(8) suggests.
const wireguardKeepalive = 25

// wireguardProfile is a member's profile in wg-quick format, which the
// WireGuard apps import too. Only the lab's private networks go through the
// tunnel: the member's internet traffic never does.
const wireguardProfile = `[Interface]
PrivateKey = %s
Address = %s/32

[Peer]
PublicKey = %s
Endpoint = %s
AllowedIPs = %s
PersistentKeepalive = %d
`

func runProfile(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("vpn profile", stderr)
	name := fs.String("member", "", "the member whose profile this is (their name in members)")
	keyFile := fs.String("private-key", "", "the file holding the member's private key (from `go run . vpn keygen --private-key FILE`)")
	stack := fs.String("stack", "", "stack whose outputs `pulumi stack output --json` reads (default: the current stack)")
	outputsFile := fs.String("outputs", "", "read the outputs from this file (the JSON of `pulumi stack output --json`) instead")
	out := fs.String("out", "", "write the profile to this file (mode 0600), for wg-quick or the WireGuard app")
	qr := fs.Bool("qr", false, "print the profile as a QR code, for the WireGuard app on a phone")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *name == "":
		return &usageError{"--member NAME is required"}
	case *keyFile == "":
		return &usageError{"--private-key FILE is required (make one with `go run . vpn keygen --private-key FILE`)"}
	case *out == "" && !*qr:
		return &usageError{"say where the profile goes: --out FILE, or --qr for a phone"}
	case *stack != "" && *outputsFile != "":
		return &usageError{"--stack and --outputs exclude each other"}
	}
	private, public, err := readPrivateKey(*keyFile, stderr)
	if err != nil {
		return err
	}
	raw, err := readOutputs(*outputsFile, *stack)
	if err != nil {
		return err
	}
	o, err := parseWireGuardOutputs(raw)
	if err != nil {
		return err
	}
	addr, err := o.member(*name, public)
	if err != nil {
		return err
	}
	profile := fmt.Sprintf(wireguardProfile, private, addr, o.ServerPublicKey, o.Endpoint, strings.Join(o.Routes, ", "), wireguardKeepalive)
	if *out != "" {
		if err := writePrivateFile(*out, profile); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s's profile written to %s (mode 0600); import it into the WireGuard app", *name, *out)
		if quickName.MatchString(filepath.Base(*out)) {
			fmt.Fprintf(stderr, ", or connect with: sudo wg-quick up %s", quickPath(*out))
		}
		fmt.Fprintln(stderr)
	}
	if *qr {
		code, err := profileQR(profile)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, code)
		fmt.Fprintf(stderr, "Scan it in the WireGuard app (+, Scan from QR code); it holds %s's private key: show it to no one else.\n", *name)
	}
	return nil
}

// readPrivateKey reads a private key file as keygen writes it (wg genkey's
// format too) and returns the key and its public half; the error never
// quotes the file, which may hold a key.
func readPrivateKey(file string, stderr io.Writer) (private, public string, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("reading the private key: %w", err)
	}
	if info, err := os.Stat(file); err == nil && info.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "warning: %s can be read by other users (mode %04o): chmod 600 %s\n", file, info.Mode().Perm(), file)
	}
	private = strings.TrimSpace(string(b))
	key, err := parseWireGuardKey(private)
	if err != nil {
		return "", "", fmt.Errorf("%s does not hold a private key: %w", file, err)
	}
	public, err = wireguardPublicKey(key)
	if err != nil {
		return "", "", err
	}
	return private, public, nil
}

// parseWireGuardOutputs reads the outputs of a WireGuard lab and checks
// every value a profile is made from.
func parseWireGuardOutputs(raw []byte) (*wireguardOutputs, error) {
	var o wireguardOutputs
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
	if err := checkWireGuardPublicKey(o.ServerPublicKey); err != nil {
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

// member is the member's VPN address, once their key is known to be the one
// the lab has for them.
func (o *wireguardOutputs) member(name, public string) (netip.Addr, error) {
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
		return netip.Addr{}, errors.New("this private key is the VPN server's: each member needs a key pair of their own (go run . vpn keygen)")
	}
	// Outputs of a lab deployed before vpnClientPublicKeys existed cannot
	// tell; the handshake then says it.
	if want, ok := o.ClientPublicKeys[name]; ok && want != public {
		return netip.Addr{}, fmt.Errorf("this private key is not %s's: its public key is %s, and the lab has %s for %s; use the key file whose public half you gave, or give the lab this one (members[N].wireguardPublicKey) and run pulumi up", name, public, want, name)
	}
	return addr, nil
}

// writePrivateFile replaces path with content, readable by its owner only,
// whatever the mode of a file it replaces.
func writePrivateFile(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".research-lab-profile-*") // mode 0600
	if err != nil {
		return fmt.Errorf("writing the profile: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the profile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the profile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the profile: %w", err)
	}
	return nil
}

// quickName is a file name wg-quick accepts: the interface's name (at most
// 15 characters) and .conf.
var quickName = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}\.conf$`)

// quickPath is how wg-quick takes a configuration file: a path, not a bare
// name, which it would look up in /etc/wireguard.
func quickPath(p string) string {
	if strings.ContainsRune(p, filepath.Separator) {
		return p
	}
	return "./" + p
}

// profileQR is the profile as a QR code in half-block characters, light
// modules drawn white on black whatever the terminal's colours, with the
// quiet zone a scanner needs. Medium error correction fits a profile in 80
// columns.
func profileQR(profile string) (string, error) {
	q, err := qrcode.New(profile, qrcode.Medium)
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
