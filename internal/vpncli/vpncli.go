// Package vpncli is a member's side of a WireGuard lab: keygen makes a key
// pair, profile makes the member's profile from the lab's outputs. Both run
// on the member's own device, so that a private key never leaves it: the lab
// only ever learns the public half. The member's own command
// (cmd/lab-vpn) and the lab's `go run . vpn` run it; it imports no cloud SDK.
package vpncli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"research-lab/internal/outputs"
	"research-lab/internal/profile"
	"research-lab/internal/wgkey"
)

// Exit statuses.
const (
	Done  = 0
	Error = 1
	Usage = 2
)

// usageText is the usage, for the command as the user types it.
const usageText = `usage:
  %[1]s keygen [--private-key FILE]
      make a WireGuard key pair: print both halves, or write the private one
      to FILE (mode 0600) and print the public one
  %[1]s profile --member NAME --private-key FILE [--stack NAME | --outputs FILE] [--out FILE] [--qr] [--png FILE]
      make NAME's WireGuard profile from the lab's outputs: a wg-quick file
      (--out, mode 0600), a QR code in the terminal (--qr) or in a PNG image
      (--png, mode 0600) for the WireGuard app on a phone
`

// Run runs the command line args of cmd, the command as the user types it
// (`go run ./cmd/lab-vpn`), and returns the exit status.
func Run(cmd string, args []string, stdout, stderr io.Writer) int {
	usage := fmt.Sprintf(usageText, cmd)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return Usage
	}
	var err error
	switch args[0] {
	case "keygen":
		err = keygen(cmd, args[1:], stdout, stderr)
	case "profile":
		err = makeProfile(cmd, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return Done
	default:
		fmt.Fprintf(stderr, "%s: unknown command %q\n%s", cmd, args[0], usage)
		return Usage
	}
	var bad *usageError
	switch {
	case err == nil:
		return Done
	case errors.Is(err, flag.ErrHelp):
		return Done
	case errors.As(err, &bad):
		fmt.Fprintf(stderr, "%s %s: %v\n%s", cmd, args[0], err, usage)
		return Usage
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", cmd, args[0], err)
		return Error
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

func keygen(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(cmd+" keygen", stderr)
	file := fs.String("private-key", "", "write the private key to the new `FILE` (mode 0600; its folder is made if missing) instead of printing it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	private, public, err := wgkey.New()
	if err != nil {
		return err
	}
	if *file == "" {
		fmt.Fprintf(stdout, "private key  %s  (secret: keep it on this device, never share it)\n", private)
		fmt.Fprintf(stdout, "public key   %s  (share it: the lab's owner sets it as your wireguardPublicKey)\n", public)
		return nil
	}
	if err := writeNewKey(*file, private); errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists, and a key file is never replaced: the lab may know its public half, which `wg pubkey < %s` prints; to make a new pair, name a new file", *file, *file)
	} else if err != nil {
		return fmt.Errorf("writing the private key: %w", err)
	}
	fmt.Fprintf(stdout, "private key  written to %s (mode 0600: keep it on this device, never share it)\n", *file)
	fmt.Fprintf(stdout, "public key   %s  (share it: the lab's owner sets it as your wireguardPublicKey)\n", public)
	return nil
}

// writeNewKey writes a private key to a new file, its owner's alone. A key
// file is never overwritten: the lab may already know its public half.
func writeNewKey(file, private string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, private); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func makeProfile(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(cmd+" profile", stderr)
	name := fs.String("member", "", "the member `NAME`, as in the lab's members")
	keyFile := fs.String("private-key", "", "the `FILE` holding the member's private key (from keygen --private-key FILE, or wg genkey)")
	stack := fs.String("stack", "", "read the outputs of the stack `NAME` from the Pulumi CLI (default: its current stack)")
	outputsFile := fs.String("outputs", "", "read the outputs from `FILE` instead, saved with: pulumi stack output --json > FILE")
	out := fs.String("out", "", "write the profile to `FILE` (mode 0600), for wg-quick or the WireGuard app")
	qr := fs.Bool("qr", false, "print the profile as a QR code, for the WireGuard app on a phone")
	png := fs.String("png", "", "write the profile as a QR code to the PNG image `FILE` (mode 0600)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *name == "":
		return &usageError{"--member NAME is required"}
	case *keyFile == "":
		return &usageError{fmt.Sprintf("--private-key FILE is required (make one with `%s keygen --private-key FILE`)", cmd)}
	case *out == "" && !*qr && *png == "":
		return &usageError{"say where the profile goes: --out FILE, or --qr or --png FILE for a phone"}
	case *stack != "" && *outputsFile != "":
		return &usageError{"--stack and --outputs exclude each other"}
	}
	private, public, warning, err := profile.ReadPrivateKey(*keyFile)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintln(stderr, "warning:", warning)
	}
	raw, err := outputs.Read(*outputsFile, *stack)
	if err != nil {
		return err
	}
	o, err := profile.ParseOutputs(raw)
	if err != nil {
		return err
	}
	addr, err := o.Member(*name, public)
	if err != nil {
		return err
	}
	text := o.Text(private, addr)
	if *out != "" {
		if err := profile.WritePrivate(*out, []byte(text)); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s's profile written to %s (mode 0600); import it into the WireGuard app", *name, *out)
		if quickName.MatchString(filepath.Base(*out)) {
			fmt.Fprintf(stderr, ", or connect with: sudo wg-quick up %s", quickPath(*out))
		}
		fmt.Fprintln(stderr)
	}
	if *png != "" {
		image, err := profile.PNG(text)
		if err != nil {
			return err
		}
		if err := profile.WritePrivate(*png, image); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s's profile written as a QR code to %s (mode 0600): open it and scan it in the WireGuard app (+, Scan from QR code); it holds %s's private key: show it to no one else, and delete it once scanned.\n", *name, *png, *name)
	}
	if *qr {
		code, err := profile.QR(text)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, code)
		fmt.Fprintf(stderr, "Scan it in the WireGuard app (+, Scan from QR code); it holds %s's private key: show it to no one else.\n", *name)
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
