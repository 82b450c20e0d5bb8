package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"strings"
	"text/template"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/crypto/argon2"
)

// userdataFS holds the cloud-config templates of the three servers and the
// scripts, units and configuration files they write.
//
//go:embed userdata
var userdataFS embed.FS

var userdataTemplates = mustParseUserdata()

// EC2 refuses userdata over 16 KiB; TestUserDataFitsEC2Limit keeps us under it.
const userDataLimit = 16 * 1024

// Where things live on the servers, and what they install.
const (
	jupyterHome        = "/srv/jupyter" // the jupyter user's, holding its notebooks
	jupyterNotebookDir = jupyterHome + "/notebooks"
	jupyterUser        = "jupyter"
	voilaNotebookDir   = "/srv/notebooks"
	voilaUser          = "voila"
	syncUser           = "notebook-sync"  // the sync's own user, one of imdsUsers
	voilaHome          = "/var/lib/voila" // root's: nothing a kernel writes there survives
	osUpdateCalendar   = "Sun *-*-* 00:00:00"
	// Every PyPI package's exact version (userdata/config/python-constraints.txt),
	// which pip installs with -c.
	pythonConstraints = "/etc/research-lab/python-constraints.txt"
	// OpenVPN Access Server's apt repository and its signing key, on the
	// host OpenVPN's Access Server instructions ("Installing from the
	// repository", https://openvpn.net/as-docs/ubuntu.html) name; it serves
	// both over HTTPS. vpnUserData derives VPNRepoHost, the origin
	// unattended-upgrades takes Access Server's updates from, from the first.
	openVPNRepoURL    = "https://packages.openvpn.net/as/debian"
	openVPNRepoKeyURL = "https://packages.openvpn.net/as-repo-public.asc"
	// The VPN's AWS CLI, version 2: AWS's aws-cli snap, which the VPN's
	// setup installs (scripts/aws-cli-snap.sh) and snapd keeps up to date.
	// The syncs call it by its path: no unit's PATH holds /snap/bin.
	vpnAWSCLI = "/snap/bin/aws"
)

var (
	// The packages each server installs from PyPI; their versions, and their
	// dependencies', are pythonConstraints.
	voilaPackages   = []string{"voila", "ipywidgets", "numpy", "pandas", "matplotlib"}
	jupyterPackages = []string{"notebook", "ipywidgets", "numpy", "pandas", "matplotlib"}
	voilaUnits      = []string{"voila.service", imdsGuardUnit, "notebook-pull.service", "notebook-pull.timer", "notebook-render.service",
		"os-update.service", "os-update.timer", "voila-certificate.service", "voila-certificate.timer"}
	jupyterUnits = []string{"jupyter.service", imdsGuardUnit, "notebook-restore.service", "notebook-push.service", "notebook-push.timer",
		"notebook-push-at-shutdown.service", "os-update.service", "os-update.timer"}
	natUnits = []string{"research-lab-nat.service", "os-update.service", "os-update.timer"}
	// A team's Jupyter server: JupyterHub, the members' sync, the notebook sync.
	hubUnits = []string{"jupyterhub.service", membersSlice, imdsGuardUnit, "research-lab-members.service", "research-lab-members.timer",
		"notebook-restore.service", "notebook-push.service", "notebook-push.timer", "notebook-push-at-shutdown.service",
		"os-update.service", "os-update.timer"}
	// With jupyterIdleStopMinutes: the instance powers off once no member's server has run for that long.
	hubIdleUnits = []string{"jupyter-team-idle.service", "jupyter-team-idle.timer"}
	// The hub and every member's server run from one venv, root's: the
	// single-user servers need jupyterhub-singleuser, and what members
	// install with %pip goes to their own user site.
	hubPackages = append([]string{"jupyterhub", "jupyterhub-systemdspawner"}, jupyterPackages...)
)

// A team's JupyterHub (members set): one Unix user, login, server and
// notebook folder per member, and a folder they share.
const (
	membersHome     = "/home"     // /home/<member>, the member's alone
	memberNotebooks = "notebooks" // /home/<member>/notebooks, the root of their server
	teamSharedDir   = jupyterHome + "/" + sharedFolder
	// The groups: every member (whom the hub lets log in), and the shared
	// folder's (the members and the sync). Underscores: no member can be
	// named so.
	teamGroup   = "lab_team"
	sharedGroup = "lab_shared"
	hubVenv     = "/opt/jupyterhub"
	hubStateDir = "/var/lib/jupyterhub"
	// The members' servers' slice: stopped before the shutdown push runs.
	membersSlice = "research-lab-members.slice"
	// The hub's API and its proxy's, on loopback.
	hubAPIPort   = 8081
	proxyAPIPort = 8001
	// Each member's server (and its kernels) may use memberMemoryMiB (the
	// kernel stops one member from starving the rest); all of them together
	// the instance's memory but hubOverheadMiB (membersSlice), so that the
	// hub, the members' sync and the shutdown push keep that. The slice's
	// share before the hub first sets it (jupyterhub.service):
	membersMemoryMaxPct = 80
	// A member's idle server stops itself after this long (or after
	// jupyterIdleStopMinutes when set), freeing its memory.
	memberIdleMinutes = 60
	// JupyterHub's proxy, configurable-http-proxy, is an npm package:
	// hub-proxy/ holds its package.json and package-lock.json (every
	// package's integrity hash), which the stack puts in the bucket and the
	// server installs with npm ci, checking both files against the digests
	// in its userdata. AL2023's nodejs22 names its programs node-22 and
	// npm-22, whichever Node.js is the default.
	hubProxyDir    = "/opt/jupyterhub-proxy"
	hubProxySource = labFilesFolder + "/hub-proxy" // bucket folder
	hubProxyNode   = "node-22"
	hubProxyNPM    = "npm-22"
)

// hubLogins throttles logins at the hub, per name (the members all reach it
// from the VPN server's address): after Failures failed logins within
// WindowSeconds, that name's logins are refused, without asking PAM, until
// the oldest of those leaves the window; a login clears them. As OpenVPN
// Access Server (5 failures lock a user for 15 minutes) and Grafana (5 in 5
// minutes) do, but bounded: a member who fails another's logins on purpose
// keeps their new logins refused while she does and one window more, and
// ends no session. A variable only so that a test can shorten the window.
var hubLogins = loginThrottle{Failures: 5, WindowSeconds: 300}

type loginThrottle struct{ Failures, WindowSeconds int }

// hubProxyFiles are the proxy's package files, as they are in hub-proxy/.
//
//go:embed hub-proxy/package.json hub-proxy/package-lock.json
var hubProxyFS embed.FS

var hubProxyFiles = []string{"package.json", "package-lock.json"}

// hubProxyDigests are "<sha256>  <file>" lines, as sha256sum --check reads them.
func hubProxyDigests() (string, error) {
	var b strings.Builder
	for _, f := range hubProxyFiles {
		body, err := hubProxyFS.ReadFile("hub-proxy/" + f)
		if err != nil {
			return "", fmt.Errorf("the hub proxy's %s: %w", f, err)
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(body), f)
	}
	return b.String(), nil
}

// The instance metadata service hands out the instance's credentials (its
// IPv6 address answers only when enabled on a Nitro instance; guarded all the
// same). imdsGuardUnit lets only the users in imdsUsers reach it: an allow-list,
// so a notebook user added later is refused without a change here.
const (
	imdsIPv4      = "169.254.169.254"
	imdsIPv6      = "fd00:ec2::254"
	imdsGuardUnit = "imds-guard.service"
)

var imdsUsers = []string{"root", syncUser}

// labFilesFolder is the bucket folder of the lab's own files, which the
// servers run (their digests checked): no notebookPrefix may be it.
const labFilesFolder = "research-lab"

// The Voila site's certificate: Let's Encrypt through lab-acme (the acme/
// module, built by acmebuild.go on the deployer's machine), run as its own
// unprivileged user, which owns the state and the webroot.
const (
	acmeDirectory = "https://acme-v02.api.letsencrypt.org/directory"
	acmeWebroot   = "/var/lib/research-lab/acme-webroot" // Nginx serves the HTTP-01 answers from here
	acmeStateDir  = "/var/lib/research-lab/acme"         // account, certificate and key
	acmeBinaryKey = labFilesFolder + "/lab-acme"         // bucket key of the binary Voila installs
	acmeUser      = "lab-acme"
	// An IP address is certified with the six-day shortlived profile, renewed
	// at half-life; a domain with the default 90 days, renewed 30 days ahead.
	acmeIPProfile       = "shortlived"
	acmeIPRenewWithin   = "72h"
	acmeNameRenewWithin = "720h"
)

// Argon2id parameters of jupyter_server's own passwd(), so that its
// passwd_check verifies our hash exactly as one it made itself.
const (
	argon2Time    = 10
	argon2Memory  = 10240 // KiB
	argon2Threads = 8
	argon2KeyLen  = 32
	argon2SaltLen = 16
)

// The public site. Every published notebook is also a static page, rendered
// from its saved outputs when Voila pulls it (scripts/notebook-render.py, as
// its own user, staticUser) and served by Nginx alone: any number of readers,
// no kernel. The live view (Voila, a kernel for every page it renders) takes
// as many visitors as the Voila instance's memory has room for: voilaLiveBound
// works the bound out from instanceMemoryMiB, Voila's kernel manager refuses a
// kernel past it (python/research_lab_voila.py) and Nginx sends that visitor
// to the static page; voila.service's MemoryMax holds Voila and its kernels
// to the memory the bound counts on. docs/architecture.md ("How many
// kernels") states it and a test holds the docs to it.
const (
	staticUser     = "notebook-render"
	staticStateDir = "research-lab-static" // the render's StateDirectory=, which holds the pages
	staticPagesDir = "/var/lib/" + staticStateDir
	staticPrefix   = "/read/" // where the site serves them
	pythonLibDir   = "/usr/local/lib/research-lab/python"
	// The render's memory (notebook-render.service's MemoryMax), and the
	// largest notebook it renders: nbconvert holds a notebook several times
	// over (a 32 MiB one peaked at 218 MiB with Debian's nbconvert), so a
	// larger one is passed over, named in the log, instead of taking the
	// render, and every notebook after it, down with it.
	staticRenderMemoryMiB = 256
	staticNotebookMaxMiB  = 16
	// What the live view counts on, in MiB: the system (Amazon Linux, the SSM
	// agent, Nginx, the notebook pull and render) keeps voilaReservedMiB,
	// Voila's own server voilaServerMiB, and each kernel (Python with numpy,
	// pandas and matplotlib imported: 80 to 150 MB) voilaKernelMiB.
	voilaReservedMiB = 320
	voilaServerMiB   = 100
	voilaKernelMiB   = 150
	// A type instanceMemoryMiB does not list is taken to have the least
	// memory of those it does (t4g.nano's): never more kernels than fit.
	voilaUnknownTypeMiB   = 512
	voilaKernelIdleCull   = 600 // seconds without activity before Voila shuts a kernel down
	voilaKernelCullPeriod = 60  // seconds between Voila's checks for idle kernels
	// Per visitor address, so that one visitor cannot take every kernel:
	// pages rendered (each starts a kernel) a minute and the burst beyond,
	// and requests to running kernels (a page's websocket, its model).
	voilaClientRendersPerMinute        = 1
	voilaClientRenderBurst             = 3
	voilaClientKernelRequestsPerMinute = 1
	voilaClientKernelRequestBurst      = 3
	// Kernel connections (websockets and renders) open at once, one address's.
	voilaClientConnections = 3
)

// rateLimit is one of Nginx's limit_req zones: a steady rate, and a burst
// admitted at once beyond it.
type rateLimit struct{ PerMinute, Burst int }

type voilaLimits struct {
	KernelIdleCull, CullInterval int // seconds
	ClientRenders                rateLimit
	ClientKernelRequests         rateLimit
	// Kernel connections open at once: the site's (a websocket and a render
	// for every live kernel, and as many again arriving), one address's.
	Connections, ClientConnections  int
	InstanceType                    string
	InstanceMiB                     int  // instanceMemoryMiB's, or voilaUnknownTypeMiB
	KnownType                       bool // in instanceMemoryMiB
	ReservedMiB, ServerMiB          int
	KernelMiB                       int
	MaxKernels                      int // the live bound
	MemoryMaxMiB                    int // voila.service's MemoryMax: MaxKernels kernels and Voila's server
	StaticUser, StaticDir           string
	StaticStateDir                  string
	StaticPrefix, PythonLib         string
	RenderMemoryMiB, NotebookMaxMiB int
}

// voilaLiveBound is the most kernels the live view keeps at once on c's Voila
// instance: what its memory holds after the system's share and Voila's own
// server, in kernels of voilaKernelMiB. It needs only the configuration, so
// the plan can print it (MaxKernels, MemoryMaxMiB, and KnownType false for a
// type whose memory the lab does not know); it does not yet.
func voilaLiveBound(c *labConfig) voilaLimits {
	mem, known := instanceMemoryMiB[c.VoilaType]
	if !known {
		mem = voilaUnknownTypeMiB
	}
	l := voilaLimits{
		KernelIdleCull: voilaKernelIdleCull, CullInterval: voilaKernelCullPeriod,
		ClientRenders:        rateLimit{voilaClientRendersPerMinute, voilaClientRenderBurst},
		ClientKernelRequests: rateLimit{voilaClientKernelRequestsPerMinute, voilaClientKernelRequestBurst},
		ClientConnections:    voilaClientConnections,
		InstanceType:         c.VoilaType, InstanceMiB: mem, KnownType: known,
		ReservedMiB: voilaReservedMiB, ServerMiB: voilaServerMiB, KernelMiB: voilaKernelMiB,
		StaticUser: staticUser, StaticDir: staticPagesDir, StaticStateDir: staticStateDir, StaticPrefix: staticPrefix, PythonLib: pythonLibDir,
		RenderMemoryMiB: staticRenderMemoryMiB, NotebookMaxMiB: staticNotebookMaxMiB,
	}
	l.MaxKernels = max(0, (mem-voilaReservedMiB-voilaServerMiB)/voilaKernelMiB)
	l.MemoryMaxMiB = l.MaxKernels*voilaKernelMiB + voilaServerMiB
	l.Connections = 4*l.MaxKernels + l.ClientConnections
	return l
}

// hubValues are what a team's JupyterHub is made of (the constants above).
type hubValues struct {
	MembersHome, MemberNotebooks, SharedDir, TeamGroup, SharedGroup string
	Venv, StateDir, ProxyDir, ProxySource, ProxyNode, ProxyNPM      string
	ProxyDigests, Slice                                             string
	APIPort, ProxyAPIPort, IdleSeconds                              int
	MemberMemoryMiB, OverheadMiB, AllMemoryMaxPct                   int
	Logins                                                          loginThrottle
}

type userDataPorts struct {
	HTTP, HTTPS, Voila, Jupyter, OpenVPN, OpenVPNTCP, VPNWeb, WireGuard, SSH int
}

// userDataValues is everything a template may use; every value comes from the
// stack's configuration and resources.
type userDataValues struct {
	Ports            userDataPorts
	Region           string
	Bucket           string
	Prefix           string
	PublishFolder    string // "" publishes the whole prefix
	NotebookDir      string
	NotebookUser     string
	Pushes           bool // Jupyter restores and pushes; Voila only pulls
	SyncUser         string
	IMDSUsers        []string
	IMDSIPv4         string
	IMDSIPv6         string
	IMDSGuardUnit    string
	JupyterHome      string
	VoilaHome        string
	SyncInterval     string
	OSUpdateCalendar string
	Voila            voilaLimits
	PackagesVar      string
	Packages         []string
	Constraints      string // pythonConstraints, on a server that installs Packages
	Units            []string

	JupyterPasswordHash string
	// A team's JupyterHub: the parameter naming the members, and the folder
	// they share.
	TeamMembersParameter string
	SharedFolder         string
	// Team: the notebook sync carries one folder per member and the shared
	// one; Voila pulls every member's publish folder.
	Team bool
	Hub  hubValues
	// IdleStopSeconds is jupyterIdleStopMinutes in seconds; 0 means never.
	IdleStopSeconds int

	VPCCIDR      string
	ResearchCIDR string

	// The Voila site's certificate; TLS renders Nginx's HTTPS variant.
	TLS            bool
	TLSIdentifier  string // the Elastic IP or voilaDomain
	TLSProfile     string
	TLSRenewWithin string
	HSTS           bool // only for a domain: an IP certificate lives six days
	ACMEServer     string
	ACMEWebroot    string
	ACMEStateDir   string
	ACMEUser       string
	ACMEBinaryURI  string // s3:// address of lab-acme
	ACMEBinarySHA  string // its SHA-256, checked before anything runs it

	VPNPublicIP          string
	PrivateNetworks      []string
	VPNPasswordParameter string
	// VPNMembersParameter names the team as the VPN applies it.
	VPNMembersParameter string
	// The WireGuard server: its key's parameter, its interface, its tunnel
	// address and the tunnel's network.
	WireGuardKeyParameter string
	WireGuardInterface    string
	WireGuardAddress      string
	WireGuardNetwork      string
	VPNRepoURL            string
	VPNRepoKeyURL         string
	VPNRepoHost           string
	// VPNService is the VPN's own systemd unit, which the sync follows.
	VPNService string
	// AWSCLI is the command the parameter syncs run the AWS CLI as: aws
	// (Amazon Linux's awscli-2), or the VPN's vpnAWSCLI.
	AWSCLI string
}

func mustParseUserdata() *template.Template {
	t := template.New("userdata").Option("missingkey=error")
	t.Funcs(template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b strings.Builder
			err := t.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"indent": indent,
		"join":   strings.Join,
		"shq":    shellQuote,
		"withTLS": func(v *userDataValues) *userDataValues {
			tls := *v
			tls.TLS = true
			return &tls
		},
	})
	err := fs.WalkDir(userdataFS, "userdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := userdataFS.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = t.New(strings.TrimPrefix(path, "userdata/")).Parse(string(body))
		return err
	})
	if err != nil {
		panic(fmt.Sprintf("parsing the userdata templates: %v", err))
	}
	return t
}

// gzipBase64 compresses a server's userdata for EC2, which takes 16 KiB of
// it: gzip (cloud-init recognises it and decompresses), in base64 for the
// API. The same userdata must give the same bytes, or `pulumi up` replaces
// the server: the header has no name and no time, and the compressor is
// klauspost/compress at the version go.sum pins, pure Go, whose output does
// not change with the deployer's Go (the standard library's changed in Go
// 1.27). TestUserDataCompressionIsPinned holds it to a digest.
func gzipBase64(userData string) (string, error) {
	var b bytes.Buffer
	z, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := z.Write([]byte(userData)); err != nil {
		return "", fmt.Errorf("compressing the userdata: %w", err)
	}
	if err := z.Close(); err != nil {
		return "", fmt.Errorf("compressing the userdata: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

// shellQuote quotes a value for a POSIX shell (the env files are sourced by
// bash): whatever it holds stays one literal word, never code.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// indent prefixes every non-empty line with n spaces, for YAML block scalars.
func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

func render(name string, v *userDataValues) (string, error) {
	var b strings.Builder
	if err := userdataTemplates.ExecuteTemplate(&b, name, v); err != nil {
		return "", fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.String(), nil
}

func baseValues(c *labConfig) *userDataValues {
	return &userDataValues{
		Ports: userDataPorts{
			HTTP: portHTTP.Number, HTTPS: portHTTPS.Number, Voila: portVoila.Number, Jupyter: portJupyter.Number,
			OpenVPN: portOpenVPN.Number, OpenVPNTCP: portOpenVPNTCP.Number, VPNWeb: portVPNWeb.Number, WireGuard: portWireGuard.Number,
			SSH: portSSH.Number,
		},
		Region:           c.Region,
		SyncUser:         syncUser,
		IMDSUsers:        imdsUsers,
		IMDSIPv4:         imdsIPv4,
		IMDSIPv6:         imdsIPv6,
		IMDSGuardUnit:    imdsGuardUnit,
		Prefix:           c.NotebookPrefix,
		PublishFolder:    c.PublishFolder,
		SyncInterval:     c.SyncInterval,
		OSUpdateCalendar: osUpdateCalendar,
		Voila:            voilaLiveBound(c),
		AWSCLI:           "aws",
	}
}

// vpnUserData is the VPN server's cloud-config, for its kind. It holds no
// secret: only the names of the parameters that hold its secret (the admin
// password, or the WireGuard key) and the team.
func vpnUserData(c *labConfig, publicIP, secretParameter, membersParameter string) (string, error) {
	v := baseValues(c)
	v.VPNPublicIP = publicIP
	v.PrivateNetworks = c.vpnRoutes()
	v.VPNMembersParameter = membersParameter
	v.Units, v.VPNService = vpnKinds[c.VPN].Units, vpnKinds[c.VPN].Service
	v.AWSCLI = vpnAWSCLI
	switch c.VPN {
	case vpnOpenVPNAS:
		v.VPNPasswordParameter = secretParameter
		v.VPNRepoURL, v.VPNRepoKeyURL = openVPNRepoURL, openVPNRepoKeyURL
		repo, err := url.Parse(openVPNRepoURL)
		if err != nil {
			return "", fmt.Errorf("the OpenVPN repository address: %w", err)
		}
		// unattended-upgrades matches site= with the host of the apt
		// source's URI (TestUpdatesReallyUpdate).
		v.VPNRepoHost = repo.Host
	case vpnWireGuard:
		v.WireGuardKeyParameter, v.WireGuardInterface = secretParameter, wireguardInterface
		v.WireGuardAddress = netip.PrefixFrom(wireguardServer, wireguardNetwork.Bits()).String()
		v.WireGuardNetwork = wireguardNetwork.String()
	default:
		return "", fmt.Errorf("vpn %q: no userdata for this VPN", c.VPN)
	}
	return render(vpnKinds[c.VPN].Template, v)
}

// voilaUserData is the Voila server's cloud-config; it holds no secret.
// acmeSHA256 is the digest of the lab-acme in the bucket.
func voilaUserData(c *labConfig, bucket, publicIP, acmeSHA256 string) (string, error) {
	v := baseValues(c)
	v.Bucket, v.NotebookDir, v.NotebookUser, v.VoilaHome = bucket, voilaNotebookDir, voilaUser, voilaHome
	v.PackagesVar, v.Packages, v.Units = "VOILA_PACKAGES", voilaPackages, voilaUnits
	v.Constraints = pythonConstraints
	v.TLSIdentifier, v.TLSProfile, v.TLSRenewWithin = publicIP, acmeIPProfile, acmeIPRenewWithin
	if c.VoilaDomain != "" {
		v.TLSIdentifier, v.TLSProfile, v.TLSRenewWithin, v.HSTS = c.VoilaDomain, "", acmeNameRenewWithin, true
	}
	v.ACMEServer, v.ACMEWebroot, v.ACMEStateDir = acmeDirectory, acmeWebroot, acmeStateDir
	v.ACMEUser, v.ACMEBinaryURI, v.ACMEBinarySHA = acmeUser, "s3://"+bucket+"/"+acmeBinaryKey, acmeSHA256
	if c.team() {
		v.Team, v.SharedFolder = true, sharedFolder
	}
	return render("voila.yaml", v)
}

// jupyterUserData is the Jupyter server's cloud-config: a single-user server
// with the password's hash (never the password; the caller still marks it
// secret), or a team's JupyterHub, which reads the members from the
// parameter named membersParameter.
func jupyterUserData(c *labConfig, bucket, membersParameter string) (string, error) {
	v := baseValues(c)
	v.Bucket, v.NotebookDir, v.NotebookUser, v.JupyterHome = bucket, jupyterNotebookDir, jupyterUser, jupyterHome
	v.PackagesVar, v.Packages, v.Units = "JUPYTER_PACKAGES", jupyterPackages, jupyterUnits
	v.Constraints = pythonConstraints
	// The bucket's name carries Pulumi's random suffix (kept in state): with
	// the stack it makes the salt differ from lab to lab, and stay the same
	// from run to run.
	v.Pushes = true
	v.JupyterPasswordHash = jupyterPasswordHash(c.JupyterPassword, projectName+"/"+c.Stack+"/"+bucket)
	v.IdleStopSeconds = c.IdleStopMinutes * 60
	if c.team() {
		digests, err := hubProxyDigests()
		if err != nil {
			return "", err
		}
		v.JupyterPasswordHash, v.Team = "", true
		v.NotebookDir, v.NotebookUser, v.JupyterHome = teamSharedDir, "", ""
		v.TeamMembersParameter, v.SharedFolder = membersParameter, sharedFolder
		v.Packages, v.Units = hubPackages, hubUnits
		if v.IdleStopSeconds > 0 {
			v.Units = append(append([]string(nil), hubUnits...), hubIdleUnits...)
		}
		v.Hub = hubValues{
			MembersHome: membersHome, MemberNotebooks: memberNotebooks, SharedDir: teamSharedDir,
			TeamGroup: teamGroup, SharedGroup: sharedGroup, Venv: hubVenv, StateDir: hubStateDir,
			ProxyDir: hubProxyDir, ProxySource: "s3://" + bucket + "/" + hubProxySource + "/", ProxyNode: hubProxyNode, ProxyNPM: hubProxyNPM,
			ProxyDigests: digests, Slice: membersSlice, APIPort: hubAPIPort, ProxyAPIPort: proxyAPIPort, MemberMemoryMiB: c.MemberMemoryMiB, OverheadMiB: hubOverheadMiB, AllMemoryMaxPct: membersMemoryMaxPct,
			IdleSeconds: memberIdleMinutes * 60, Logins: hubLogins,
		}
		if v.IdleStopSeconds > 0 {
			v.Hub.IdleSeconds = v.IdleStopSeconds
		}
		return render("jupyter-hub.yaml", v)
	}
	return render("jupyter.yaml", v)
}

// natUserData is the NAT instance's cloud-config; it holds no secret.
func natUserData(c *labConfig) (string, error) {
	v := baseValues(c)
	v.VPCCIDR, v.ResearchCIDR = c.VPCCidr.String(), c.ResearchCidr.String()
	v.Units = natUnits
	return render("nat.yaml", v)
}

// jupyterPasswordHash hashes the password the way jupyter_server's passwd()
// does ("argon2:" and an argon2-cffi PHC string). The salt is derived from the
// lab's identity, never from the password (a salt computed from the password
// would let a reader of the userdata test guesses without argon2), instead of
// drawn at random, so the same configuration renders the same userdata and
// `pulumi up` does not replace Jupyter each time.
func jupyterPasswordHash(password, lab string) string {
	sum := sha256.Sum256([]byte("research-lab jupyter salt\x00" + lab))
	salt := sum[:argon2SaltLen]
	key := argon2.IDKey([]byte(password), salt, argon2Time, argon2Memory, argon2Threads, argon2KeyLen)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("argon2:$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argon2Memory, argon2Time, argon2Threads, b64(salt), b64(key))
}
