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
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Exit statuses of check.
const (
	checkPassed   = 0
	checkViolated = 1
	checkUsage    = 2
)

// checkOutputs are the stack outputs the check reads.
type checkOutputs struct {
	VPNPublicIP   string `json:"vpnPublicIp"`
	VoilaPublicIP string `json:"voilaPublicIp"`
	VoilaURL      string `json:"voilaUrl"`
	JupyterURL    string `json:"jupyterUrl"`
}

// verdict is the outcome of one rule.
type verdict int

const (
	pass verdict = iota
	warn         // holds, with a caveat the owner should know
	fail
)

func (v verdict) String() string { return [...]string{"PASS", "WARN", "FAIL"}[v] }

type checkResult struct {
	Verdict verdict
	Rule    string
	Detail  string
}

// probe is one rule of the check.
type probe struct {
	Rule string
	Run  func(ctx context.Context) (verdict, string)
}

// checkOptions are check's flags.
type checkOptions struct {
	Timeout time.Duration
	ViaVPN  bool
	Roots   *x509.CertPool // nil: the system's
}

// runCheck is `go run . check`; it returns the exit status.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "", "stack whose outputs `pulumi stack output --json` reads (default: the current stack)")
	outputsFile := fs.String("outputs", "", "read the outputs from this file (the JSON of `pulumi stack output --json`) instead")
	viaVPN := fs.Bool("via-vpn", false, "also check, from a machine connected to the VPN, that jupyterUrl shows Jupyter's login page")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each probe may take")
	caFile := fs.String("ca", "", "also trust the CA certificates in this PEM file (a test CA)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return checkPassed
		}
		return checkUsage
	}
	if fs.NArg() > 0 || *timeout <= 0 {
		fmt.Fprintf(stderr, "research-lab check: unexpected argument %q\n", strings.Join(fs.Args(), " "))
		return checkUsage
	}
	raw, err := readOutputs(*outputsFile, *stack)
	if err != nil {
		fmt.Fprintln(stderr, "research-lab check:", err)
		return checkUsage
	}
	out, err := parseCheckOutputs(raw, *viaVPN)
	if err != nil {
		fmt.Fprintln(stderr, "research-lab check:", err)
		return checkUsage
	}
	opts := checkOptions{Timeout: *timeout, ViaVPN: *viaVPN}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "research-lab check:", err)
			return checkUsage
		}
		opts.Roots, _ = x509.SystemCertPool()
		if opts.Roots == nil {
			opts.Roots = x509.NewCertPool()
		}
		if !opts.Roots.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "research-lab check: %s holds no PEM certificate\n", *caFile)
			return checkUsage
		}
	}
	status := checkPassed
	for _, r := range runProbes(checkProbes(out, opts), opts.Timeout) {
		fmt.Fprintf(stdout, "%s  %s", r.Verdict, r.Rule)
		if r.Detail != "" {
			fmt.Fprintf(stdout, ": %s", r.Detail)
		}
		fmt.Fprintln(stdout)
		if r.Verdict == fail {
			status = checkViolated
		}
	}
	return status
}

// readOutputs reads the stack outputs from a file, or asks the Pulumi CLI.
func readOutputs(file, stack string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the outputs: %w", err)
		}
		return b, nil
	}
	args := []string{"stack", "output", "--json"}
	if stack != "" {
		args = append(args, "--stack", stack)
	}
	b, err := exec.Command("pulumi", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("`pulumi %s` failed (%v): run it where the Pulumi CLI can read the stack, or pass --outputs FILE", strings.Join(args, " "), err)
	}
	return b, nil
}

// parseCheckOutputs reads the JSON and names every output the check needs
// that is missing.
func parseCheckOutputs(raw []byte, viaVPN bool) (checkOutputs, error) {
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		return checkOutputs{}, fmt.Errorf("the outputs are not the JSON of `pulumi stack output --json`: %v", err)
	}
	need := []string{"vpnPublicIp", "voilaPublicIp", "voilaUrl"}
	if viaVPN {
		need = append(need, "jupyterUrl")
	}
	var missing []string
	for _, k := range need {
		if s, ok := all[k].(string); !ok || s == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return checkOutputs{}, fmt.Errorf("the outputs lack %s (is the stack deployed?)", strings.Join(missing, ", "))
	}
	var out checkOutputs
	if err := json.Unmarshal(raw, &out); err != nil {
		return checkOutputs{}, err
	}
	for k, v := range map[string]string{"vpnPublicIp": out.VPNPublicIP, "voilaPublicIp": out.VoilaPublicIP} {
		if net.ParseIP(v) == nil {
			return checkOutputs{}, fmt.Errorf("output %s = %q is not an IP address", k, v)
		}
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
			v, detail := p.Run(ctx)
			results[i] = checkResult{Verdict: v, Rule: p.Rule, Detail: detail}
		}()
	}
	wg.Wait()
	return results
}

// checkProbes are the rules: what must answer, and what must not.
func checkProbes(out checkOutputs, opts checkOptions) []probe {
	vpnWeb := net.JoinHostPort(out.VPNPublicIP, strconv.Itoa(portVPNWeb.Number))
	probes := []probe{
		{"the VPN web UI answers TLS on " + vpnWeb, func(ctx context.Context) (verdict, string) {
			// Access Server's own certificate is self-signed: the handshake is the proof.
			d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
			c, err := d.DialContext(ctx, "tcp", vpnWeb)
			if err != nil {
				return fail, err.Error()
			}
			c.Close()
			return pass, ""
		}},
		{"Voila publishes the sample notebook at " + out.VoilaURL, func(ctx context.Context) (verdict, string) {
			return probeVoila(ctx, out, opts)
		}},
	}
	public := []struct{ role, ip string }{{"VPN", out.VPNPublicIP}, {"Voila", out.VoilaPublicIP}}
	for _, h := range public {
		probes = append(probes, closedPort(h.role, h.ip, portJupyter))
		if h.role != "VPN" { // SSH answers on the VPN only, from adminCidrs
			probes = append(probes, closedPort(h.role, h.ip, portSSH))
		}
	}
	if opts.ViaVPN {
		probes = append(probes, probe{"Jupyter's login page answers at " + out.JupyterURL + " through the VPN", func(ctx context.Context) (verdict, string) {
			body, err := httpGet(ctx, out.JupyterURL, opts)
			switch {
			case err != nil:
				return fail, err.Error()
			case !strings.Contains(body, `type="password"`):
				return fail, "the page has no password field: not Jupyter's login page"
			}
			return pass, ""
		}})
	}
	return probes
}

// closedPort is the rule that a port does not answer on a public address.
func closedPort(role, ip string, p port) probe {
	addr := net.JoinHostPort(ip, strconv.Itoa(p.Number))
	return probe{fmt.Sprintf("%s (%s) is closed on %s's public address %s", p.label(), p.Name, role, ip), func(ctx context.Context) (verdict, string) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return pass, "" // refused or filtered
		}
		c.Close()
		return fail, "it answers: " + addr + " is reachable from here"
	}}
}

// probeVoila fetches voilaUrl and looks for the sample notebook. While Voila
// has no certificate yet it answers on HTTP only: a warning, not a failure.
func probeVoila(ctx context.Context, out checkOutputs, opts checkOptions) (verdict, string) {
	body, err := httpGet(ctx, out.VoilaURL, opts)
	if err == nil {
		if !strings.Contains(body, sampleNotebookName) {
			return fail, "it answers but does not list " + sampleNotebookName
		}
		return pass, ""
	}
	u, perr := url.Parse(out.VoilaURL)
	if perr != nil || u.Scheme != "https" {
		return fail, err.Error()
	}
	plain := "http://" + net.JoinHostPort(out.VoilaPublicIP, strconv.Itoa(portHTTP.Number)) + "/"
	body, herr := httpGet(ctx, plain, opts)
	if herr != nil || !strings.Contains(body, sampleNotebookName) {
		return fail, err.Error()
	}
	return warn, fmt.Sprintf("HTTPS fails (%v) but %s publishes it: no certificate yet? (see the README's troubleshooting)", err, plain)
}

func httpGet(ctx context.Context, target string, opts checkOptions) (string, error) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: opts.Roots}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
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
