package main

// The Voila site's certificate end to end, on loopback: the lab-acme that
// `pulumi up` puts in the bucket (built by the program for an x86_64 Voila,
// so that it runs here) is installed by the rendered lab-acme-install only
// once its digest matches the userdata's; it runs with the rendered unit's
// flags as an unprivileged user against Pebble (Let's Encrypt's test server);
// the rendered voila-tls-enable switches the real Nginx to the rendered HTTPS
// variant, and renewal swaps the certificate Nginx serves.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Pebble, Let's Encrypt's ACME test server, at a pinned version.
const (
	pebbleModule  = "github.com/letsencrypt/pebble/v2"
	pebbleVersion = "v2.10.1"
)

// goCommand runs the go command for a test with the module checksums
// enforced.
func goCommand(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOFLAGS=-mod=readonly"), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
}

// startPebble runs Pebble on loopback; it validates HTTP-01 on httpPort.
// It returns the ACME directory, the CA file that its own TLS chains to, and
// the root it signs certificates with.
func startPebble(t *testing.T, httpPort int) (directory, caFile string, roots *x509.CertPool) {
	t.Helper()
	bin := t.TempDir()
	goCommand(t, ".", []string{"GOBIN=" + bin}, "install", pebbleModule+"/cmd/pebble@"+pebbleVersion)
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	require.NoError(t, err)
	certs := filepath.Join(strings.TrimSpace(string(modcache)), pebbleModule+"@"+pebbleVersion, "test/certs")
	listen, mgmt := freePort(t), freePort(t)
	config := map[string]any{"pebble": map[string]any{
		"listenAddress": fmt.Sprintf("127.0.0.1:%d", listen), "managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate": filepath.Join(certs, "localhost/cert.pem"), "privateKey": filepath.Join(certs, "localhost/key.pem"),
		"httpPort": httpPort, "tlsPort": freePort(t), "ocspResponderURL": "", "externalAccountBindingRequired": false,
		"profiles": map[string]any{
			"default":    map[string]any{"description": "90 days", "validityPeriod": 7776000},
			"shortlived": map[string]any{"description": "six days", "validityPeriod": 518400},
		},
	}}
	b, err := json.Marshal(config)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "pebble.json")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	cmd := exec.Command(filepath.Join(bin, "pebble"), "-config", file, "-strict")
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", listen), logs)
	caFile = filepath.Join(certs, "pebble.minica.pem")

	// The root Pebble issues under, from its management API.
	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	trust := x509.NewCertPool()
	require.True(t, trust.AppendCertsFromPEM(caPEM))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trust}}}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmt))
	require.NoError(t, err)
	defer resp.Body.Close()
	rootPEM, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	roots = x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(rootPEM), "Pebble's root: %s", rootPEM)
	return fmt.Sprintf("https://127.0.0.1:%d/dir", listen), caFile, roots
}

// tlsTestConfig deploys an x86_64 Voila, whose lab-acme runs on this machine.
var tlsTestConfig = map[string]string{"voilaInstanceType": "t3.small"}

// unprivileged is the user lab-acme runs as here, as lab-acme's own user
// does on the server: it owns the state and the webroot, nothing else.
const unprivileged = 65534

// tlsSite is the Voila server's Nginx and certificate client laid out in a
// folder, with the rendered files moved to loopback ports.
type tlsSite struct {
	t                     *testing.T
	run                   *mockRun
	dir, nginxConf, state string
	httpPort, httpsPort   int
	unit                  map[string][]string // voila-certificate.service as systemd reads it
	local                 func(string) string // a server path or file, moved into dir
	shipped, digest       string              // the bucket object's file, the userdata's SHA-256
	env                   []string
	httpsVariant          string
}

func newTLSSite(t *testing.T, stubPort int) *tlsSite {
	t.Helper()
	requireRoot(t, "lab-acme-install installs lab-acme as root's, and lab-acme runs as another user")
	s := &tlsSite{t: t, dir: t.TempDir(), httpPort: freePort(t), httpsPort: freePort(t)}
	s.state = filepath.Join(s.dir, "acme")
	webroot := filepath.Join(s.dir, "webroot")
	confd := filepath.Join(s.dir, "conf.d")
	bin := filepath.Join(s.dir, "bin")
	for _, d := range []string{s.state, webroot, confd, bin} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	// As the setup makes them: lab-acme's user owns its state and the webroot.
	require.NoError(t, os.Chmod(s.state, 0o700))
	for _, d := range []string{s.state, webroot} {
		require.NoError(t, os.Chown(d, unprivileged, unprivileged))
	}
	// Nginx's workers and lab-acme are not root, as on the server: let them in.
	require.NoError(t, os.Chmod(s.dir, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(s.dir), 0o755))
	s.run = deploy(t, tlsTestConfig)
	ud := userDataOf(t, one(t, s.run, typeInstance, "HOL02-VoilaServer"))

	// What `pulumi up` uploads: the file of the recorded object's asset.
	obj := one(t, s.run, typeObject, "lab-acme")
	source := obj.Inputs["source"]
	require.True(t, source.IsAsset(), "lab-acme is uploaded as a file asset")
	s.shipped = source.AssetValue().Path
	require.FileExists(t, s.shipped)
	bucketKey := "s3://" + propString(obj.Inputs, "bucket") + "/" + propString(obj.Inputs, "key")

	s.local = func(content string) string {
		// In order: the webroot's path begins with the state folder's.
		for _, r := range [][2]string{
			{fmt.Sprintf("listen %d default_server;", portHTTP.Number), fmt.Sprintf("listen 127.0.0.1:%d default_server;", s.httpPort)},
			{fmt.Sprintf("listen %d ssl default_server;", portHTTPS.Number), fmt.Sprintf("listen 127.0.0.1:%d ssl default_server;", s.httpsPort)},
			{fmt.Sprintf("127.0.0.1:%d;", portVoila.Number), fmt.Sprintf("127.0.0.1:%d;", stubPort)},
			{acmeWebroot, webroot},
			{acmeStateDir, s.state},
			{staticPagesDir, filepath.Join(s.dir, "static")}, // none yet: the front page is Voila's
			{"/var/lib/research-lab/served-certificate.sha256", filepath.Join(s.dir, "served-certificate.sha256")},
			{"/etc/nginx/conf.d/voila.conf", filepath.Join(confd, "voila.conf")},
			{"/etc/research-lab/nginx/voila-https.conf", filepath.Join(s.dir, "voila-https.conf")},
			{voilaSiteConf, filepath.Join(s.dir, "voila-site.conf")},
			{"/usr/local/lib/research-lab/common.sh", filepath.Join(s.dir, "common.sh")},
			{"/etc/research-lab/notebooks.env", filepath.Join(s.dir, "notebooks.env")},
			{pythonConstraints, filepath.Join(s.dir, "python-constraints.txt")},
			{"/usr/local/bin/lab-acme", filepath.Join(bin, "lab-acme")},
			{"/usr/local/sbin/", bin + "/"},
		} {
			content = strings.ReplaceAll(content, r[0], r[1])
		}
		for _, server := range []string{"/var/lib/research-lab", "/etc/research-lab", "/usr/local/"} {
			require.NotContains(t, content, server, "a server path was left in the test's copy")
		}
		return content
	}
	write := func(path, content string, mode os.FileMode) {
		require.NoError(t, os.WriteFile(path, []byte(s.local(content)), mode))
	}
	write(filepath.Join(confd, "00-voila-common.conf"), writtenFile(t, ud, "/etc/nginx/conf.d/00-voila-common.conf"), 0o644)
	write(filepath.Join(confd, "voila.conf"), writtenFile(t, ud, "/etc/nginx/conf.d/voila.conf"), 0o644)
	s.httpsVariant = writtenFile(t, ud, "/etc/research-lab/nginx/voila-https.conf")
	write(filepath.Join(s.dir, "voila-https.conf"), s.httpsVariant, 0o644)
	write(filepath.Join(s.dir, "voila-site.conf"), writtenFile(t, ud, voilaSiteConf), 0o644)
	write(filepath.Join(s.dir, "common.sh"), writtenFile(t, ud, "/usr/local/lib/research-lab/common.sh"), 0o644)
	write(filepath.Join(s.dir, "notebooks.env"), writtenFile(t, ud, "/etc/research-lab/notebooks.env"), 0o644)
	for _, script := range []string{"lab-acme-install", "voila-tls-enable"} {
		write(filepath.Join(bin, script), writtenFile(t, ud, "/usr/local/sbin/"+script), 0o755)
	}
	install := writtenFile(t, ud, "/usr/local/sbin/lab-acme-install")
	m := regexp.MustCompile(`(?m)^digest='([0-9a-f]{64})'$`).FindStringSubmatch(install)
	require.NotNil(t, m, "lab-acme-install names no SHA-256:\n%s", install)
	s.digest = m[1]
	require.Contains(t, install, shellQuote(bucketKey), "lab-acme-install fetches the object the stack uploads")

	s.nginxConf = filepath.Join(s.dir, "nginx.conf")
	require.NoError(t, os.WriteFile(s.nginxConf, []byte(fmt.Sprintf(
		"pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  include %s/*.conf;\n}\n", s.dir, confd)), 0o644))
	// The scripts call nginx, systemctl and aws: the real Nginx of this
	// folder, and the bucket object's file for `aws s3 cp` of its address.
	nginx := requireTool(t, "nginx")
	standIns := map[string]string{
		"nginx": fmt.Sprintf("#!/bin/sh\nexec %s -e stderr -p %s -c %s \"$@\"\n", nginx, s.dir, s.nginxConf),
		"systemctl": fmt.Sprintf("#!/bin/sh\n[ \"$*\" = \"reload nginx\" ] || exit 1\necho reloaded >>%s/reloads\nexec %s -e stderr -p %s -c %s -s reload\n",
			s.dir, nginx, s.dir, s.nginxConf),
		"aws": fmt.Sprintf("#!/bin/sh\necho \"$*\" >>%[1]s/aws-calls\n[ \"$1 $2 $3 $4\" = %[2]s ] || { echo \"unexpected: aws $*\" >&2; exit 2; }\ncp \"$(cat %[1]s/bucket-object)\" \"$5\"\n",
			s.dir, shellQuote("s3 cp --only-show-errors "+bucketKey)),
	}
	for name, script := range standIns {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755))
	}
	s.serve(s.shipped)

	s.unit = unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/voila-certificate.service"))
	s.env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "RETRY_MAX=1")
	return s
}

// serve makes file what the bucket holds at lab-acme's key.
func (s *tlsSite) serve(file string) {
	require.NoError(s.t, os.WriteFile(filepath.Join(s.dir, "bucket-object"), []byte(file), 0o644))
}

func (s *tlsSite) startNginx() {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.dir, "bin", "nginx"), "-g", "daemon off;")
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// The master and its workers: a group of their own, stopped whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	require.NoError(s.t, cmd.Start())
	s.t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	waitListening(s.t, fmt.Sprintf("127.0.0.1:%d", s.httpPort), logs)
}

// command is one of the unit's commands, moved into the site's folder; a
// "+" (run as root) is taken off and reported.
func (s *tlsSite) command(line string) (args []string, asRoot bool) {
	asRoot = strings.HasPrefix(line, "+")
	return strings.Fields(s.local(strings.TrimPrefix(line, "+"))), asRoot
}

// runUnit runs voila-certificate.service as systemd does: ExecStartPre, then
// ExecStart with extra flags, then ExecStartPost only if ExecStart succeeded;
// each as root if marked "+", otherwise as the unprivileged user. The CA and
// the address it certifies (loopback, where Pebble validates) are the test's.
func (s *tlsSite) runUnit(server, ca string, extra ...string) (string, error) {
	var out strings.Builder
	run := func(key string, extra ...string) error {
		for _, line := range s.unit[key] {
			args, asRoot := s.command(line)
			for i, a := range args {
				switch a {
				case "--server":
					args[i+1] = server
				case "--identifier":
					args[i+1] = "127.0.0.1"
				}
			}
			cmd := exec.Command(args[0], append(args[1:], extra...)...)
			cmd.Env = append(s.env, "LEGO_CA_CERTIFICATES="+ca)
			cmd.Stdout, cmd.Stderr = &out, &out
			if !asRoot {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: unprivileged, Gid: unprivileged}}
			}
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s %s: %w", key, line, err)
			}
		}
		return nil
	}
	err := run("ExecStartPre")
	if err == nil {
		err = run("ExecStart", extra...)
	}
	if err == nil {
		err = run("ExecStartPost")
	}
	return out.String(), err
}

func (s *tlsSite) servedCertificate(roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.httpsPort), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestCertificateClientShipsWhole: the unit installs lab-acme from the
// bucket only when its digest is the userdata's, and nothing runs a binary
// that does not match; the digest is the very file `pulumi up` uploads.
func TestCertificateClientShipsWhole(t *testing.T) {
	requireTool(t, "nginx")
	site := newTLSSite(t, freePort(t))
	assert.Equal(t, site.digest, fileSum(t, site.shipped), "the userdata's digest is that of the file `pulumi up` uploads")
	installed := filepath.Join(site.dir, "bin", "lab-acme")
	install := func() (string, error) {
		cmd := exec.Command(filepath.Join(site.dir, "bin", "lab-acme-install"))
		cmd.Env = site.env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// A tampered binary that leaves a mark if anything runs it.
	mark := filepath.Join(site.dir, "tampered-ran")
	tampered := filepath.Join(site.dir, "tampered")
	require.NoError(t, os.WriteFile(tampered, []byte("#!/bin/sh\ntouch "+mark+"\n"), 0o755))
	site.serve(tampered)
	out, err := install()
	require.Error(t, err, "a binary whose digest is not the userdata's must be refused:\n%s", out)
	assert.Contains(t, out, "NOT installed", "the refusal says so in the journal")
	assert.NoFileExists(t, installed, "nothing is installed from a tampered download")
	assert.NoFileExists(t, mark, "nothing runs a tampered download")

	site.serve(site.shipped)
	out, err = install()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, site.digest, fileSum(t, installed), "the installed lab-acme is the one the userdata names")
	info, err := os.Stat(installed)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), info.Mode().Perm())
	assert.Equal(t, uint32(0), info.Sys().(*syscall.Stat_t).Uid, "lab-acme is root's: its own user cannot change it")

	// Installed and intact: the next run downloads nothing.
	calls, _ := os.ReadFile(filepath.Join(site.dir, "aws-calls"))
	out, err = install()
	require.NoError(t, err, "%s", out)
	again, _ := os.ReadFile(filepath.Join(site.dir, "aws-calls"))
	assert.Equal(t, string(calls), string(again), "an installed lab-acme that checks out is not downloaded again")

	// Changed on disk: replaced by the verified one.
	require.NoError(t, os.WriteFile(installed, []byte("#!/bin/sh\ntouch "+mark+"\n"), 0o755))
	out, err = install()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, site.digest, fileSum(t, installed), "a lab-acme changed on disk is replaced by the verified one")
	assert.NoFileExists(t, mark)
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	sum, err := fileSHA256(path)
	require.NoError(t, err)
	return sum
}

func TestVoilaCertificateFromPebble(t *testing.T) {
	requireTool(t, "nginx")
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "websocket" {
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Connection", "Upgrade")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		fmt.Fprint(w, "voila: "+sampleNotebookName)
	}))
	defer stub.Close()
	site := newTLSSite(t, stub.Listener.Addr().(*net.TCPAddr).Port)
	directory, pebbleCA, roots := startPebble(t, site.httpPort)
	// lab-acme is not root: it reads the CA from where it may.
	caPEM, err := os.ReadFile(pebbleCA)
	require.NoError(t, err)
	ca := filepath.Join(site.dir, "pebble-ca.pem")
	require.NoError(t, os.WriteFile(ca, caPEM, 0o644))
	site.startNginx()
	// Fresh connections: an old worker keeps serving its own after a reload.
	noRedirect := &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url, host string) (int, string, http.Header) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		resp, err := noRedirect.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	plain := fmt.Sprintf("http://127.0.0.1:%d", site.httpPort)

	// Until a certificate is issued the site answers on HTTP, even when
	// issuance fails.
	// Validation fails: the CA is asked for an address nothing answers for.
	out, err := site.runUnit(directory, ca, "--identifier", "127.0.0.2")
	require.Error(t, err, "issuance whose validation fails must fail:\n%s", out)
	t.Logf("issuance refused as it should be:\n%s", out)
	status, body, _ := get(plain+"/", "")
	assert.Equal(t, http.StatusOK, status, "without a certificate the site must keep answering on HTTP")
	assert.Contains(t, body, sampleNotebookName)

	// Without a certificate the switch changes nothing; with one that Nginx
	// refuses it restores the HTTP site.
	enable := func() (string, error) {
		hook := exec.Command(filepath.Join(site.dir, "bin", "voila-tls-enable"))
		hook.Env = site.env
		out, err := hook.CombinedOutput()
		return string(out), err
	}
	out, err = enable()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, "no certificate yet")
	for _, f := range []string{"cert.pem", "key.pem"} {
		require.NoError(t, os.WriteFile(filepath.Join(site.state, f), []byte("not PEM"), 0o600))
	}
	out, err = enable()
	require.Error(t, err, "the switch must fail when Nginx refuses the certificate:\n%s", out)
	status, body, _ = get(plain+"/", "")
	assert.Equal(t, http.StatusOK, status, "after a refused switch the site must keep answering on HTTP")
	assert.Contains(t, body, sampleNotebookName)

	out, err = site.runUnit(directory, ca)
	require.NoError(t, err, "voila-certificate.service against Pebble:\n%s", out)
	cert := readCertificate(t, filepath.Join(site.state, "cert.pem"))
	require.Len(t, cert.IPAddresses, 1)
	assert.Equal(t, "127.0.0.1", cert.IPAddresses[0].String(), "the certificate is for the site's address")
	assert.InDelta(t, (6 * 24 * time.Hour).Hours(), cert.NotAfter.Sub(cert.NotBefore).Hours(), 1, "an IP address gets the six-day shortlived profile")
	info, err := os.Stat(filepath.Join(site.state, "key.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the private key is readable by its owner only")
	assert.Equal(t, uint32(unprivileged), info.Sys().(*syscall.Stat_t).Uid, "lab-acme wrote the key as its own user, not as root")

	assert.Contains(t, out, "Nginx serves the new certificate", "the unit's last step must switch Nginx to HTTPS")
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", site.httpsPort), &strings.Builder{}) // a reload is asynchronous
	served, err := site.servedCertificate(roots)
	require.NoError(t, err, "Nginx must serve HTTPS with a certificate that chains to the CA's root:\n%s", out)
	assert.Equal(t, cert.SerialNumber, served.SerialNumber, "Nginx serves the certificate just issued")
	_, err = tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", site.httpsPort), &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11})
	assert.Error(t, err, "TLS 1.1 and older must be refused")
	// Old workers answer until the reload has finished: ask until it has.
	redirect := func(host string) (int, http.Header) {
		var status int
		var header http.Header
		eventually(loadedMachine, func() bool {
			status, _, header = get(plain+"/voila/render/"+sampleNotebookName, host)
			return status != http.StatusOK
		})
		return status, header
	}
	ip := site.run.Outputs["voilaPublicIp"].(string)
	status, header := redirect("")
	assert.Equal(t, http.StatusMovedPermanently, status, "HTTP redirects to HTTPS once a certificate is served")
	assert.Equal(t, fmt.Sprintf("https://%s/voila/render/%s", ip, sampleNotebookName), header.Get("Location"))
	_, header = redirect("evil.example")
	assert.Equal(t, fmt.Sprintf("https://%s/voila/render/%s", ip, sampleNotebookName), header.Get("Location"),
		"the redirect goes to the certificate's own name, never to the Host a request names")
	assertSecurityHeaders(t, header, "the redirect")
	require.NoError(t, os.MkdirAll(filepath.Join(site.dir, "webroot/.well-known/acme-challenge"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(site.dir, "webroot/.well-known/acme-challenge/token"), []byte("answer"), 0o644))
	status, body, _ = get(plain+"/.well-known/acme-challenge/token", "")
	assert.Equal(t, http.StatusOK, status, "the ACME challenge path is not redirected, so renewals validate")
	assert.Equal(t, "answer", body)

	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := httpsClient.Get(fmt.Sprintf("https://127.0.0.1:%d/", site.httpsPort))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, resp.Header.Get("Strict-Transport-Security"), "no HSTS for a six-day IP certificate")
	assertSecurityHeaders(t, resp.Header, "the HTTPS site")
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", site.httpsPort), &tls.Config{RootCAs: roots})
	require.NoError(t, err)
	fmt.Fprintf(conn, "GET /api/kernels/1/channels HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	require.NoError(t, err)
	assert.Contains(t, line, "101", "kernels' websockets pass over HTTPS")

	// A timer run with the certificate still fresh changes nothing.
	out, err = site.runUnit(directory, ca)
	require.NoError(t, err, "%s", out)
	assert.Contains(t, out, "nothing to do")
	assert.Equal(t, cert.SerialNumber, readCertificate(t, filepath.Join(site.state, "cert.pem")).SerialNumber)
	reloads, _ := os.ReadFile(filepath.Join(site.dir, "reloads"))
	assert.Equal(t, 1, strings.Count(string(reloads), "reloaded"), "Nginx is reloaded only for a new certificate")

	// Renewal: with less left than --renew-within, a new certificate is
	// issued and Nginx serves it.
	out, err = site.runUnit(directory, ca, "--renew-within", "200h")
	require.NoError(t, err, "renewal:\n%s", out)
	renewed := readCertificate(t, filepath.Join(site.state, "cert.pem"))
	assert.NotEqual(t, cert.SerialNumber, renewed.SerialNumber, "renewal issues a new certificate")
	// The reload replaces Nginx's workers: wait until the new ones serve.
	eventually(loadedMachine, func() bool {
		served, err = site.servedCertificate(roots)
		return err == nil && served.SerialNumber.Cmp(renewed.SerialNumber) == 0
	})
	require.NoError(t, err)
	assert.Equal(t, renewed.SerialNumber, served.SerialNumber, "after renewal Nginx serves the new certificate")
}

func readCertificate(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block, "%s holds no certificate", file)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

// TestVoilaCertificateForADomain: with voilaDomain the certificate, the URL
// and HSTS are the domain's; the default profile, renewed a month ahead.
func TestVoilaCertificateForADomain(t *testing.T) {
	run := deploy(t, map[string]string{"voilaDomain": "Lab.Example.EDU"})
	assert.Equal(t, "https://lab.example.edu/", run.Outputs["voilaUrl"])
	ud := userDataOf(t, one(t, run, typeInstance, "HOL02-VoilaServer"))
	start := words(unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/voila-certificate.service"))["ExecStart"])
	assert.Subset(t, start, []string{"--identifier", "lab.example.edu", "--renew-within", "720h"})
	assert.NotContains(t, start, "--profile", "a domain gets the CA's default profile")
	assert.Contains(t, writtenFile(t, ud, "/etc/research-lab/nginx/voila-https.conf"), `add_header Strict-Transport-Security "max-age=31536000" always;`,
		"a domain's site asks browsers for HTTPS only")

	ipRun := deploy(t, nil)
	ipUD := userDataOf(t, one(t, ipRun, typeInstance, "HOL02-VoilaServer"))
	assert.NotContains(t, writtenFile(t, ipUD, "/etc/research-lab/nginx/voila-https.conf"), "Strict-Transport-Security")
	ipUnit := unitProperties(t, writtenFile(t, ipUD, "/etc/systemd/system/voila-certificate.service"))
	ipStart := words(ipUnit["ExecStart"])
	assert.Subset(t, ipStart, []string{"--identifier", run.Outputs["voilaPublicIp"].(string), "--profile", "shortlived", "--renew-within", "72h"})

	// Both variants for a domain pass nginx -t, with a certificate in place.
	tool := requireTool(t, "nginx")
	cert, _ := testCertificate(t, "127.0.0.1")
	dir := t.TempDir()
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	for _, path := range []string{"/etc/nginx/conf.d/voila.conf", "/etc/research-lab/nginx/voila-https.conf"} {
		conf := strings.ReplaceAll(voilaNginxConf(t, run, path), acmeStateDir, dir)
		prefix, main := nginxPrefix(t, conf)
		out, err := exec.Command(tool, "-e", "stderr", "-p", prefix, "-c", main, "-t").CombinedOutput()
		assert.NoError(t, err, "nginx -t rejects %s:\n%s", path, out)
	}
}
