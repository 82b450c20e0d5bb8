package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"research-lab/internal/wgkey"
)

// projectName is the Pulumi project, and the namespace of every configuration key.
const projectName = "research-lab"

// Researcher egress modes (researchEgress).
const (
	egressNATInstance = "nat-instance"
	egressNATGateway  = "nat-gateway"
	egressIGW         = "internet-gateway"
	egressNone        = "none"
	egressDefault     = egressNATInstance
	regionFallback    = "us-east-1"
)

// Lab states (labState): what `pulumi up` makes of every instance.
const (
	labRunning = "running"
	labStopped = "stopped"
)

// minPasswordLength is the shortest password accepted for the VPN admin and
// for Jupyter, both reachable from wherever their ports are.
const minPasswordLength = 12

// maxIdleStopMinutes is a week: an idle stop longer than that is no idle stop.
const maxIdleStopMinutes = 7 * 24 * 60

// configKey describes one configuration key. This table is the single source of
// truth for names, types, defaults, descriptions and the check of each value:
// Pulumi.yaml and the README's table are checked against it by
// TestConfigKeysAgreeEverywhere.
type configKey struct {
	Name    string
	Type    string // string, integer, boolean or array (of strings), as in Pulumi.yaml
	Default string // the value in configuration syntax; "" means none
	Secret  bool
	// Needed says, for a secret, whether this stack needs it; a needed
	// secret that is not set is an error, one that is set but not needed
	// a warning. value reads a key's value, or its default.
	Needed func(value func(key string) string) bool
	// HoldsSecrets marks a key whose value holds secrets (members'
	// passwords): its errors never echo the value.
	HoldsSecrets bool
	Description  string
	// Parse checks the key's value on its own and stores it; its error says
	// what is allowed (a badValue names the part of the value at fault).
	// Rules that span several keys are in parseConfig.
	Parse func(c *labConfig, v string) error
}

var configKeys = []configKey{
	{Name: "sshPublicKey", Type: "string", Description: "OpenSSH public key imported as the lab key pair; or set keyName",
		Parse: func(c *labConfig, v string) error {
			if c.SSHPublicKey = strings.TrimSpace(v); c.SSHPublicKey == "" {
				return nil
			}
			return checkSSHPublicKey(c.SSHPublicKey)
		}},
	{Name: "keyName", Type: "string", Description: "existing EC2 key pair instead (for example vockey); exactly one of the two",
		Parse: optional(func(c *labConfig) *string { return &c.KeyName }, keyNameRe, "an EC2 key pair name is 1 to 255 printable ASCII characters")},
	{Name: "vpnAdminPassword", Type: "string", Secret: true, Description: "password of the OpenVPN AS admin user openvpn (vpn: openvpn-as)",
		Needed: func(value func(string) string) bool { return vpnKind(value("vpn")) == vpnOpenVPNAS },
		Parse:  password(func(c *labConfig) *string { return &c.VPNAdminPassword })},
	{Name: "jupyterPassword", Type: "string", Secret: true, Description: "Jupyter login password of a single-user lab (stored only hashed on the instance)",
		Needed: func(value func(string) string) bool { return !hasMembers(value("members")) },
		Parse:  password(func(c *labConfig) *string { return &c.JupyterPassword })},
	{Name: "vpn", Type: "string", Default: string(vpnOpenVPNAS), Description: "the VPN server: openvpn-as (OpenVPN Access Server) or wireguard",
		Parse: func(c *labConfig, v string) error {
			if c.VPN = vpnKind(v); vpnKinds[c.VPN].Template == "" {
				return fmt.Errorf("allowed values are %s and %s", vpnOpenVPNAS, vpnWireGuard)
			}
			return nil
		}},
	{Name: "wireguardPrivateKey", Type: "string", Secret: true, Description: "the WireGuard server's private key (vpn: wireguard; go run . vpn keygen prints one)",
		Needed: func(value func(string) string) bool { return vpnKind(value("vpn")) == vpnWireGuard },
		Parse: func(c *labConfig, v string) error {
			if c.WireGuardPrivateKey = v; v == "" {
				return nil
			}
			_, err := wgkey.Parse(v)
			return err
		}},
	{Name: "members", Default: "[]", HoldsSecrets: true, Description: "team members, each with a name, a secret password and, with vpn: wireguard, a wireguardPublicKey",
		Parse: parseMembers},
	{Name: "namePrefix", Type: "string", Default: "HOL02", Description: "prefix of every Name tag",
		Parse: required(func(c *labConfig) *string { return &c.NamePrefix }, namePrefixRe, "1 to 24 letters, digits or hyphens, starting with a letter")},
	{Name: "vpcCidr", Type: "string", Default: "10.0.0.0/16", Description: "VPC address range (/16 to /28)",
		Parse: cidr(func(c *labConfig) *netip.Prefix { return &c.VPCCidr })},
	{Name: "dmzCidr", Type: "string", Default: "10.0.1.0/24", Description: "DMZ subnet (VPN); inside vpcCidr, no overlap",
		Parse: cidr(func(c *labConfig) *netip.Prefix { return &c.DMZCidr })},
	{Name: "productionCidr", Type: "string", Default: "10.0.2.0/24", Description: "Production subnet (Voila); inside vpcCidr, no overlap",
		Parse: cidr(func(c *labConfig) *netip.Prefix { return &c.ProductionCidr })},
	{Name: "researchCidr", Type: "string", Default: "10.0.3.0/24", Description: "Research subnet (Jupyter); inside vpcCidr, no overlap",
		Parse: cidr(func(c *labConfig) *netip.Prefix { return &c.ResearchCidr })},
	{Name: "availabilityZone", Type: "string", Description: "zone of the three subnets; default the first zone of the region that offers every server's type",
		Parse: optional(func(c *labConfig) *string { return &c.AvailabilityZone }, zoneRe, "not an availability zone name (for example us-east-1a)")},
	{Name: "adminCidrs", Type: "array", Default: `["0.0.0.0/0"]`, Description: "IPv4 CIDRs that may SSH to the VPN instance",
		Parse: parseAdminCidrs},
	{Name: "researchEgress", Type: "string", Default: egressDefault, Description: "internet egress of the Research subnet: nat-instance, nat-gateway, internet-gateway or none",
		Parse: oneOf(func(c *labConfig) *string { return &c.ResearchEgress }, egressNATInstance, egressNATGateway, egressIGW, egressNone)},
	{Name: "vpnInstanceType", Type: "string", Description: "VPN instance type; default t4g.micro for openvpn-as, t4g.nano for wireguard",
		Parse: instanceType("vpnInstanceType", true, func(c *labConfig) *string { return &c.VPNInstanceType })},
	{Name: "voilaInstanceType", Type: "string", Default: "t4g.micro", Description: "Voila instance type",
		Parse: instanceType("voilaInstanceType", false, func(c *labConfig) *string { return &c.VoilaType })},
	{Name: "jupyterInstanceType", Type: "string", Description: "Jupyter instance type; default t4g.medium, or with members the cheapest that holds the members at work at once (the plan says which)",
		Parse: instanceType("jupyterInstanceType", true, func(c *labConfig) *string { return &c.JupyterType })},
	{Name: "memberMemoryMiB", Type: "integer", Default: "1024", Description: "memory each team member's server may use, in MiB (members only; sizes the Jupyter server)",
		Parse: wholeNumber(func(c *labConfig) *int { return &c.MemberMemoryMiB }, minMemberMemoryMiB, maxMemberMemoryMiB)},
	{Name: "activeMembers", Type: "integer", Default: "0", Description: "team members at work at once, which the Jupyter server holds (members only; 0 = all of the first 5, then one in 3)",
		Parse: wholeNumber(func(c *labConfig) *int { return &c.ActiveMembers }, 0, maxMembers)},
	{Name: "labState", Type: "string", Default: labRunning, Description: "running or stopped: pulumi up starts or stops every instance of the lab",
		Parse: oneOf(func(c *labConfig) *string { return &c.LabState }, labRunning, labStopped)},
	{Name: "jupyterIdleStopMinutes", Type: "integer", Default: "0", Description: "Jupyter powers its instance off after this many idle minutes (0 = never, at most a week)",
		Parse: func(c *labConfig, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxIdleStopMinutes {
				return fmt.Errorf("a whole number of minutes from 0 (never) to %d (a week)", maxIdleStopMinutes)
			}
			c.IdleStopMinutes = n
			return nil
		}},
	{Name: "monthlyBudgetUsd", Type: "string", Description: "optional AWS Budgets monthly cost budget for the lab, in US dollars",
		Parse: func(c *labConfig, v string) error {
			if v == "" {
				return nil
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0) || math.IsInf(f, 0) {
				return errors.New("a number of US dollars greater than 0, for example 50")
			}
			c.MonthlyBudgetUSD = f
			return nil
		}},
	{Name: "budgetEmail", Type: "string", Description: "address that the budget alerts at 80% and 100% actual and 100% forecast; needs monthlyBudgetUsd",
		Parse: func(c *labConfig, v string) error {
			if c.BudgetEmail = v; v != "" && !isEmailAddress(v) {
				return errors.New("not an email address (for example teacher@example.edu)")
			}
			return nil
		}},
	{Name: "instanceProfile", Type: "string", Description: "existing instance profile for all three instances; then no IAM resources",
		Parse: optional(func(c *labConfig) *string { return &c.InstanceProfile }, profileNameRe, "an instance profile name is 1 to 128 of letters, digits and +=,.@_-")},
	{Name: "bucketName", Type: "string", Description: "notebook bucket name; default auto-named",
		Parse: func(c *labConfig, v string) error {
			if c.BucketName = v; v == "" {
				return nil
			}
			return checkBucketName(v)
		}},
	{Name: "notebookPrefix", Type: "string", Default: "hol02", Description: "folder of the notebooks in the bucket",
		Parse: func(c *labConfig, v string) error {
			c.NotebookPrefix = v
			if first, _, _ := strings.Cut(v, "/"); first == labFilesFolder {
				return fmt.Errorf("%s/ holds the lab's own files (the certificate client, the hub's proxy), which notebooks must not overwrite: choose another folder", labFilesFolder)
			}
			for _, seg := range strings.Split(v, "/") {
				if !prefixSegmentRe.MatchString(seg) || len(v) > maxNotebookPrefixLen {
					return errors.New("folder names of letters, digits and ._- separated by single slashes, no leading or trailing slash")
				}
			}
			return nil
		}},
	{Name: "voilaDomain", Type: "string", Description: "DNS name for the Voila site's certificate and voilaUrl (point its A record at voilaPublicIp); default the Elastic IP",
		Parse: func(c *labConfig, v string) error {
			c.VoilaDomain = strings.ToLower(v)
			if d := c.VoilaDomain; d != "" && (!dnsNameRe.MatchString(d) || len(d) > maxDNSNameLen || net.ParseIP(d) != nil) {
				return errors.New("a DNS name such as lab.example.edu (not an IP address: the Elastic IP is certified by default)")
			}
			return nil
		}},
	{Name: "publishFolder", Type: "string", Default: "published", Description: "folder under notebookPrefix that Voila publishes; empty publishes every notebook",
		Parse: func(c *labConfig, v string) error {
			if c.PublishFolder = v; v != "" && (!prefixSegmentRe.MatchString(v) || len(v) > maxPublishFolderLen) {
				return fmt.Errorf(`one folder name of letters, digits and ._- (up to %d), or "" to publish every notebook`, maxPublishFolderLen)
			}
			return nil
		}},
	{Name: "syncInterval", Type: "string", Default: "5min", Description: "how often Jupyter pushes and Voila pulls (30s to 24h, units s, min, h)",
		Parse: func(c *labConfig, v string) error {
			d, span, err := parseSyncInterval(v)
			if err != nil {
				return err
			}
			c.SyncInterval = span
			if d < minSyncInterval || d > maxSyncInterval {
				return errors.New("must be between 30s and 24h")
			}
			return nil
		}},
	{Name: "forceDestroyBucket", Type: "boolean", Default: "false", Description: "only then may pulumi destroy delete a bucket that holds notebooks",
		Parse: func(c *labConfig, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("must be true or false")
			}
			c.ForceDestroy = b
			return nil
		}},
}

// Bounds of the configuration values.
const (
	minCIDRBits, maxCIDRBits         = 16, 28 // what AWS allows for a VPC or a subnet
	minSyncInterval, maxSyncInterval = 30 * time.Second, 24 * time.Hour
	maxNotebookPrefixLen             = 200
	maxPublishFolderLen              = 100
	maxDNSNameLen                    = 253
)

// badValue is an error about one part of a key's value (one CIDR of a list).
type badValue struct {
	Value string
	Err   error
}

func (b *badValue) Error() string { return b.Err.Error() }

// required stores a value that must match re.
func required(dst func(*labConfig) *string, re *regexp.Regexp, allowed string) func(*labConfig, string) error {
	return func(c *labConfig, v string) error {
		if *dst(c) = v; !re.MatchString(v) {
			return errors.New(allowed)
		}
		return nil
	}
}

// optional stores a value that may be empty, or else must match re.
func optional(dst func(*labConfig) *string, re *regexp.Regexp, allowed string) func(*labConfig, string) error {
	return func(c *labConfig, v string) error {
		if *dst(c) = v; v != "" && !re.MatchString(v) {
			return errors.New(allowed)
		}
		return nil
	}
}

// instanceType stores an EC2 instance type (with orDefault, "" leaves it
// to the program): a size EC2 does not have near a type the lab knows
// (t4g.mediun) is an error, and a type
// the lab does not know but is near one it does (t4q.medium) a warning,
// since only AWS knows every type (`pulumi up` checks the zone's offerings).
func instanceType(key string, orDefault bool, dst func(*labConfig) *string) func(*labConfig, string) error {
	return func(c *labConfig, v string) error {
		if *dst(c) = v; v == "" && orDefault {
			return nil
		}
		known := slices.Sorted(maps.Keys(instanceMemoryMiB))
		if !instanceTypeRe.MatchString(v) {
			return errors.New("not an EC2 instance type (for example t3.small)")
		}
		if _, ok := instanceMemoryMiB[v]; ok {
			return nil
		}
		near := nearest(v, known)
		if _, size, _ := strings.Cut(v, "."); near != "" && !instanceSizeRe.MatchString(size) {
			return fmt.Errorf("EC2 has no size %q: did you mean %s?", size, near)
		}
		if near != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%s = %q is not a type the lab knows: did you mean %s? (`pulumi up` refuses a type no zone of the region offers)", projectName, key, v, near))
		}
		return nil
	}
}

// wholeNumber stores an integer from lo to hi.
func wholeNumber(dst func(*labConfig) *int, lo, hi int) func(*labConfig, string) error {
	return func(c *labConfig, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("a whole number from %d to %d", lo, hi)
		}
		*dst(c) = n
		return nil
	}
}

// oneOf stores a value that must be one of the allowed values.
func oneOf(dst func(*labConfig) *string, allowed ...string) func(*labConfig, string) error {
	return func(c *labConfig, v string) error {
		*dst(c) = v
		if slices.Contains(allowed, v) {
			return nil
		}
		return fmt.Errorf("allowed values are %s and %s", strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
	}
}

// password stores a secret of at least minPasswordLength characters, or
// none (whether the stack needs it is its key's Needed). Its errors say how
// long it is, never what it is.
func password(dst func(*labConfig) *string) func(*labConfig, string) error {
	return func(c *labConfig, v string) error {
		if *dst(c) = v; v == "" {
			return nil
		}
		switch n := utf8.RuneCountInString(v); {
		case strings.TrimSpace(v) == "":
			return errors.New("is blank: a password needs at least 12 characters")
		case n < minPasswordLength:
			return fmt.Errorf("is %d characters long: a password needs at least %d", n, minPasswordLength)
		}
		return nil
	}
}

// narrowAdminCidrs is the one-liner that lets only the deployer's address SSH.
const narrowAdminCidrs = "`pulumi config set --path 'adminCidrs[0]' \"$(curl -s https://checkip.amazonaws.com)/32\"`"

// secretHint completes the error for a needed secret that is not set.
var secretHint = map[string]string{
	"vpnAdminPassword":    " (at least 12 characters)",
	"jupyterPassword":     " (at least 12 characters; a team lab sets members instead)",
	"wireguardPrivateKey": " (`go run . vpn keygen` prints a key pair; its public half becomes the output vpnServerPublicKey)",
}

// openVPNFreeConnections is how many VPN connections OpenVPN Access Server
// admits at once without a licence (openvpn.net's licensing FAQ).
const openVPNFreeConnections = 2

// academyInstanceProfile is the instance profile AWS Academy Learner Lab
// accounts offer (they cannot create IAM roles).
const academyInstanceProfile = "LabInstanceProfile"

// hasMembers says whether a members value lists anyone.
func hasMembers(v string) bool {
	var list []json.RawMessage
	return json.Unmarshal([]byte(v), &list) == nil && len(list) > 0
}

// cidr stores a VPC or subnet range.
func cidr(dst func(*labConfig) *netip.Prefix) func(*labConfig, string) error {
	return func(c *labConfig, v string) error {
		p, err := parseCIDR(v)
		if err != nil {
			return err
		}
		if p.Bits() < minCIDRBits || p.Bits() > maxCIDRBits {
			return fmt.Errorf("AWS allows VPC and subnet sizes from /%d to /%d", minCIDRBits, maxCIDRBits)
		}
		*dst(c) = p
		return nil
	}
}

// parseAdminCidrs stores the list of CIDRs that may SSH to the VPN; each bad
// or repeated CIDR is an error of its own.
func parseAdminCidrs(c *labConfig, v string) error {
	var admin []string
	if err := json.Unmarshal([]byte(v), &admin); err != nil {
		return errors.New(`must be a list of IPv4 CIDRs, for example ["203.0.113.7/32"]`)
	}
	var errs []error
	seen := map[netip.Prefix]bool{}
	for _, a := range admin {
		p, err := parseCIDR(a)
		switch {
		case err != nil:
			errs = append(errs, &badValue{a, err})
		case seen[p]:
			errs = append(errs, &badValue{a, errors.New("listed twice: each CIDR once (it would declare the same rule twice)")})
		default:
			seen[p] = true
			c.AdminCidrs = append(c.AdminCidrs, p)
		}
	}
	return errors.Join(errs...)
}

// labConfig is the validated configuration of one stack.
type labConfig struct {
	SSHPublicKey     string
	KeyName          string
	VPNAdminPassword string
	JupyterPassword  string
	VPN              vpnKind
	// WireGuardPrivateKey is the server's key (vpn: wireguard), and
	// WireGuardPublicKey its public half.
	WireGuardPrivateKey string
	WireGuardPublicKey  string
	Members             []member // none: a single-user lab
	NamePrefix          string
	VPCCidr             netip.Prefix
	DMZCidr             netip.Prefix
	ProductionCidr      netip.Prefix
	ResearchCidr        netip.Prefix
	AvailabilityZone    string // "" lets the program choose (zone.go)
	AdminCidrs          []netip.Prefix
	ResearchEgress      string
	VPNInstanceType     string
	VoilaType           string
	JupyterType         string
	// A team's Jupyter server: each member's memory cap, the members at
	// work at once (0: activeByDefault), and how the server is sized.
	MemberMemoryMiB  int
	ActiveMembers    int
	Hub              *hubSizing // nil: a single researcher's lab
	InstanceProfile  string
	BucketName       string // "" means auto-named
	NotebookPrefix   string
	PublishFolder    string // "" publishes the whole prefix
	VoilaDomain      string // "" certifies the Voila Elastic IP
	SyncInterval     string // systemd time span, e.g. 5min
	ForceDestroy     bool
	LabState         string  // labRunning or labStopped
	IdleStopMinutes  int     // 0 means never
	MonthlyBudgetUSD float64 // 0 means no budget
	BudgetEmail      string
	Region           string // aws:region, "" when not configured
	Stack            string
	Org              string // the Pulumi organization of the stack
	// Warnings are what the configuration does that its owner should know;
	// `pulumi up` and the plan print them.
	Warnings []string
}

// team says whether the lab serves a team (members) or one researcher.
func (c *labConfig) team() bool { return len(c.Members) > 0 }

var (
	namePrefixRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,23}$`)
	instanceTypeRe  = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	instanceSizeRe  = regexp.MustCompile(`^(nano|micro|small|medium|large|[1-9]?[0-9]*xlarge|metal(-[0-9]+xl)?)$`)
	profileNameRe   = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	keyNameRe       = regexp.MustCompile(`^[\x20-\x7e]{1,255}$`)
	zoneRe          = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$`)
	dnsNameRe       = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	bucketRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ipLikeRe        = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
	prefixSegmentRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	syncIntervalRe  = regexp.MustCompile(`^([1-9][0-9]*) ?([a-z]+)$`)
)

// exampleSSHKeyBlob is the key of the example stack files (the Ed25519
// point 00 01 … 1f, which nobody holds the private half of): a stack must
// bring its own.
const exampleSSHKeyBlob = "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"

// sshKeyTypes are the OpenSSH key types EC2 can import.
var sshKeyTypes = map[string]bool{
	"ssh-rsa": true, "ssh-ed25519": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
}

// stackKeysKey is where withStackKeys keeps the stack's configuration keys.
type stackKeysKey struct{}

// withStackKeys attaches the name of every key of the stack's configuration
// ("research-lab:keyName", "aws:region") to ctx, for createInfrastructure:
// the Pulumi context reads a key but cannot list them, and the list is what
// names a misspelt key. Under the CLI, main passes what the language host
// gave; an inline caller (the Automation API) passes its stack's keys.
func withStackKeys(ctx *pulumi.Context, keys []string) *pulumi.Context {
	return ctx.WithValue(stackKeysKey{}, slices.Clone(keys))
}

// loadConfig reads every key of the stack's configuration through the
// Pulumi context and validates all of them before anything is declared. It
// reports every bad value at once.
func loadConfig(ctx *pulumi.Context) (*labConfig, error) {
	keys, ok := ctx.Value(stackKeysKey{}).([]string)
	if !ok {
		return nil, errors.New("the stack's configuration keys are not on the Pulumi context: attach them with withStackKeys")
	}
	region, _ := ctx.GetConfig("aws:region")
	c, err := parseConfig(ctx.GetConfig, keys, ctx.IsConfigSecret, region, ctx.Stack())
	if err != nil {
		return nil, err
	}
	c.Org = ctx.Organization()
	return c, nil
}

// parseConfig is loadConfig without the Pulumi context. get returns a key's raw
// value ("research-lab:name"); keys are every key of the stack's
// configuration, to catch misspelt ones; isSecret says whether the stack
// holds a key as a secret.
func parseConfig(get func(string) (string, bool), keys []string, isSecret func(string) bool, region, stack string) (*labConfig, error) {
	errs, meant := unknownKeys(keys, get)
	bad := func(key, value string, err error) {
		errs = append(errs, fmt.Errorf("%s:%s = %q: %w", projectName, key, abbreviate(value), err))
	}
	value := func(key string) string {
		if k, ok := meant[key]; ok {
			if v, ok := get(k); ok {
				return v // already named as misspelt: read as meant
			}
		}
		if v, ok := get(projectName + ":" + key); ok {
			return v
		}
		return configDefault(key)
	}

	c := &labConfig{Region: region, Stack: stack}
	if region != "" {
		// It is written into the servers' configuration: only a region name.
		if err := checkRegion(region); err != nil {
			errs = append(errs, fmt.Errorf("aws:region = %q: %w", abbreviate(region), err))
		}
	}
	valid := map[string]bool{}
	for _, k := range configKeys {
		v := value(k.Name)
		err := k.Parse(c, v)
		valid[k.Name] = err == nil
		if err == nil {
			continue
		}
		parts := []error{err}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			parts = joined.Unwrap()
		}
		for _, part := range parts {
			var b *badValue
			var e *badEntry
			switch {
			case errors.As(part, &e): // names the entry, never echoes it
				errs = append(errs, fmt.Errorf("%s:%s%w", projectName, k.Name, part))
			case k.Secret || k.HoldsSecrets: // never echo a secret
				errs = append(errs, fmt.Errorf("%s:%s %w", projectName, k.Name, part))
			case errors.As(part, &b):
				bad(k.Name, b.Value, b.Err)
			default:
				bad(k.Name, v, part)
			}
		}
	}

	// Rules that span several keys.
	switch {
	case c.SSHPublicKey == "" && c.KeyName == "":
		bad("sshPublicKey", "", errors.New("set exactly one of sshPublicKey (an OpenSSH public key) and keyName (an existing EC2 key pair)"))
	case c.SSHPublicKey != "" && c.KeyName != "":
		bad("keyName", c.KeyName, errors.New("set exactly one of sshPublicKey and keyName, not both"))
	}
	cidrs := []struct {
		key string
		p   netip.Prefix
	}{{"dmzCidr", c.DMZCidr}, {"productionCidr", c.ProductionCidr}, {"researchCidr", c.ResearchCidr}}
	if valid["vpcCidr"] && valid["dmzCidr"] && valid["productionCidr"] && valid["researchCidr"] {
		for i, s := range cidrs {
			if !c.VPCCidr.Contains(s.p.Addr()) || s.p.Bits() < c.VPCCidr.Bits() {
				bad(s.key, s.p.String(), fmt.Errorf("must lie inside vpcCidr %s", c.VPCCidr))
			}
			for _, o := range cidrs[i+1:] {
				if s.p.Overlaps(o.p) {
					bad(o.key, o.p.String(), fmt.Errorf("overlaps %s %s; the three subnets must not overlap", s.key, s.p))
				}
			}
		}
	}
	if valid["adminCidrs"] && slices.Contains(c.AdminCidrs, netip.MustParsePrefix("0.0.0.0/0")) {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s:adminCidrs lets anyone on the internet try SSH on the VPN instance (with your key only); narrow it to your address: %s", projectName, narrowAdminCidrs))
	}
	if z := c.AvailabilityZone; z != "" && valid["availabilityZone"] && region != "" {
		if err := checkZoneInRegion(z, region); err != nil {
			bad("availabilityZone", z, err)
		}
	}
	// Secrets this stack needs, and those it does not use. Pulumi.yaml
	// cannot mark them secret (the CLI refuses a secret key with a plain
	// default, and a key without one is required of every stack), so the
	// program refuses one set in plain text.
	for _, k := range configKeys {
		if k.Needed == nil {
			continue
		}
		set := value(k.Name) != ""
		if set && !isSecret(projectName+":"+k.Name) {
			errs = append(errs, fmt.Errorf("%s:%s is in plain text: set it with `pulumi config set --secret %s`", projectName, k.Name, k.Name))
		}
		if !valid[k.Name] {
			continue
		}
		switch needed := k.Needed(value); {
		case needed && !set:
			errs = append(errs, fmt.Errorf("%s:%s is missing: set it with `pulumi config set --secret %s`%s", projectName, k.Name, k.Name, secretHint[k.Name]))
		case !needed && set:
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%s is set but not used by this lab (%s)", projectName, k.Name, k.Description))
		}
	}
	if valid["vpn"] && valid["wireguardPrivateKey"] && c.WireGuardPrivateKey != "" {
		key, _ := wgkey.Parse(c.WireGuardPrivateKey)
		pub, err := wgkey.Public(key)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:wireguardPrivateKey %w", projectName, err))
		}
		c.WireGuardPublicKey = pub
	}
	membersKey := projectName + ":members"
	if k, ok := meant["members"]; ok {
		membersKey = k
	}
	if slices.ContainsFunc(c.Members, func(m member) bool { return m.Password != "" }) && !isSecret(membersKey) {
		errs = append(errs, fmt.Errorf("%s:members holds passwords in plain text: set each with `pulumi config set --secret --path 'members[N].password'`", projectName))
	}
	if valid["vpn"] && valid["members"] {
		for _, err := range checkMembers(c, c.WireGuardPublicKey) {
			errs = append(errs, fmt.Errorf("%s:members%w", projectName, err))
		}
		for _, m := range c.Members {
			if c.VPN != vpnWireGuard && m.WireGuardPublicKey != "" {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s:members: %s's wireguardPublicKey is used only with vpn: wireguard", projectName, m.Name))
			}
		}
		if c.VPN == vpnWireGuard && !c.team() {
			bad("vpn", string(c.VPN), errors.New("WireGuard admits only the members' keys, and this lab has no members: list yourself as one (`pulumi config set --path 'members[0].name' <you>`, with your password and key), or use openvpn-as"))
		}
		errs = append(errs, checkMemberListSizes(c)...)
		if c.VPN == vpnOpenVPNAS && len(c.Members) > openVPNFreeConnections {
			c.Warnings = append(c.Warnings, fmt.Sprintf("a team of %d on OpenVPN Access Server: without a licence it admits %d VPN connections at once (each device counts); buy a licence, or set vpn: wireguard (no limit, and cheaper)",
				len(c.Members), openVPNFreeConnections))
		}
	}
	if valid["vpn"] && valid["vpnInstanceType"] {
		spec := vpnKinds[c.VPN]
		if c.VPNInstanceType == "" {
			c.VPNInstanceType = spec.DefaultType
		} else if mem, known := instanceMemoryMiB[c.VPNInstanceType]; known && mem < spec.MinMemoryMiB {
			bad("vpnInstanceType", c.VPNInstanceType, fmt.Errorf("has %d MiB of memory; %s needs at least %d MiB (for example %s)",
				mem, spec.Name, spec.MinMemoryMiB, spec.DefaultType))
		}
	}
	if valid["members"] && valid["jupyterInstanceType"] && valid["memberMemoryMiB"] && valid["activeMembers"] {
		sizeJupyter(c, value, bad)
	}
	budget := value("monthlyBudgetUsd")
	if budget != "" && c.InstanceProfile == academyInstanceProfile {
		bad("monthlyBudgetUsd", budget, fmt.Errorf("this is an AWS Academy stack (instanceProfile %s), and Learner Lab has no AWS Budgets: creating the budget would fail halfway through the deploy. Unset monthlyBudgetUsd and budgetEmail; the Learner Lab's page shows the credit you have used",
			academyInstanceProfile))
	}
	switch {
	case c.BudgetEmail != "" && budget == "" && valid["budgetEmail"]:
		bad("budgetEmail", c.BudgetEmail, errors.New("set monthlyBudgetUsd too: the alerts are percentages of that budget"))
	case c.BudgetEmail == "" && budget != "":
		bad("monthlyBudgetUsd", budget, errors.New("set budgetEmail too: a budget without an address alerts nobody"))
	}

	if len(errs) > 0 {
		return nil, &configError{Stack: stack, Errs: errs}
	}
	return c, nil
}

// publishedPrefix is what Voila serves of the bucket: "<prefix>/<publishFolder>",
// or with a team every member's "<prefix>/*/<publishFolder>"; or the whole
// "<prefix>" with publishFolder "". A pattern in a team lab: for IAM.
func (c *labConfig) publishedPrefix() string {
	switch {
	case c.PublishFolder == "":
		return c.NotebookPrefix
	case c.team():
		return c.NotebookPrefix + "/*/" + c.PublishFolder
	}
	return c.NotebookPrefix + "/" + c.PublishFolder
}

// sampleKey is where the sample notebook is published: in a team lab, in the
// shared folder's publish folder.
func (c *labConfig) sampleKey() string {
	folder := c.NotebookPrefix
	if c.team() {
		folder += "/" + sharedFolder
	}
	if c.PublishFolder != "" {
		folder += "/" + c.PublishFolder
	}
	return folder + "/" + sampleNotebookName
}

// name is the Name tag of a resource: <namePrefix>-<suffix>.
func (c *labConfig) name(suffix string) string { return c.NamePrefix + "-" + suffix }

// labTag is the tag whose value is this lab's alone (the Pulumi stack's fully
// qualified name): the budget counts what carries it.
const labTag = "lab"

// tags are the tags of every taggable resource.
func (c *labConfig) tags(suffix string) pulumi.StringMap {
	return pulumi.StringMap{
		"Name":    pulumi.String(c.name(suffix)),
		"project": pulumi.String(projectName),
		"stack":   pulumi.String(c.Stack),
		labTag:    pulumi.String(c.labID()),
	}
}

// labID names this lab uniquely: <organization>/<project>/<stack>.
func (c *labConfig) labID() string { return c.Org + "/" + projectName + "/" + c.Stack }

// logical is the fixed logical name of a resource, its identity in the
// state, and the alias that keeps it in a stack made when logical names
// followed namePrefix. It is the name the resource has with the default
// prefix (HOL02-<suffix>) whatever namePrefix says, so a new prefix changes
// Name tags and nothing else.
func (c *labConfig) logical(suffix string) (string, pulumi.ResourceOption) {
	fixed := logicalName(suffix)
	var aliases []pulumi.Alias
	if own := c.name(suffix); own != fixed {
		aliases = append(aliases, pulumi.Alias{Name: pulumi.String(own)})
	}
	return fixed, pulumi.Aliases(aliases)
}

// logicalName is the fixed logical name of the resource with a Name tag
// suffix: HOL02-<suffix>.
func logicalName(suffix string) string { return configDefault("namePrefix") + "-" + suffix }

// formerNames aliases a resource whose logical name is now fixed to the names
// it had when they were built from namePrefix (with the default prefix and
// with this stack's), so existing stacks keep it instead of replacing it.
func (c *labConfig) formerNames(name func(prefix string) string) pulumi.ResourceOption {
	former := name(configDefault("namePrefix"))
	aliases := []pulumi.Alias{{Name: pulumi.String(former)}}
	if own := name(c.NamePrefix); own != former {
		aliases = append(aliases, pulumi.Alias{Name: pulumi.String(own)})
	}
	return pulumi.Aliases(aliases)
}

// configError is every bad value of a stack's configuration, counted.
type configError struct {
	Stack string
	Errs  []error
}

func (e *configError) Error() string {
	n := fmt.Sprintf("%d errors", len(e.Errs))
	if len(e.Errs) == 1 {
		n = "1 error"
	}
	return fmt.Sprintf("invalid configuration of stack %q (%s), nothing was declared:\n%v", e.Stack, n, errors.Join(e.Errs...))
}

func (e *configError) Unwrap() []error { return e.Errs }

func configDefault(key string) string {
	for _, k := range configKeys {
		if k.Name == key {
			return k.Default
		}
	}
	panic("no such configuration key: " + key)
}

// unknownKeys reports the keys the program would otherwise silently ignore:
// a misspelt key of the project's namespace (research-lab:labstate), a key of
// the project's in another namespace, misspelt (research_lab:keyName) or the
// AWS provider's (aws:keyName), an AWS provider key in the project's
// namespace (research-lab:region), and a misspelt AWS provider key
// (aws:regoin). Each is named once, with the key meant when one is near.
// meant maps each project key that such a key was meant for to the key as
// written, so the rest of the checks read its value there (get reads a
// key's value): one mistake, one error, not one more for every rule the
// missing value breaks.
func unknownKeys(keys []string, get func(string) (string, bool)) (errs []error, meant map[string]string) {
	known := map[string]bool{}
	var names []string
	for _, k := range configKeys {
		known[k.Name] = true
		names = append(names, k.Name)
	}
	keys = slices.Sorted(slices.Values(keys))
	meant = map[string]string{}
	for _, k := range keys {
		ns, name, ok := strings.Cut(k, ":")
		if !ok {
			continue
		}
		intended := name
		if !known[name] {
			intended = nearest(name, names)
		}
		switch {
		case ns == projectName && awsProviderKeys[name]:
			errs = append(errs, fmt.Errorf("%s: not read: did you mean aws:%s? (the AWS provider's key: `pulumi config set aws:%s ...`)", k, name, name))
		case ns == projectName && !known[name] && intended != "":
			errs = append(errs, fmt.Errorf("%s: unknown configuration key: did you mean %s:%s?", k, projectName, intended))
		case ns == projectName && !known[name]:
			errs = append(errs, fmt.Errorf("%s: unknown configuration key (docs/reference.md, Configuration, lists them)", k))
		case ns != projectName && intended != "" && (ns == "aws" && known[name] || nearest(ns, []string{projectName}) != ""):
			errs = append(errs, fmt.Errorf("%s: not read: did you mean %s:%s? (`pulumi config set %s ...` sets it in the project's namespace)", k, projectName, intended, intended))
		case ns == "aws" && !awsProviderKeys[name]:
			if near := nearest(name, slices.Sorted(maps.Keys(awsProviderKeys))); near != "" {
				errs = append(errs, fmt.Errorf("%s: not a key of the AWS provider: did you mean aws:%s?", k, near))
			}
			continue
		default:
			continue
		}
		// The engine hands over the project's defaults too: a key at its
		// default is one the stack did not set.
		if v, set := get(projectName + ":" + intended); intended != "" && known[intended] && meant[intended] == "" &&
			(!set || v == configDefault(intended)) {
			meant[intended] = k
		}
	}
	return errs, meant
}

// checkZoneInRegion rejects a zone of another region than the stack's.
func checkZoneInRegion(zone, region string) error {
	if !strings.HasPrefix(zone, region) || len(zone) != len(region)+1 {
		return fmt.Errorf("not a zone of the region %s (for example %sa)", region, region)
	}
	return nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("not an IPv4 CIDR (for example 10.0.0.0/16)")
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits are set; did you mean %s?", p.Masked())
	}
	return p, nil
}

// checkSSHPublicKey accepts one line in OpenSSH authorized_keys format whose
// key type EC2 can import and whose blob names the same type.
func checkSSHPublicKey(s string) error {
	if strings.Contains(s, "PRIVATE KEY") || strings.HasPrefix(s, "-----BEGIN") {
		// Never echoed: only the armour's first line is named.
		return &badValue{"-----BEGIN ... PRIVATE KEY-----", errors.New("this is a private key, which never leaves your machine: set the public one, the .pub file beside it: `pulumi config set sshPublicKey \"$(cat ~/.ssh/id_ed25519.pub)\"`")}
	}
	fields := strings.Fields(s)
	if len(fields) < 2 || strings.Contains(s, "\n") {
		return fmt.Errorf("not an OpenSSH public key: want one line \"<type> <base64> [comment]\"")
	}
	if !sshKeyTypes[fields[0]] {
		return fmt.Errorf("key type %q cannot be imported into EC2: use ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521", fields[0])
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 4 {
		return fmt.Errorf("the key data is not valid base64")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n)+4 > uint64(len(blob)) || string(blob[4:4+n]) != fields[0] {
		return fmt.Errorf("the key data does not hold a %s key", fields[0])
	}
	if fields[1] == exampleSSHKeyBlob {
		return errors.New("this is the example key of the shipped stack files, which nobody holds: replace it with your public key (~/.ssh/id_ed25519.pub): `pulumi config set sshPublicKey \"$(cat ~/.ssh/id_ed25519.pub)\"`")
	}
	return nil
}

// checkBucketName applies S3's general purpose bucket naming rules.
func checkBucketName(b string) error {
	switch {
	case !bucketRe.MatchString(b):
		return fmt.Errorf("3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit")
	case strings.Contains(b, ".."), strings.Contains(b, ".-"), strings.Contains(b, "-."):
		return fmt.Errorf("no two adjacent periods, and no period next to a hyphen")
	case ipLikeRe.MatchString(b):
		return fmt.Errorf("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return fmt.Errorf("must not start with %q", p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return fmt.Errorf("must not end with %q", s)
		}
	}
	return nil
}

func parseSyncInterval(s string) (time.Duration, string, error) {
	m := syncIntervalRe.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil || syncUnits[m[2]] == "" {
		return 0, "", fmt.Errorf("want a whole number and a unit (s, min or h; also m, sec, minutes, hours), for example 5min")
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n > 1_000_000 {
		return 0, "", fmt.Errorf("number out of range")
	}
	unit := syncUnits[m[2]]
	d := map[string]time.Duration{"s": time.Second, "min": time.Minute, "h": time.Hour}[unit]
	return time.Duration(n) * d, m[1] + unit, nil
}

// syncUnits are the units people write for a sync interval, each with the
// one the servers' timers are written in (a systemd time span).
var syncUnits = map[string]string{
	"s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
	"m": "min", "min": "min", "mins": "min", "minute": "min", "minutes": "min",
	"h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
}

// isEmailAddress accepts a bare address such as name@example.org, without a
// display name, that AWS Budgets can send to.
func isEmailAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\n")
}

// abbreviate keeps error messages short for long values such as public keys.
func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
