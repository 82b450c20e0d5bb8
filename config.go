package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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
// truth for names, types, defaults and descriptions: Pulumi.yaml and the README's
// table are checked against it by TestConfigKeysAgreeEverywhere.
type configKey struct {
	Name        string
	Type        string // string, integer, boolean or array (of strings), as in Pulumi.yaml
	Default     string // the value in configuration syntax; "" means none
	Secret      bool
	Description string
}

var configKeys = []configKey{
	{Name: "sshPublicKey", Type: "string", Description: "OpenSSH public key imported as the lab key pair; or set keyName"},
	{Name: "keyName", Type: "string", Description: "existing EC2 key pair instead (for example vockey); exactly one of the two"},
	{Name: "vpnAdminPassword", Type: "string", Secret: true, Description: "password of the OpenVPN AS admin user openvpn"},
	{Name: "jupyterPassword", Type: "string", Secret: true, Description: "Jupyter login password (stored only hashed on the instance)"},
	{Name: "namePrefix", Type: "string", Default: "HOL02", Description: "prefix of every Name tag"},
	{Name: "vpcCidr", Type: "string", Default: "10.0.0.0/16", Description: "VPC address range (/16 to /28)"},
	{Name: "dmzCidr", Type: "string", Default: "10.0.1.0/24", Description: "DMZ subnet (VPN); inside vpcCidr, no overlap"},
	{Name: "productionCidr", Type: "string", Default: "10.0.2.0/24", Description: "Production subnet (Voila); inside vpcCidr, no overlap"},
	{Name: "researchCidr", Type: "string", Default: "10.0.3.0/24", Description: "Research subnet (Jupyter); inside vpcCidr, no overlap"},
	{Name: "availabilityZone", Type: "string", Description: "zone of the three subnets; default the region's first"},
	{Name: "adminCidrs", Type: "array", Default: `["0.0.0.0/0"]`, Description: "IPv4 CIDRs that may SSH to the VPN instance"},
	{Name: "researchEgress", Type: "string", Default: egressDefault, Description: "internet egress of the Research subnet: nat-instance, nat-gateway, internet-gateway or none"},
	{Name: "vpnInstanceType", Type: "string", Default: "t4g.micro", Description: "VPN instance type"},
	{Name: "voilaInstanceType", Type: "string", Default: "t4g.small", Description: "Voila instance type"},
	{Name: "jupyterInstanceType", Type: "string", Default: "t4g.medium", Description: "Jupyter instance type"},
	{Name: "labState", Type: "string", Default: labRunning, Description: "running or stopped: pulumi up starts or stops every instance of the lab"},
	{Name: "jupyterIdleStopMinutes", Type: "integer", Default: "0", Description: "Jupyter powers its instance off after this many idle minutes (0 = never, at most a week)"},
	{Name: "monthlyBudgetUsd", Type: "string", Description: "optional AWS Budgets monthly cost budget for the lab, in US dollars"},
	{Name: "budgetEmail", Type: "string", Description: "address that the budget alerts at 80% and 100% actual and 100% forecast; needs monthlyBudgetUsd"},
	{Name: "instanceProfile", Type: "string", Description: "existing instance profile for all three instances; then no IAM resources"},
	{Name: "bucketName", Type: "string", Description: "notebook bucket name; default auto-named"},
	{Name: "notebookPrefix", Type: "string", Default: "hol02", Description: "folder of the notebooks in the bucket"},
	{Name: "voilaDomain", Type: "string", Description: "DNS name for the Voila site's certificate and voilaUrl (point its A record at voilaPublicIp); default the Elastic IP"},
	{Name: "publishFolder", Type: "string", Default: "published", Description: "folder under notebookPrefix that Voila publishes; empty publishes every notebook"},
	{Name: "syncInterval", Type: "string", Default: "5min", Description: "how often Jupyter pushes and Voila pulls (30s to 24h, units s, min, h)"},
	{Name: "forceDestroyBucket", Type: "boolean", Default: "false", Description: "only then may pulumi destroy delete a bucket that holds notebooks"},
}

// labConfig is the validated configuration of one stack.
type labConfig struct {
	SSHPublicKey     string
	KeyName          string
	VPNAdminPassword string
	JupyterPassword  string
	NamePrefix       string
	VPCCidr          netip.Prefix
	DMZCidr          netip.Prefix
	ProductionCidr   netip.Prefix
	ResearchCidr     netip.Prefix
	AvailabilityZone string // "" means the region's first zone
	AdminCidrs       []netip.Prefix
	ResearchEgress   string
	VPNInstanceType  string
	VoilaType        string
	JupyterType      string
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
}

var (
	namePrefixRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,23}$`)
	instanceTypeRe  = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	profileNameRe   = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	keyNameRe       = regexp.MustCompile(`^[\x20-\x7e]{1,255}$`)
	zoneRe          = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$`)
	regionRe        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	dnsNameRe       = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	bucketRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ipLikeRe        = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
	prefixSegmentRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	syncIntervalRe  = regexp.MustCompile(`^([1-9][0-9]*)(s|min|h)$`)
)

// sshKeyTypes are the OpenSSH key types EC2 can import.
var sshKeyTypes = map[string]bool{
	"ssh-rsa": true, "ssh-ed25519": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
}

// loadConfig reads every key of the stack's configuration and validates all of
// them before anything is declared. It reports every bad value at once.
func loadConfig(ctx *pulumi.Context) (*labConfig, error) {
	get := func(key string) (string, bool) { return ctx.GetConfig(key) }
	region, _ := ctx.GetConfig("aws:region")
	return parseConfig(get, os.Getenv(pulumi.EnvConfig), region, ctx.Stack())
}

// parseConfig is loadConfig without the Pulumi context. get returns a key's raw
// value ("research-lab:name"); allJSON is the whole stack configuration as the
// engine passes it, used to catch misspelt keys.
func parseConfig(get func(string) (string, bool), allJSON, region, stack string) (*labConfig, error) {
	var errs []error
	bad := func(key, value, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%s = %q: %s", projectName, key, value, fmt.Sprintf(format, args...)))
	}
	value := func(key string) string {
		if v, ok := get(projectName + ":" + key); ok {
			return v
		}
		return configDefault(key)
	}

	errs = append(errs, unknownKeys(allJSON)...)

	c := &labConfig{Region: region, Stack: stack}
	if region != "" && !regionRe.MatchString(region) {
		// It is written into the servers' configuration: only a region name.
		errs = append(errs, fmt.Errorf("aws:region = %q: not an AWS region name (for example us-east-1)", region))
	}
	c.SSHPublicKey = strings.TrimSpace(value("sshPublicKey"))
	c.KeyName = value("keyName")
	switch {
	case c.SSHPublicKey == "" && c.KeyName == "":
		bad("sshPublicKey", "", "set exactly one of sshPublicKey (an OpenSSH public key) and keyName (an existing EC2 key pair)")
	case c.SSHPublicKey != "" && c.KeyName != "":
		bad("keyName", c.KeyName, "set exactly one of sshPublicKey and keyName, not both")
	case c.SSHPublicKey != "":
		if err := checkSSHPublicKey(c.SSHPublicKey); err != nil {
			bad("sshPublicKey", abbreviate(c.SSHPublicKey), "%v", err)
		}
	default:
		if !keyNameRe.MatchString(c.KeyName) {
			bad("keyName", c.KeyName, "an EC2 key pair name is 1 to 255 printable ASCII characters")
		}
	}

	for _, s := range []struct {
		key string
		dst *string
	}{{"vpnAdminPassword", &c.VPNAdminPassword}, {"jupyterPassword", &c.JupyterPassword}} {
		*s.dst = value(s.key)
		switch n := utf8.RuneCountInString(*s.dst); {
		case strings.TrimSpace(*s.dst) == "":
			errs = append(errs, fmt.Errorf("%s:%s is missing or empty: set it with `pulumi config set --secret %s` (at least %d characters)", projectName, s.key, s.key, minPasswordLength))
		case n < minPasswordLength:
			// The value is a secret: say how long it is, never what it is.
			errs = append(errs, fmt.Errorf("%s:%s is %d characters long: a password needs at least %d", projectName, s.key, n, minPasswordLength))
		}
	}

	c.NamePrefix = value("namePrefix")
	if !namePrefixRe.MatchString(c.NamePrefix) {
		bad("namePrefix", c.NamePrefix, "1 to 24 letters, digits or hyphens, starting with a letter")
	}

	cidrs := []struct {
		key string
		dst *netip.Prefix
	}{{"vpcCidr", &c.VPCCidr}, {"dmzCidr", &c.DMZCidr}, {"productionCidr", &c.ProductionCidr}, {"researchCidr", &c.ResearchCidr}}
	cidrsOK := true
	for _, s := range cidrs {
		v := value(s.key)
		p, err := parseCIDR(v)
		if err == nil && (p.Bits() < 16 || p.Bits() > 28) {
			err = fmt.Errorf("AWS allows VPC and subnet sizes from /16 to /28")
		}
		if err != nil {
			bad(s.key, v, "%v", err)
			cidrsOK = false
			continue
		}
		*s.dst = p
	}
	if cidrsOK {
		subnets := cidrs[1:]
		for i, s := range subnets {
			if !c.VPCCidr.Contains(s.dst.Addr()) || s.dst.Bits() < c.VPCCidr.Bits() {
				bad(s.key, s.dst.String(), "must lie inside vpcCidr %s", c.VPCCidr)
			}
			for _, o := range subnets[i+1:] {
				if s.dst.Overlaps(*o.dst) {
					bad(o.key, o.dst.String(), "overlaps %s %s; the three subnets must not overlap", s.key, s.dst)
				}
			}
		}
	}

	c.AvailabilityZone = value("availabilityZone")
	if z := c.AvailabilityZone; z != "" {
		switch {
		case !zoneRe.MatchString(z):
			bad("availabilityZone", z, "not an availability zone name (for example us-east-1a)")
		case region != "":
			if err := checkZoneInRegion(z, region); err != nil {
				bad("availabilityZone", z, "%v", err)
			}
		}
	}

	adminRaw := value("adminCidrs")
	var admin []string
	if err := json.Unmarshal([]byte(adminRaw), &admin); err != nil {
		bad("adminCidrs", adminRaw, `must be a list of IPv4 CIDRs, for example ["203.0.113.7/32"]`)
	}
	seen := map[netip.Prefix]bool{}
	for _, a := range admin {
		p, err := parseCIDR(a)
		switch {
		case err != nil:
			bad("adminCidrs", a, "%v", err)
		case seen[p]:
			bad("adminCidrs", a, "listed twice: each CIDR once (it would declare the same rule twice)")
		default:
			seen[p] = true
			c.AdminCidrs = append(c.AdminCidrs, p)
		}
	}

	c.ResearchEgress = value("researchEgress")
	switch c.ResearchEgress {
	case egressNATInstance, egressNATGateway, egressIGW, egressNone:
	default:
		bad("researchEgress", c.ResearchEgress, "allowed values are %s, %s, %s and %s", egressNATInstance, egressNATGateway, egressIGW, egressNone)
	}

	c.LabState = value("labState")
	if c.LabState != labRunning && c.LabState != labStopped {
		bad("labState", c.LabState, "allowed values are %s and %s", labRunning, labStopped)
	}

	idle := value("jupyterIdleStopMinutes")
	if n, err := strconv.Atoi(idle); err != nil || n < 0 || n > maxIdleStopMinutes {
		bad("jupyterIdleStopMinutes", idle, "a whole number of minutes from 0 (never) to %d (a week)", maxIdleStopMinutes)
	} else {
		c.IdleStopMinutes = n
	}

	budget := value("monthlyBudgetUsd")
	if budget != "" {
		if f, err := strconv.ParseFloat(budget, 64); err != nil || !(f > 0) || math.IsInf(f, 0) {
			bad("monthlyBudgetUsd", budget, "a number of US dollars greater than 0, for example 50")
		} else {
			c.MonthlyBudgetUSD = f
		}
	}
	c.BudgetEmail = value("budgetEmail")
	switch {
	case c.BudgetEmail != "" && !isEmailAddress(c.BudgetEmail):
		bad("budgetEmail", c.BudgetEmail, "not an email address (for example teacher@example.edu)")
	case c.BudgetEmail != "" && budget == "":
		bad("budgetEmail", c.BudgetEmail, "set monthlyBudgetUsd too: the alerts are percentages of that budget")
	case c.BudgetEmail == "" && budget != "":
		bad("monthlyBudgetUsd", budget, "set budgetEmail too: a budget without an address alerts nobody")
	}

	for _, s := range []struct {
		key string
		dst *string
	}{{"vpnInstanceType", &c.VPNInstanceType}, {"voilaInstanceType", &c.VoilaType}, {"jupyterInstanceType", &c.JupyterType}} {
		*s.dst = value(s.key)
		if !instanceTypeRe.MatchString(*s.dst) {
			bad(s.key, *s.dst, "not an EC2 instance type (for example t3.small)")
		}
	}

	c.InstanceProfile = value("instanceProfile")
	if p := c.InstanceProfile; p != "" && !profileNameRe.MatchString(p) {
		bad("instanceProfile", p, "an instance profile name is 1 to 128 of letters, digits and +=,.@_-")
	}

	c.BucketName = value("bucketName")
	if b := c.BucketName; b != "" {
		if err := checkBucketName(b); err != nil {
			bad("bucketName", b, "%v", err)
		}
	}

	c.NotebookPrefix = value("notebookPrefix")
	for _, seg := range strings.Split(c.NotebookPrefix, "/") {
		if !prefixSegmentRe.MatchString(seg) || len(c.NotebookPrefix) > 200 {
			bad("notebookPrefix", c.NotebookPrefix, "folder names of letters, digits and ._- separated by single slashes, no leading or trailing slash")
			break
		}
	}

	c.PublishFolder = value("publishFolder")
	if f := c.PublishFolder; f != "" && (!prefixSegmentRe.MatchString(f) || len(f) > 100) {
		bad("publishFolder", f, `one folder name of letters, digits and ._- (up to 100), or "" to publish every notebook`)
	}

	c.VoilaDomain = strings.ToLower(value("voilaDomain"))
	if d := c.VoilaDomain; d != "" && (!dnsNameRe.MatchString(d) || len(d) > 253 || net.ParseIP(d) != nil) {
		bad("voilaDomain", d, "a DNS name such as lab.example.edu (not an IP address: the Elastic IP is certified by default)")
	}

	c.SyncInterval = value("syncInterval")
	if d, err := parseSyncInterval(c.SyncInterval); err != nil {
		bad("syncInterval", c.SyncInterval, "%v", err)
	} else if d < 30*time.Second || d > 24*time.Hour {
		bad("syncInterval", c.SyncInterval, "must be between 30s and 24h")
	}

	force := value("forceDestroyBucket")
	if b, err := strconv.ParseBool(force); err != nil {
		bad("forceDestroyBucket", force, "must be true or false")
	} else {
		c.ForceDestroy = b
	}

	if len(errs) > 0 {
		return nil, &configError{Stack: stack, Errs: errs}
	}
	return c, nil
}

// publishedPrefix is the bucket folder Voila serves: "<prefix>/<publishFolder>"
// or the whole "<prefix>".
func (c *labConfig) publishedPrefix() string {
	if c.PublishFolder == "" {
		return c.NotebookPrefix
	}
	return c.NotebookPrefix + "/" + c.PublishFolder
}

// formerNames aliases a resource whose logical name is now fixed to the names
// it had when they were built from namePrefix (with the default prefix and
// with this stack's), so existing stacks keep it instead of replacing it.
func (c *labConfig) formerNames(name func(prefix string) string) pulumi.ResourceOption {
	var aliases []pulumi.Alias
	for _, p := range []string{configDefault("namePrefix"), c.NamePrefix} {
		if len(aliases) == 0 || name(p) != name(configDefault("namePrefix")) {
			aliases = append(aliases, pulumi.Alias{Name: pulumi.String(name(p))})
		}
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

// unknownKeys reports keys of the project's namespace that the program does not
// read: a misspelt key would otherwise be silently ignored.
func unknownKeys(allJSON string) []error {
	if allJSON == "" {
		return nil
	}
	var all map[string]any
	if err := json.Unmarshal([]byte(allJSON), &all); err != nil {
		return []error{fmt.Errorf("stack configuration is not valid JSON: %w", err)}
	}
	known := map[string]bool{}
	var names []string
	for _, k := range configKeys {
		known[k.Name] = true
		names = append(names, k.Name)
	}
	var errs []error
	var keys []string
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, projectName+":")
		if ok && !known[name] {
			errs = append(errs, fmt.Errorf("%s: unknown configuration key; known keys are %s", k, strings.Join(names, ", ")))
		}
	}
	return errs
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

func parseSyncInterval(s string) (time.Duration, error) {
	m := syncIntervalRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("want a whole number and a unit s, min or h, for example 5min")
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n > 1_000_000 {
		return 0, fmt.Errorf("number out of range")
	}
	unit := map[string]time.Duration{"s": time.Second, "min": time.Minute, "h": time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
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
