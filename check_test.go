package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The stand-in lab: loopback addresses in a network namespace of the test's
// own, so the real ports are free and nothing else answers on them.
const (
	standInVPN     = "127.0.0.2"
	standInVoila   = "127.0.0.3"
	standInJupyter = "127.0.0.4" // a private address, reached through the VPN
	standInNAT     = "127.0.0.5"
	standInPublic  = "127.0.0.6" // Jupyter's public address (internet-gateway), or another host
	// standInSilent is a host that answers nothing: the namespace has no
	// route to it (documentation addresses, RFC 5737).
	standInSilent = "203.0.113."
)

// stackDir lays out a project folder with this stack file, as Pulumi.test.yaml.
func stackDir(t *testing.T, stackFile string) string {
	t.Helper()
	dir := t.TempDir()
	project, err := os.ReadFile("Pulumi.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.test.yaml"), []byte(stackFile), 0o644))
	return dir
}

const checkedStackFile = "config:\n  research-lab:keyName: vockey\n"

func writeOutputs(t *testing.T, outputs map[string]string) string {
	t.Helper()
	b, err := json.Marshal(outputs)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "outputs.json")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	return file
}

func TestCheckRefusesBadUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := stackDir(t, checkedStackFile)
	check := func(args ...string) int {
		return runCheck(append([]string{"--dir", dir, "--stack", "test"}, args...), &out, &errOut)
	}
	missing := writeOutputs(t, map[string]string{"vpnPublicIp": "203.0.113.5"})
	assert.Equal(t, checkUsage, check("--outputs", missing))
	assert.Contains(t, errOut.String(), "voilaUrl, natPublicIp, voilaPublicIp", "the message must name every missing output, the NAT's public address too")

	errOut.Reset()
	full := writeOutputs(t, map[string]string{"vpnPublicIp": "203.0.113.5", "voilaPublicIp": "203.0.113.6", "natPublicIp": "203.0.113.7", "voilaUrl": "https://203.0.113.6/"})
	assert.Equal(t, checkUsage, check("--outputs", full, "--via-vpn"))
	assert.Contains(t, errOut.String(), "jupyterUrl", "--via-vpn needs jupyterUrl")

	errOut.Reset()
	junk := filepath.Join(t.TempDir(), "junk.json")
	require.NoError(t, os.WriteFile(junk, []byte("Current stack is dev:\n"), 0o600))
	assert.Equal(t, checkUsage, check("--outputs", junk))
	assert.Contains(t, errOut.String(), "not the JSON")

	assert.Equal(t, checkUsage, check("--outputs", filepath.Join(t.TempDir(), "none.json")))
	assert.Equal(t, checkUsage, check("--no-such-flag"))
	assert.Equal(t, checkUsage, check("--outputs", full, "extra"))
	errOut.Reset()
	assert.Equal(t, checkUsage, check("--outputs", full, "--timeout", "soon"))
	assert.Contains(t, errOut.String(), "want a duration such as 5s, 500ms or 1m (at most an hour), or a number of seconds")
	errOut.Reset()
	assert.Equal(t, checkUsage, runCheck([]string{"--dir", dir, "--stack", "my lab", "--outputs", full}, &out, &errOut))
	assert.Contains(t, errOut.String(), "a stack name may only contain")

	errOut.Reset()
	assert.Equal(t, checkPassed, runCheck([]string{"--help"}, &out, &errOut), "check --help is not an error")
	assert.Contains(t, errOut.String(), "-outputs FILE", "the help names the argument")
	assert.Contains(t, errOut.String(), "-timeout DURATION")
}

// TestCheckRefusesOutputsOfAnotherKindOfLab: the outputs of a WireGuard lab
// checked against an OpenVPN AS stack, or the other way round, are refused
// with what differs, before any probe.
func TestCheckRefusesOutputsOfAnotherKindOfLab(t *testing.T) {
	_, member := testKeyPair(t, 41)
	wireguardStack := "config:\n  research-lab:keyName: vockey\n  research-lab:vpn: wireguard\n  research-lab:wireguardPrivateKey:\n    secure: AAABAEncrypted\n" +
		"  research-lab:members:\n    - name: alice\n      password:\n        secure: AAABAEncrypted1\n      wireguardPublicKey: " + member + "\n"
	labs := map[vpnKind]*mockRun{vpnOpenVPNAS: deploy(t, nil), vpnWireGuard: deployTeam(t, "wireguard", []string{"alice"}, nil)}
	stacks := map[vpnKind]string{vpnOpenVPNAS: checkedStackFile, vpnWireGuard: wireguardStack}
	for kind, spec := range vpnKinds {
		for other, o := range vpnKinds {
			_, has := labs[kind].Outputs[o.Output]
			assert.Equal(t, kind == other, has, "output %s tells a %s lab's outputs apart: only that kind may export it", o.Output, other)
		}
		for stackKind, stack := range stacks {
			b, err := json.Marshal(labs[kind].Outputs)
			require.NoError(t, err)
			file := filepath.Join(t.TempDir(), "outputs.json")
			require.NoError(t, os.WriteFile(file, b, 0o600))
			dir := stackDir(t, stack)
			if stackKind == kind { // parsed, not probed: these addresses are the mocks'
				reach, c, err := expectedReachability(dir, "test")
				require.NoError(t, err)
				_, err = parseCheckOutputs(b, reach, c.VPN, false)
				assert.NoError(t, err, "a %s lab's own outputs", kind)
				continue
			}
			var out, errOut bytes.Buffer
			status := runCheck([]string{"--dir", dir, "--stack", "test", "--outputs", file}, &out, &errOut)
			assert.Equal(t, checkUsage, status, "%s outputs against a %s stack:\n%s", kind, stackKind, errOut.String())
			assert.Contains(t, errOut.String(), fmt.Sprintf("these are the outputs of a lab with vpn: %s (they hold %s), and the stack's configuration says vpn: %s", kind, spec.Output, stackKind))
			assert.Empty(t, out.String(), "outputs of another lab must be refused before any probe")
		}
	}
}

func TestCheckTimeoutTakesWhatAUserTypes(t *testing.T) {
	for in, want := range map[string]time.Duration{"5": 5 * time.Second, "2.5": 2500 * time.Millisecond, "5s": 5 * time.Second, "1m": time.Minute} {
		var d time.Duration
		require.NoError(t, secondsOrDuration{&d}.Set(in), in)
		assert.Equal(t, want, d, in)
	}
	var d time.Duration
	assert.Error(t, secondsOrDuration{&d}.Set("-1"))
	assert.Error(t, secondsOrDuration{&d}.Set("0"))
	for _, huge := range []string{"inf", "1e300", "2h"} {
		assert.Error(t, secondsOrDuration{&d}.Set(huge), "--timeout %s must be refused, not overflow", huge)
	}
}

// TestCheckCatchesWhatTheLabExposes runs the check against stand-in labs,
// each in a network namespace: a healthy one, one that wrongly exposes
// Jupyter's port and SSH on the public site, one whose site has no
// certificate yet, and one whose VPN is down.
func TestCheckCatchesWhatTheLabExposes(t *testing.T) {
	requireTool(t, "ip")
	cases := []struct {
		scenario string
		status   int
		want     []string
	}{
		{"healthy", checkPassed, []string{
			"PASS  the VPN web UI answers TLS on 127.0.0.2:943",
			"PASS  Voila publishes the sample notebook at https://127.0.0.3/",
			"PASS  8888/tcp (Jupyter) is closed on HOL02-VPN's public address 127.0.0.2",
			"PASS  8888/tcp (Jupyter) is closed on HOL02-VoilaServer's public address 127.0.0.3",
			"PASS  22/tcp (SSH) is closed on HOL02-VoilaServer's public address 127.0.0.3",
			"PASS  8866/tcp (Voila (loopback only)) is closed on HOL02-VoilaServer's public address 127.0.0.3",
			"PASS  22/tcp (SSH) is closed on HOL02-NAT's public address 127.0.0.5",
			"PASS  Jupyter's login page answers at http://127.0.0.4:8888 through the VPN",
			"16 of 16 rules hold",
		}},
		{"exposed", checkViolated, []string{
			"FAIL  8888/tcp (Jupyter) is closed on HOL02-VoilaServer's public address 127.0.0.3: it answers",
			"FAIL  22/tcp (SSH) is closed on HOL02-VoilaServer's public address 127.0.0.3: it answers",
			"FAIL  22/tcp (SSH) is closed on HOL02-NAT's public address 127.0.0.5: it answers",
			"PASS  the VPN web UI answers TLS",
		}},
		{"http-only", checkPassed, []string{"WARN  Voila publishes the sample notebook at https://127.0.0.3/: HTTPS fails"}},
		{"vpn-down", checkViolated, []string{"FAIL  the VPN web UI answers TLS on 127.0.0.2:943"}},
		{"redirect-elsewhere", checkViolated, []string{
			"FAIL  Voila publishes the sample notebook at https://127.0.0.3/: https://127.0.0.3/ redirects to another host (https://127.0.0.6/): not followed"}},
		{"redirect-to-http", checkViolated, []string{
			"FAIL  Voila publishes the sample notebook at https://127.0.0.3/: https://127.0.0.3/ redirects from HTTPS to HTTP (http://127.0.0.3/): not followed"}},
		{"jupyter-public", checkViolated, []string{"FAIL  8888/tcp (Jupyter) is closed on HOL02-Jupyter's public address 127.0.0.6: it answers"}},
		{"nat-gateway-exposed", checkViolated, []string{"FAIL  22/tcp (SSH) is closed on the NAT gateway's public address 127.0.0.5: it answers"}},
		{"nat-silent", checkPassed, []string{
			"UNKNOWN  22/tcp (SSH) is closed on HOL02-NAT's public address 203.0.113.5: no answer from 203.0.113.5 on any port, so its silence proves nothing (is it running?)",
			"UNKNOWN  8888/tcp (Jupyter) is closed on HOL02-NAT's public address 203.0.113.5",
			"PASS  8888/tcp (Jupyter) is closed on HOL02-VPN's public address 127.0.0.2",
			"10 of 16 rules hold, 6 unknown",
		}},
		// Security groups as AWS's: what they do not open answers nothing;
		// the VPN's web UI is down, and only SSH (adminCidrs) shows it is up.
		{"firewalled", checkViolated, []string{
			"FAIL  the VPN web UI answers TLS on 127.0.0.2:943",
			"PASS  8888/tcp (Jupyter) is closed on HOL02-VPN's public address 127.0.0.2\n",
			"PASS  8888/tcp (Jupyter) is closed on HOL02-VoilaServer's public address 127.0.0.3\n",
			"UNKNOWN  22/tcp (SSH) is closed on HOL02-NAT's public address 127.0.0.5: no answer",
			"9 of 16 rules hold, 6 unknown",
		}},
		{"unreachable", checkUnreachable, []string{
			"UNKNOWN  8888/tcp (Jupyter) is closed on HOL02-VPN's public address 203.0.113.2",
			"FAIL  the VPN web UI answers TLS on 203.0.113.2:943",
			"could not reach the lab: none of its public addresses (203.0.113.2, 203.0.113.3, 203.0.113.5) answered from here",
		}},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			ns := newNetns(t, "chk")
			cmd := ns.cmd(os.Args[0], "-test.run=^TestCheckStandInLab$", "-test.v")
			cmd.Env = append(os.Environ(), "RESEARCH_LAB_CHECK_SCENARIO="+c.scenario)
			out, _ := cmd.CombinedOutput()
			text := string(out)
			require.Contains(t, text, "--- PASS: TestCheckStandInLab", "the stand-in lab did not run:\n%s", text)
			assert.Contains(t, text, fmt.Sprintf("check exit status %d\n", c.status), "exit status of the check:\n%s", text)
			for _, line := range c.want {
				assert.Contains(t, text, line, "the check must report it:\n%s", text)
			}
		})
	}
}

// TestCheckStandInLab is run by TestCheckCatchesWhatTheLabExposes inside a
// network namespace; on its own it does nothing.
func TestCheckStandInLab(t *testing.T) {
	scenario := os.Getenv("RESEARCH_LAB_CHECK_SCENARIO")
	if scenario == "" {
		t.Skip("runs inside TestCheckCatchesWhatTheLabExposes's network namespace")
	}
	cert, caFile := testCertificate(t, standInVPN, standInVoila, standInPublic)
	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<ul><li><a href="/voila/render/%s">%s</a></li></ul>`, sampleNotebookName, sampleNotebookName)
	})
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<form action="/login"><input type="password" name="password"></form>`)
	})
	serve := func(addr string, h http.Handler, tlsOn bool) {
		l, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		if tlsOn {
			l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	listen := func(addr string) { // a port that accepts and says nothing
		l, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
	}
	if scenario != "vpn-down" && scenario != "firewalled" {
		serve(standInVPN+":943", site, true)
	}
	listen(standInVPN + ":22") // SSH on the VPN is allowed
	switch scenario {
	case "http-only":
	case "redirect-elsewhere", "redirect-to-http":
		to := map[string]string{"redirect-elsewhere": "https://" + standInPublic + "/", "redirect-to-http": "http://" + standInVoila + "/"}[scenario]
		serve(standInVoila+":443", http.RedirectHandler(to, http.StatusFound), true)
		serve(standInPublic+":443", site, true) // the page the redirect would have passed
	default:
		serve(standInVoila+":443", site, true)
	}
	serve(standInVoila+":80", site, false)
	serve(standInJupyter+":8888", login, false)
	outputs := map[string]string{"vpnPublicIp": standInVPN, "voilaPublicIp": standInVoila, "natPublicIp": standInNAT,
		"voilaUrl": "https://" + standInVoila + "/", "jupyterUrl": "http://" + standInJupyter + ":8888"}
	stackFile := checkedStackFile
	switch scenario {
	case "exposed":
		listen(standInVoila + ":8888")
		listen(standInVoila + ":22")
		listen(standInNAT + ":22")
	case "nat-gateway-exposed":
		stackFile += "  research-lab:researchEgress: nat-gateway\n"
		listen(standInNAT + ":22")
	case "firewalled":
		requireTool(t, "nft")
		nft := func(rule string) {
			out, err := exec.Command("nft", strings.Fields(rule)...).CombinedOutput()
			require.NoError(t, err, "nft %s: %s", rule, out)
		}
		nft("add table ip sg")
		nft("add chain ip sg out { type filter hook output priority 0 ; }")
		nft("add rule ip sg out ip daddr " + standInVPN + " tcp dport != 22 drop")
		nft("add rule ip sg out ip daddr " + standInVoila + " tcp dport != { 80, 443 } drop")
		nft("add rule ip sg out ip daddr " + standInNAT + " drop")
	case "nat-silent":
		outputs["natPublicIp"] = standInSilent + "5"
	case "unreachable":
		for k, last := range map[string]string{"vpnPublicIp": "2", "voilaPublicIp": "3", "natPublicIp": "5"} {
			outputs[k] = standInSilent + last
		}
		outputs["voilaUrl"] = "https://" + standInSilent + "3/"
	case "jupyter-public":
		stackFile += "  research-lab:researchEgress: internet-gateway\n"
		delete(outputs, "natPublicIp")
		outputs["jupyterPublicIp"] = standInPublic
		listen(standInPublic + ":8888")
	}
	var out bytes.Buffer
	status := runCheck([]string{"--dir", stackDir(t, stackFile), "--stack", "test", "--outputs", writeOutputs(t, outputs),
		"--ca", caFile, "--via-vpn", "--timeout", "2s"}, &out, &out)
	fmt.Printf("%scheck exit status %d\n", out.String(), status)
}

// testCertificate makes a self-signed certificate for IP addresses and writes
// it as a CA file the check is told to trust.
func testCertificate(t *testing.T, ips ...string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stand-in lab"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(file, certPEM, 0o600))
	return cert, file
}
