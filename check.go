package main

// `go run . check`: probes a deployed lab from where it runs and says, rule by
// rule, whether it exposes what the plan says and nothing more.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"research-lab/internal/outputs"
)

// Exit statuses of check.
const (
	checkPassed   = 0
	checkViolated = 1
	checkUsage    = 2
	// checkUnreachable: no public address of the lab answered at all, so
	// nothing could be checked.
	checkUnreachable = 2
)

// publicAddressOutputs are the outputs that hold each server's public
// address, by its role; a server without one is not public.
var publicAddressOutputs = map[string]string{
	"VPN": "vpnPublicIp", "VoilaServer": "voilaPublicIp", "NAT": "natPublicIp", "Jupyter": "jupyterPublicIp",
}

// checkOutputs are the stack outputs the check reads.
type checkOutputs struct {
	Public     map[string]string // role -> public address
	VoilaURL   string
	JupyterURL string
}

// verdict is the outcome of one rule.
type verdict int

const (
	pass verdict = iota
	warn         // holds, with a caveat the owner should know
	fail
	unknown // the host gave no sign of life: a closed port cannot be told from a missing host
)

func (v verdict) String() string { return [...]string{"PASS", "WARN", "FAIL", "UNKNOWN"}[v] }

// outcome is what a probe saw.
type outcome struct {
	Verdict verdict
	Detail  string
	// Heard says the probed address answered: it accepted a connection or
	// refused one. A security group answers nothing, so silence on a closed
	// port proves it closed only from a host heard on another.
	Heard bool
}

type checkResult struct {
	outcome
	Rule string
	Addr string
}

// probe is one rule of the check, on a public address of the lab (Addr), or
// through the VPN (no Addr).
type probe struct {
	Rule string
	Addr string
	Run  func(ctx context.Context) outcome
}

// checkOptions are check's flags.
type checkOptions struct {
	Timeout time.Duration
	ViaVPN  bool
	Roots   *x509.CertPool // nil: the system's
}

// secondsOrDuration is a flag that takes a Go duration (5s, 1m30s) or a
// number of seconds (5).
type secondsOrDuration struct{ d *time.Duration }

func (s secondsOrDuration) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}

func (s secondsOrDuration) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 && n <= maxProbeSeconds {
		*s.d = time.Duration(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxProbeSeconds*time.Second {
		return errors.New("want a duration such as 5s, 500ms or 1m (at most an hour), or a number of seconds")
	}
	*s.d = d
	return nil
}

// maxProbeSeconds bounds --timeout: a probe that takes an hour is no probe.
const maxProbeSeconds = 3600

// runCheck is `go run . check`; it returns the exit status.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "", "the stack `NAME` to check (default: the Pulumi CLI's current stack); its Pulumi.NAME.yaml says what the lab should expose")
	dir := fs.String("dir", ".", "the project's `FOLDER`, where Pulumi.yaml and the stack's file are")
	outputsFile := fs.String("outputs", "", "read the stack outputs from `FILE` (saved with: pulumi stack output --json > FILE) instead of asking the Pulumi CLI")
	viaVPN := fs.Bool("via-vpn", false, "also check, from a machine connected to the VPN, that jupyterUrl shows Jupyter's login page")
	timeout := 5 * time.Second
	fs.Var(secondsOrDuration{&timeout}, "timeout", "how long each probe may take: a `DURATION` such as 5s, or seconds")
	caFile := fs.String("ca", "", "also trust the CA certificates in the PEM `FILE` (a test CA)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return checkPassed
		}
		return checkUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "research-lab check: unexpected argument %q (see `go run . check --help`)\n", strings.Join(fs.Args(), " "))
		return checkUsage
	}
	usage := func(err error) int {
		fmt.Fprintln(stderr, "research-lab check:", err)
		return checkUsage
	}
	name, err := checkedStack(*stack)
	if err != nil {
		return usage(err)
	}
	qualified := *stack // org/NAME reads another organization's NAME
	if qualified == "" {
		qualified = name
	}
	reach, c, err := expectedReachability(*dir, name)
	if err != nil {
		return usage(err)
	}
	raw, err := outputs.Read(*outputsFile, qualified)
	if err != nil {
		return usage(err)
	}
	out, err := parseCheckOutputs(raw, reach, c.VPN, *viaVPN)
	if err != nil {
		return usage(err)
	}
	opts := checkOptions{Timeout: timeout, ViaVPN: *viaVPN}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return usage(err)
		}
		opts.Roots, _ = x509.SystemCertPool()
		if opts.Roots == nil {
			opts.Roots = x509.NewCertPool()
		}
		if !opts.Roots.AppendCertsFromPEM(pem) {
			return usage(fmt.Errorf("%s holds no PEM certificate", *caFile))
		}
	}
	results, heard := judgeSilence(runProbes(checkProbes(reach, out, opts), opts.Timeout))
	results = slices.DeleteFunc(results, func(r checkResult) bool { return r.Rule == "" }) // hearing
	status, held, unknowns := checkPassed, 0, 0
	for _, r := range results {
		fmt.Fprintf(stdout, "%s  %s", r.Verdict, r.Rule)
		if r.Detail != "" {
			fmt.Fprintf(stdout, ": %s", r.Detail)
		}
		fmt.Fprintln(stdout)
		switch r.Verdict {
		case pass, warn:
			held++
		case fail:
			status = checkViolated
		case unknown:
			unknowns++
		}
	}
	fmt.Fprintf(stdout, "%d of %d rules hold", held, len(results))
	if unknowns > 0 {
		fmt.Fprintf(stdout, ", %d unknown", unknowns)
	}
	fmt.Fprintln(stdout)
	if !heard {
		fmt.Fprintf(stderr, "research-lab check: could not reach the lab: none of its public addresses (%s) answered from here. Is it running (labState, the Learner Lab session), are these its outputs, and does this network let connections out?\n",
			strings.Join(slices.Sorted(maps.Values(out.Public)), ", "))
		return checkUnreachable
	}
	return status
}

// judgeSilence settles the rules whose port said nothing: closed, on a host
// heard on another port; unknown, on a host heard on none. heard says
// whether any public address of the lab answered at all.
func judgeSilence(results []checkResult) (settled []checkResult, heard bool) {
	alive := map[string]bool{}
	for _, r := range results {
		if r.Heard && r.Addr != "" {
			alive[r.Addr] = true
		}
	}
	for i, r := range results {
		if r.Verdict == unknown {
			if alive[r.Addr] {
				results[i].outcome = outcome{Verdict: pass}
			} else {
				results[i].Detail = fmt.Sprintf("no answer from %s on any port, so its silence proves nothing (is it running?)", r.Addr)
			}
		}
	}
	return results, len(alive) > 0
}

// checkedStack is the stack to check: --stack, or the CLI's current stack.
func checkedStack(arg string) (string, error) {
	if arg != "" {
		return stackName(arg)
	}
	b, err := exec.Command("pulumi", "stack", "--show-name").Output()
	if err != nil {
		return "", fmt.Errorf("no current stack (`pulumi stack --show-name` failed: %v): pass --stack NAME", err)
	}
	return stackName(strings.TrimSpace(string(b)))
}

// expectedReachability is the plan's model of the stack: what the lab should
// expose, computed from its configuration exactly as `go run . plan` does;
// and the configuration.
func expectedReachability(dir, stack string) (*reachability, *labConfig, error) {
	config, secrets, _, err := readStackConfig(dir, stack)
	if err != nil {
		return nil, nil, err
	}
	run, err := runOffline(stack, config, secrets)
	var bad *configError
	if errors.As(err, &bad) {
		return nil, nil, bad
	}
	if err != nil {
		return nil, nil, err
	}
	return computeReachability(run), run.Infra.Config, nil
}

// parseCheckOutputs reads the JSON, refuses the outputs of another kind of
// lab than the configuration's, and names every output the check needs that
// is missing: the address of every server the model calls public.
func parseCheckOutputs(raw []byte, reach *reachability, vpn vpnKind, viaVPN bool) (checkOutputs, error) {
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		return checkOutputs{}, fmt.Errorf("the outputs are not the JSON of `pulumi stack output --json`: %v", err)
	}
	for _, kind := range slices.Sorted(maps.Keys(vpnKinds)) {
		if spec := vpnKinds[kind]; kind != vpn && all[spec.Output] != nil {
			return checkOutputs{}, fmt.Errorf("these are the outputs of a lab with vpn: %s (they hold %s), and the stack's configuration says vpn: %s: pass this stack's outputs (pulumi stack output --json --stack NAME), or check the stack they come from",
				kind, spec.Output, vpn)
		}
	}
	need := []string{"voilaUrl"}
	for _, h := range reach.Hosts {
		if h.PublicIP {
			need = append(need, publicAddressOutputs[h.Role])
		}
	}
	if viaVPN {
		need = append(need, "jupyterUrl")
	}
	var missing []string
	str := func(k string) string { s, _ := all[k].(string); return s }
	for _, k := range need {
		if str(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return checkOutputs{}, fmt.Errorf("the outputs lack %s (is the stack deployed, and by this version?)", strings.Join(missing, ", "))
	}
	out := checkOutputs{Public: map[string]string{}, VoilaURL: str("voilaUrl"), JupyterURL: str("jupyterUrl")}
	// The public servers' addresses, and any other public address the outputs
	// name (a NAT gateway's, which is no server).
	for role, k := range publicAddressOutputs {
		if str(k) == "" {
			continue
		}
		if net.ParseIP(str(k)) == nil {
			return checkOutputs{}, fmt.Errorf("output %s = %q is not an IP address", k, str(k))
		}
		out.Public[role] = str(k)
	}
	return out, nil
}

// runProbes runs every probe at once, each within timeout, and returns the
// results in the probes' order.
func runProbes(probes []probe, timeout time.Duration) []checkResult {
	results := make([]checkResult, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			results[i] = checkResult{outcome: p.Run(ctx), Rule: p.Rule, Addr: p.Addr}
		}()
	}
	wg.Wait()
	return results
}

// labTCPPorts are the TCP ports the lab uses anywhere, from the port table:
// on a public address, each is either open to the internet in the model or
// must not answer.
func labTCPPorts() []port {
	var out []port
	seen := map[int]bool{}
	for _, p := range []port{portSSH, portHTTP, portHTTPS, portVPNWeb, portJupyter, portVoila} {
		if p.Protocol == "tcp" && !seen[p.Number] {
			seen[p.Number] = true
			out = append(out, p)
		}
	}
	return out
}

// checkProbes are the rules, from the plan's model: what must answer on the
// public addresses, and every port of the lab the model does not open to the
// internet, which must not.
func checkProbes(reach *reachability, out checkOutputs, opts checkOptions) []probe {
	var probes []probe
	opens := func(role string, p port) bool { return slices.Contains(reach.Open(sourceInternet, role), p.label()) }
	if ip, ok := out.Public["VPN"]; ok && opens("VPN", portVPNWeb) {
		vpnWeb := net.JoinHostPort(ip, strconv.Itoa(portVPNWeb.Number))
		probes = append(probes, probe{"the VPN web UI answers TLS on " + vpnWeb, ip, func(ctx context.Context) outcome {
			var ear listener
			c, err := ear.dial(ctx, "tcp", vpnWeb)
			if err != nil {
				return outcome{fail, err.Error(), ear.heard.Load()}
			}
			defer c.Close()
			// Access Server's own certificate is self-signed: the handshake is the proof.
			if err := tls.Client(c, &tls.Config{InsecureSkipVerify: true}).HandshakeContext(ctx); err != nil {
				return outcome{fail, err.Error(), true}
			}
			return outcome{pass, "", true}
		}})
	}
	if ip, ok := out.Public["VoilaServer"]; ok && opens("VoilaServer", portHTTPS) {
		probes = append(probes, probe{"Voila publishes the sample notebook at " + out.VoilaURL, ip, func(ctx context.Context) outcome {
			var ear listener
			v, detail := probeVoila(ctx, out, opts, &ear)
			return outcome{v, detail, ear.heard.Load()}
		}})
	}
	servers := map[string]string{} // role -> Name tag
	for _, h := range reach.Hosts {
		servers[h.Role] = h.Label
	}
	roles := make([]string, 0, len(out.Public))
	for role := range out.Public {
		roles = append(roles, role)
	}
	slices.Sort(roles)
	for _, role := range roles {
		name, isServer := servers[role]
		if !isServer {
			name = "the NAT gateway" // admits nothing from the internet
		}
		for _, p := range labTCPPorts() {
			if restricted(reach.Open(sourceInternet, role), p) {
				probes = append(probes, hearing(out.Public[role], p))
			} else {
				probes = append(probes, closedPort(name, out.Public[role], p))
			}
		}
	}
	if opts.ViaVPN {
		probes = append(probes, probe{"Jupyter's login page answers at " + out.JupyterURL + " through the VPN", "", func(ctx context.Context) outcome {
			body, err := httpGet(ctx, out.JupyterURL, opts, &listener{})
			switch {
			case err != nil:
				return outcome{Verdict: fail, Detail: err.Error()}
			case !strings.Contains(body, `type="password"`):
				return outcome{Verdict: fail, Detail: "the page has no password field: not Jupyter's login page"}
			}
			return outcome{Verdict: pass}
		}})
	}
	return probes
}

// restricted says whether the model opens p to the internet, to anyone
// ("443/tcp") or to some addresses ("22/tcp (203.0.113.7/32)"), which this
// machine may or may not be: either way it is not a port that must be closed.
func restricted(open []string, p port) bool {
	for _, o := range open {
		if o == p.label() || strings.HasPrefix(o, p.label()+" (") {
			return true
		}
	}
	return false
}

// closedPort is the rule that a port does not answer on a server's public
// address: refused, or silent on a host heard on another port
// (judgeSilence).
func closedPort(server, ip string, p port) probe {
	addr := net.JoinHostPort(ip, strconv.Itoa(p.Number))
	return probe{fmt.Sprintf("%s (%s) is closed on %s's public address %s", p.label(), p.Name, server, ip), ip, func(ctx context.Context) outcome {
		var ear listener
		c, err := ear.dial(ctx, "tcp", addr)
		switch {
		case err == nil:
			c.Close()
			return outcome{fail, "it answers: " + addr + " is reachable from here", true}
		case ear.heard.Load():
			return outcome{pass, "", true} // refused
		}
		return outcome{Verdict: unknown}
	}}
}

// hearing is no rule: it dials a port the model opens (SSH from
// adminCidrs, say), whose answer shows the host is up.
func hearing(ip string, p port) probe {
	return probe{Addr: ip, Run: func(ctx context.Context) outcome {
		var ear listener
		if c, err := ear.dial(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(p.Number))); err == nil {
			c.Close()
		}
		return outcome{Verdict: pass, Heard: ear.heard.Load()}
	}}
}

// listener dials and hears whether the address answered at all: with a
// connection, or by refusing one.
type listener struct{ heard atomic.Bool }

func (l *listener) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
		l.heard.Store(true)
	}
	return c, err
}

// probeVoila fetches voilaUrl and looks for the sample notebook. While Voila
// has no certificate yet it answers on HTTP only: a warning, not a failure.
func probeVoila(ctx context.Context, out checkOutputs, opts checkOptions, ear *listener) (verdict, string) {
	body, err := httpGet(ctx, out.VoilaURL, opts, ear)
	if err == nil {
		if !strings.Contains(body, sampleNotebookName) {
			return fail, "it answers but does not list " + sampleNotebookName
		}
		return pass, ""
	}
	var redirect *redirectRefused
	u, perr := url.Parse(out.VoilaURL)
	if errors.As(err, &redirect) || perr != nil || u.Scheme != "https" {
		return fail, err.Error()
	}
	plain := "http://" + net.JoinHostPort(out.Public["VoilaServer"], strconv.Itoa(portHTTP.Number)) + "/"
	body, herr := httpGet(ctx, plain, opts, ear)
	if herr != nil || !strings.Contains(body, sampleNotebookName) {
		return fail, err.Error()
	}
	return warn, fmt.Sprintf("HTTPS fails (%v) but %s publishes it: no certificate yet? (see the README's troubleshooting)", err, plain)
}

// redirectRefused is a redirect the check does not follow: to another host,
// or from HTTPS to HTTP. Following it could pass a rule on someone else's
// server, or on a page that was never encrypted.
type redirectRefused struct{ from, to *url.URL }

func (r *redirectRefused) Error() string {
	if r.from.Scheme == "https" && r.to.Scheme != "https" {
		return fmt.Sprintf("%s redirects from HTTPS to HTTP (%s): not followed", r.from, r.to)
	}
	return fmt.Sprintf("%s redirects to another host (%s): not followed", r.from, r.to)
}

// maxRedirects is how many same-host redirects the check follows.
const maxRedirects = 3

func httpGet(ctx context.Context, target string, opts checkOptions, ear *listener) (string, error) {
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: opts.Roots}, DialContext: ear.dial},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			from := via[len(via)-1].URL
			if req.URL.Hostname() != from.Hostname() || (from.Scheme == "https" && req.URL.Scheme != "https") {
				return &redirectRefused{from, req.URL}
			}
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		var redirect *redirectRefused
		if errors.As(err, &redirect) {
			return "", redirect
		}
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s", target, resp.Status)
	}
	return string(body), nil
}
