package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"research-lab/internal/wgkey"
)

// member is one researcher of a team lab (the members key): their own VPN
// access, Jupyter login, Unix user and notebook folder.
type member struct {
	Name               string `json:"name"`
	Password           string `json:"password"`
	WireGuardPublicKey string `json:"wireguardPublicKey,omitempty"`
	// Address is the member's VPN address (vpn: wireguard), which comes
	// from their name alone, so it never changes when others come and go.
	Address netip.Addr `json:"-"`
}

// Bounds of a team. One JupyterHub server serves it, and The Littlest
// JupyterHub, the JupyterHub project's distribution for one server, is
// documented for 1 to 100 users: past that a class needs a hub on
// Kubernetes (Zero to JupyterHub, docs/team.md). The member lists reach the
// servers in standard SSM parameters of at most 4 KiB each, split into as
// many as they need (memberparts.go, TestMemberListsFitTheirParameters).
const (
	maxMembers           = 100
	maxMemberPasswordLen = 64
	maxParameterBytes    = 4096
)

// tooManyMembers is why a team stops at maxMembers, and what a bigger one uses.
const tooManyMembers = "a lab serves at most %d: its one JupyterHub server is sized for The Littlest JupyterHub's range (1 to 100 users); " +
	"a bigger class needs a hub on Kubernetes (Zero to JupyterHub), or one lab per group of students (see docs/team.md, \"More than %d members\")"

var memberNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// reservedMemberNames are the users and groups the servers' images and the
// lab itself use (a member becomes a user and a group of that name), and the
// bucket folder every member shares. Amazon Linux 2023's come from its setup
// package and services, Ubuntu's from base-passwd; systemd's own all start
// with "systemd-" (reservedMemberPrefixes).
var reservedMemberNames = map[string]bool{
	// Both images' base users and groups.
	"root": true, "bin": true, "daemon": true, "adm": true, "lp": true, "sync": true, "shutdown": true, "halt": true,
	"mail": true, "operator": true, "games": true, "ftp": true, "nobody": true, "users": true, "sys": true, "tty": true,
	"disk": true, "mem": true, "kmem": true, "wheel": true, "cdrom": true, "dialout": true, "floppy": true, "tape": true,
	"video": true, "audio": true, "input": true, "render": true, "kvm": true, "utmp": true, "lock": true, "man": true,
	"sudo": true, "staff": true, "src": true, "shadow": true, "plugdev": true, "netdev": true, "crontab": true,
	"news": true, "uucp": true, "proxy": true, "backup": true, "list": true, "irc": true, "gnats": true, "voice": true,
	"fax": true, "sasl": true, "www-data": true, "messagebus": true, "syslog": true, "uuidd": true, "tcpdump": true,
	// Their services'.
	"dbus": true, "tss": true, "chrony": true, "sshd": true, "rpc": true, "rpcuser": true, "polkitd": true, "sssd": true,
	"libstoragemgmt": true, "ec2-instance-connect": true, "landscape": true, "pollinate": true, "fwupd-refresh": true,
	"lxd": true, "usbmux": true, "dnsmasq": true, "ec2-user": true, "ubuntu": true, "nginx": true, "admin": true,
	"openvpn": true, "openvpn_as": true,
	// The lab's.
	jupyterUser: true, voilaUser: true, "notebook-sync": true, "lab-acme": true, "jupyterhub": true, "lab_team": true,
	"lab_shared": true, sharedFolder: true,
	// A member's bucket folder would be the hub proxy's with notebookPrefix research-lab.
	"hub-proxy": true,
}

// reservedMemberPrefixes start names that services create as they come.
var reservedMemberPrefixes = []string{"systemd-"}

// sharedFolder is the folder every member of a team reads and writes, in the
// bucket (<prefix>/shared/) and on the Jupyter server.
const sharedFolder = "shared"

// badEntry is an error about one entry of a list key (a member).
type badEntry struct {
	Index int
	Name  string
	Err   error
}

func (b *badEntry) Error() string {
	if b.Name == "" {
		return fmt.Sprintf("[%d]: %v", b.Index, b.Err)
	}
	return fmt.Sprintf("[%d] (%s): %v", b.Index, b.Name, b.Err)
}

// parseMembers reads the members list and checks each entry on its own;
// the rules that need the VPN kind are in checkMembers.
func parseMembers(c *labConfig, v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return errors.New(`must be a list of members, each with a name and a secret password: pulumi config set --path 'members[0].name' alice; pulumi config set --secret --path 'members[0].password'`)
	}
	if len(raw) > maxMembers {
		return fmt.Errorf("%d members: "+tooManyMembers, len(raw), maxMembers, maxMembers)
	}
	var errs []error
	seen := map[string]int{}
	notMappings := 0
	for _, r := range raw {
		if !bytes.HasPrefix(bytes.TrimSpace(r), []byte("{")) {
			notMappings++
		}
	}
	if notMappings > 0 {
		// A list of names, or of strings: one error for the list, in YAML.
		return errors.New(memberShapeHelp)
	}
	for i, r := range raw {
		var m member
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			errs = append(errs, &badEntry{i, "", memberFieldError(err)})
			continue
		}
		bad := func(err error) { errs = append(errs, &badEntry{i, m.Name, err}) }
		switch {
		case !memberNameRe.MatchString(m.Name):
			bad(errors.New("a name is 1 to 32 lowercase letters, digits and -, starting with a letter (it becomes a Unix user)"))
		case reservedMemberNames[m.Name] || hasAnyPrefix(m.Name, reservedMemberPrefixes):
			bad(fmt.Errorf("%q is taken by the servers or the lab: choose another name", m.Name))
		case seen[m.Name] > 0:
			bad(fmt.Errorf("the name is also members[%d]'s: names are unique", seen[m.Name]-1))
		}
		seen[m.Name] = i + 1
		switch n := utf8.RuneCountInString(m.Password); {
		case strings.TrimSpace(m.Password) == "":
			bad(fmt.Errorf("no password: set it with `pulumi config set --secret --path 'members[%d].password'` (at least %d characters)", i, minPasswordLength))
		case n < minPasswordLength:
			bad(fmt.Errorf("the password is %d characters long: a password needs at least %d", n, minPasswordLength))
		case n > maxMemberPasswordLen || len(m.Password) > 2*maxMemberPasswordLen:
			bad(fmt.Errorf("the password is %d characters (%d bytes) long: at most %d characters, %d bytes", n, len(m.Password), maxMemberPasswordLen, 2*maxMemberPasswordLen))
		}
		if m.WireGuardPublicKey != "" {
			if err := wgkey.CheckPublic(m.WireGuardPublicKey); err != nil {
				bad(fmt.Errorf("wireguardPublicKey: %w", err))
			} else if wgkey.LooksPrivate(m.WireGuardPublicKey) {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s:members: %s's wireguardPublicKey looks like a private key (clamped, as every private key is and one public key in 16): "+
					"if it is %s's private key, it is no longer secret, and the lab would publish it; %s makes a new pair and gives you the public half, which `wg pubkey < key` prints from the key file",
					projectName, m.Name, m.Name, m.Name))
			}
		}
		c.Members = append(c.Members, m)
	}
	return errors.Join(errs...)
}

// memberShapeHelp is what members must look like, for a value of another
// shape (members: [alice, bob]).
const memberShapeHelp = `must be a list of members, each with a name and a secret password (and with vpn: wireguard a wireguardPublicKey), not a list of names; in the stack file:
    research-lab:members:
      - name: alice
        password:
          secure: ...
which ` + "`pulumi config set --path 'members[0].name' alice` and `pulumi config set --secret --path 'members[0].password'`" + ` write`

// memberFieldError says in the user's terms what is wrong with one member's
// fields: a field the lab does not know, or a value that is not text.
func memberFieldError(err error) error {
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s: a member has name, password and wireguardPublicKey", f)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Errorf("%s must be text (in quotes if YAML reads it as a number or a boolean)", typeErr.Field)
	}
	return errors.New("each member has name, password and wireguardPublicKey, all text")
}

// checkMembers applies the rules that need the VPN kind and the server's
// key: every member of a WireGuard lab has a key of their own and an
// address of their own.
func checkMembers(c *labConfig, serverPublicKey string) []error {
	var errs []error
	bad := func(i int, err error) { errs = append(errs, &badEntry{i, c.Members[i].Name, err}) }
	keys := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i := range c.Members {
		m := &c.Members[i]
		if c.VPN != vpnWireGuard {
			if m.WireGuardPublicKey != "" {
				bad(i, fmt.Errorf("wireguardPublicKey is used only with vpn: wireguard (this lab's VPN is %s)", c.VPN))
			}
			continue
		}
		switch {
		case m.WireGuardPublicKey == "":
			bad(i, fmt.Errorf("no wireguardPublicKey: the member runs `go run ./cmd/lab-vpn keygen` (or `wg genkey | tee wg.key | wg pubkey`), keeps the private key and gives you the public one; then `pulumi config set --path 'members[%d].wireguardPublicKey' <key>`", i))
		case m.WireGuardPublicKey == serverPublicKey:
			bad(i, errors.New("wireguardPublicKey is the VPN server's own key: each member needs a key pair of their own"))
		case keys[m.WireGuardPublicKey] > 0:
			bad(i, fmt.Errorf("wireguardPublicKey is also members[%d]'s: each member needs a key pair of their own", keys[m.WireGuardPublicKey]-1))
		}
		keys[m.WireGuardPublicKey] = i + 1
		m.Address = memberAddressAmong(m.Name, func(a netip.Addr) bool { return addrs[a] > 0 })
		if own := memberAddress(m.Name); m.Address != own {
			j := addrs[own] - 1
			other := c.Members[j]
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s:members: %s's name gives the VPN address %s, which %s (members[%d], listed earlier) has: %s gets %s instead "+
				"while %s is a member; if %s leaves, %s's address becomes %s and %s writes their VPN profile again",
				projectName, m.Name, own, other.Name, j, m.Name, m.Address, other.Name, other.Name, m.Name, own, m.Name))
		}
		addrs[m.Address] = i + 1
	}
	return errs
}

// memberAddressCollision is the chance that two of n members' names give
// the same address (the birthday bound over the tunnel's hosts):
// memberAddressAmong then gives the later one the next free address.
func memberAddressCollision(n int) float64 {
	hosts := float64(uint32(1)<<(32-wireguardNetwork.Bits())) * 254 / 256 // no .0, no .255
	p := 1.0
	for i := range n {
		p *= (hosts - 1 - float64(i)) / (hosts - 1) // one host is the server's
	}
	return 1 - p
}

// checkMemberListSizes refuses a team whose member lists would not fit their
// SSM parameters, before any resource: the deploy would fail halfway. A list
// splits into as many parameters as it needs, between members, so only a
// member too long for one parameter of their own would not.
func checkMemberListSizes(c *labConfig) []error {
	if !c.team() {
		return nil
	}
	vpn, err := vpnMembers(c)
	if err != nil {
		return []error{err}
	}
	hashes, err := jupyterMembersSized(c)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for server, list := range map[string]string{"the VPN": vpn, "Jupyter": hashes} {
		if _, err := memberParts(list); err != nil {
			errs = append(errs, fmt.Errorf("%s:members: the team as %s receives it: %w: a shorter password", projectName, server, err))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// memberAddress is a member's own address in the WireGuard network: a hash
// of the name picks one of its hosts, skipping the server's and the
// addresses ending in .0 and .255.
func memberAddress(name string) netip.Addr {
	return memberAddressAmong(name, func(netip.Addr) bool { return false })
}

// memberAddressAmong is the member's address among members who came before
// them in the list: their own (memberAddress), or when taken the next host
// after it that is free. A member's own address never depends on the
// others, so members who never share one keep theirs as the team changes.
func memberAddressAmong(name string, taken func(netip.Addr) bool) netip.Addr {
	sum := sha256.Sum256([]byte("research-lab member address\x00" + name))
	n := binary.BigEndian.Uint32(sum[:4])
	hosts := uint32(1) << (32 - wireguardNetwork.Bits())
	for {
		host := n % hosts
		a := wireguardNetwork.Addr().As4()
		v := binary.BigEndian.Uint32(a[:]) + host
		binary.BigEndian.PutUint32(a[:], v)
		addr := netip.AddrFrom4(a)
		if last := a[3]; last != 0 && last != 255 && addr != wireguardServer && !taken(addr) {
			return addr
		}
		n++
	}
}

// vpnMembers is the member list the VPN applies (an SSM parameter): with
// OpenVPN AS each member's login, with WireGuard each member's key and
// address. Sorted by name, so the same team is the same text.
func vpnMembers(c *labConfig) (string, error) {
	type entry struct {
		Name      string `json:"name"`
		Password  string `json:"password,omitempty"`
		PublicKey string `json:"publicKey,omitempty"`
		Address   string `json:"address,omitempty"`
	}
	entries := []entry{}
	for _, m := range c.sortedMembers() {
		e := entry{Name: m.Name}
		switch c.VPN {
		case vpnOpenVPNAS:
			e.Password = m.Password
		case vpnWireGuard:
			e.PublicKey, e.Address = m.WireGuardPublicKey, m.Address.String()
		default:
			return "", fmt.Errorf("vpn %q: no member list for this VPN", c.VPN)
		}
		entries = append(entries, e)
	}
	return marshalMembers(entries)
}

// jupyterMembers is the member list the Jupyter server applies (an SSM
// parameter): names and password hashes in SHA-512 crypt, which the
// server's PAM checks; never the passwords. The salt comes from the lab and
// the name, never from the password, so the same team is the same text and
// a reader of the parameter still pays the hash for every guess.
func jupyterMembers(c *labConfig, lab string) (string, error) {
	return jupyterMembersWith(c, lab, func(password, salt string) string {
		key := [2]string{password, salt}
		if h, ok := memberHashes.Load(key); ok {
			return h.(string)
		}
		h := sha512Crypt(password, salt, memberHashRounds)
		memberHashes.Store(key, h)
		return h
	})
}

// memberHashes are the hashes already computed in this process: a program
// that declares the same team more than once (the tests, the plan and then
// the deploy) pays each member's rounds once.
var memberHashes sync.Map

// jupyterMembersSized is the Jupyter member list with stand-ins for the
// hashes, of their length: what the real one's size and split are, at no
// cost (a hash takes its rounds on purpose).
func jupyterMembersSized(c *labConfig) (string, error) {
	return jupyterMembersWith(c, "", func(_, salt string) string {
		return "$6$rounds=" + strconv.Itoa(memberHashRounds) + "$" + salt + "$" + strings.Repeat(".", 86)
	})
}

func jupyterMembersWith(c *labConfig, lab string, crypt func(password, salt string) string) (string, error) {
	type entry struct {
		Name         string `json:"name"`
		PasswordHash string `json:"passwordHash"`
	}
	entries := []entry{}
	for _, m := range c.sortedMembers() {
		sum := sha256.Sum256([]byte("research-lab member salt\x00" + lab + "\x00" + m.Name))
		salt := cryptBase64(sum[:12])[:16]
		entries = append(entries, entry{m.Name, crypt(m.Password, salt)})
	}
	return marshalMembers(entries)
}

// marshalMembers encodes a member list as a server reads it: JSON as it is
// (no HTML escapes, which would lengthen the list for nothing).
func marshalMembers(entries any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"members": entries}); err != nil {
		return "", fmt.Errorf("encoding the member list: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (c *labConfig) sortedMembers() []member {
	out := append([]member(nil), c.Members...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// memberHashRounds is SHA-512 crypt's work factor for the members'
// passwords: 20 times glibc's default.
const memberHashRounds = 100000

// sha512Crypt is glibc's SHA-512 crypt ("$6$"), as specified by its author
// (Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512"); PAM's pam_unix
// verifies it. TestSHA512CryptMatchesGlibc checks it against the real one.
func sha512Crypt(password, salt string, rounds int) string {
	p, s := []byte(password), []byte(salt)
	if len(s) > 16 {
		s = s[:16]
	}
	b := sha512.New()
	b.Write(p)
	b.Write(s)
	b.Write(p)
	sumB := b.Sum(nil)

	a := sha512.New()
	a.Write(p)
	a.Write(s)
	i := len(p)
	for ; i > 64; i -= 64 {
		a.Write(sumB)
	}
	a.Write(sumB[:i])
	for i := len(p); i > 0; i >>= 1 {
		if i&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(p)
		}
	}
	sumA := a.Sum(nil)

	dp := sha512.New()
	for range len(p) {
		dp.Write(p)
	}
	pSeq := repeatTo(dp.Sum(nil), len(p))
	ds := sha512.New()
	for range 16 + int(sumA[0]) {
		ds.Write(s)
	}
	sSeq := repeatTo(ds.Sum(nil), len(s))

	c := sumA
	for r := range rounds {
		h := sha512.New()
		if r%2 == 1 {
			h.Write(pSeq)
		} else {
			h.Write(c)
		}
		if r%3 != 0 {
			h.Write(sSeq)
		}
		if r%7 != 0 {
			h.Write(pSeq)
		}
		if r%2 == 1 {
			h.Write(c)
		} else {
			h.Write(pSeq)
		}
		c = h.Sum(nil)
	}

	// The digest's bytes in the order the specification encodes them.
	order := [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48}, {28, 49, 7},
		{50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57},
		{37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
	var out strings.Builder
	for _, o := range order {
		out.WriteString(crypt24(uint32(c[o[0]])<<16|uint32(c[o[1]])<<8|uint32(c[o[2]]), 4))
	}
	out.WriteString(crypt24(uint32(c[63]), 2))
	return "$6$rounds=" + strconv.Itoa(rounds) + "$" + string(s) + "$" + out.String()
}

func repeatTo(block []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, block[:min(len(block), n-len(out))]...)
	}
	return out
}

// cryptAlphabet is crypt's base64 alphabet.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// crypt24 encodes the low bits of w, six at a time, least significant first.
func crypt24(w uint32, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(cryptAlphabet[w&0x3f])
		w >>= 6
	}
	return b.String()
}

// cryptBase64 encodes bytes in crypt's alphabet (for a salt).
func cryptBase64(data []byte) string {
	var b strings.Builder
	for i := 0; i+2 < len(data); i += 3 {
		b.WriteString(crypt24(uint32(data[i])<<16|uint32(data[i+1])<<8|uint32(data[i+2]), 4))
	}
	return b.String()
}
