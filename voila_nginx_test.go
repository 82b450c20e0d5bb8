package main

// The public site's Nginx, run for real on loopback in front of a stand-in
// Voila that counts the kernels it would start: the bound on live kernels,
// the per-visitor shares, the headers on every response and the TLS suites.
// Visitors are distinct loopback addresses (127.0.0.x), as Nginx tells
// visitors apart by address.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func assertSecurityHeaders(t *testing.T, h http.Header, what string) {
	t.Helper()
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), "%s must forbid MIME sniffing", what)
	assert.Equal(t, "strict-origin-when-cross-origin", h.Get("Referrer-Policy"), "%s must give other sites the origin only", what)
}

// countingVoila counts the kernels Voila would start (one per render) and
// holds kernel websockets open until the test ends.
type countingVoila struct {
	*httptest.Server
	renders atomic.Int64
}

func newCountingVoila(t *testing.T) *countingVoila {
	t.Helper()
	v := &countingVoila{}
	hold := make(chan struct{})
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/voila/render/"):
			v.renders.Add(1)
			fmt.Fprint(w, "voila: a kernel for "+r.URL.Path)
		case r.Header.Get("Upgrade") == "websocket":
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			buf.Flush()
			<-hold // a kernel connection stays open
			conn.Close()
		case r.URL.Path == "/":
			fmt.Fprint(w, "voila: "+sampleNotebookName)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(hold); v.Close() })
	return v
}

// siteOnLoopback runs the real Nginx with the rendered HTTP server block in
// front of a stand-in Voila, and returns its address.
func siteOnLoopback(t *testing.T) (*countingVoila, string) {
	t.Helper()
	requireTool(t, "nginx")
	voila := newCountingVoila(t)
	port := freePort(t)
	startNginx(t, localServerBlock(t, voilaServerBlock(t), port, voila.Listener.Addr().(*net.TCPAddr).Port))
	return voila, fmt.Sprintf("127.0.0.1:%d", port)
}

// visitor is a client at its own loopback address, 127.0.0.n.
func visitor(n int) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}, Timeout: 5 * time.Second}
}

// fetch gets path from the site as visitor n, on a connection of its own,
// and follows no redirect.
func fetch(site string, n int, path string) (int, http.Header, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: visitor(n).DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + site + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, err
}

func get(t *testing.T, site string, n int, path string) (int, http.Header) {
	t.Helper()
	status, header, err := fetch(site, n, path)
	require.NoError(t, err)
	return status, header
}

// kernelSocket opens a kernel's websocket as visitor n and returns the
// status line; the connection stays open until the test ends.
func kernelSocket(t *testing.T, site string, n int, kernel int) string {
	t.Helper()
	conn, err := visitor(n).Dial("tcp", site)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return upgrade(t, conn, fmt.Sprintf("/api/kernels/%d/channels", kernel))
}

// TestOneVisitorCannotTakeEveryKernel: one address gets its own burst of
// live pages and is then sent to the static page; another visitor still
// gets a live page, and one address's kernel connections are capped.
func TestOneVisitorCannotTakeEveryKernel(t *testing.T) {
	l := voilaLiveBound(defaultConfig(t))
	require.Less(t, l.ClientConnections, l.Connections, "one visitor's connections must be fewer than the site's")
	voila, site := siteOnLoopback(t)
	served, redirected := 0, 0
	for i := 0; i < 2*(1+l.ClientRenders.Burst); i++ {
		status, h := get(t, site, 2, fmt.Sprintf("/voila/render/%s?page=%d", sampleNotebookName, i))
		switch status {
		case http.StatusOK:
			served++
		case http.StatusSeeOther:
			redirected++
			assert.Equal(t, staticPrefix+strings.TrimSuffix(sampleNotebookName, ".ipynb")+".html?live=full#live-full", h.Get("Location"),
				"a visitor past their share is sent to the notebook's static page")
		default:
			t.Errorf("a live page answered %d: neither the page nor the static page", status)
		}
	}
	assert.Equal(t, 1+l.ClientRenders.Burst, served, "one visitor gets its own burst of live pages and no more")
	assert.Equal(t, 1+l.ClientRenders.Burst, redirected, "past it, the static page")
	status, _ := get(t, site, 3, "/voila/render/"+sampleNotebookName)
	assert.Equal(t, http.StatusOK, status, "after one visitor's burst another visitor still gets a live page")
	assert.Equal(t, int64(served+1), voila.renders.Load())

	for i := 1; i <= l.ClientConnections+1; i++ {
		status := kernelSocket(t, site, 4, i)
		if i <= l.ClientConnections {
			require.Contains(t, status, "101", "kernel connection %d of one visitor's %d must pass", i, l.ClientConnections)
		} else {
			assert.Contains(t, status, "503", "one visitor's kernel connection %d, past its share of %d, must be refused", i, l.ClientConnections)
		}
	}
	assert.Contains(t, kernelSocket(t, site, 5, 100), "101", "another visitor still gets a kernel connection")
}

// TestNginxCapsOpenKernelConnections: however many visitors, at most
// Connections kernel connections are open at once; past them a visitor gets
// 503 instead of a connection that exhausts Voila.
func TestNginxCapsOpenKernelConnections(t *testing.T) {
	l := voilaLiveBound(defaultConfig(t))
	_, site := siteOnLoopback(t)
	for i := 1; i <= l.Connections+1; i++ {
		status := kernelSocket(t, site, 10+i, i) // each from an address of its own
		if i <= l.Connections {
			require.Contains(t, status, "101", "kernel connection %d of %d must pass", i, l.Connections)
		} else {
			assert.Contains(t, status, "503", "kernel connection %d, past the cap of %d, must be refused", i, l.Connections)
		}
	}
	assert.Regexp(t, `(?m)^\s*proxy_buffering off;`, voilaServerBlock(t), "Voila's deployment guide turns proxy buffering off")
}

// defaultConfig is the configuration of the default stack.
func defaultConfig(t *testing.T) *labConfig {
	t.Helper()
	return deploy(t, nil).Infra.Config
}

// TestLiveBoundFollowsMemory: the live bound is what the Voila instance's
// memory holds, for 1 GiB and 2 GiB, and a type the lab does not know gets
// the smallest memory it does; voila.service holds Voila to it (the kernel
// limit and MemoryMax), and MemoryMax never exceeds the instance's memory
// less the system's share.
func TestLiveBoundFollowsMemory(t *testing.T) {
	for _, c := range []struct {
		instanceType string
		mib, kernels int
	}{{"t4g.micro", 1024, 4}, {"t4g.small", 2048, 10}, {"t3.medium", 4096, 24}, {"x9z.large", voilaUnknownTypeMiB, 0}} {
		t.Run(c.instanceType, func(t *testing.T) {
			run := deploy(t, map[string]string{"voilaInstanceType": c.instanceType})
			l := voilaLiveBound(run.Infra.Config)
			assert.Equal(t, c.mib, l.InstanceMiB)
			assert.Equal(t, c.kernels, l.MaxKernels, "%d MiB hold %d kernels of %d MiB beside the system's %d and Voila's %d",
				c.mib, c.kernels, voilaKernelMiB, voilaReservedMiB, voilaServerMiB)
			assert.Equal(t, l.MaxKernels*voilaKernelMiB+voilaServerMiB, l.MemoryMaxMiB)
			assert.LessOrEqual(t, l.MemoryMaxMiB, l.InstanceMiB-voilaReservedMiB, "Voila's MemoryMax must leave the system its share")
			assert.Greater(t, (l.MaxKernels+1)*voilaKernelMiB+voilaServerMiB, l.InstanceMiB-voilaReservedMiB, "one kernel more would not fit")
			ud := userDataOf(t, one(t, run, typeInstance, "HOL02-VoilaServer"))
			unit := unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/voila.service"))
			assert.Equal(t, []string{fmt.Sprintf("%dM", l.MemoryMaxMiB)}, unit["MemoryMax"])
			assert.Contains(t, strings.Join(unit["ExecStart"], " "), fmt.Sprintf("--LiveKernelLimit.max_kernels=%d ", l.MaxKernels))
			assert.Contains(t, strings.Join(unit["ExecStart"], " "), "--VoilaConfiguration.multi_kernel_manager_class=research_lab_voila.LiveKernelLimit")
			for _, path := range []string{"/etc/nginx/conf.d/00-voila-common.conf", "/etc/systemd/system/voila.service"} {
				assert.Contains(t, writtenFile(t, ud, path), fmt.Sprintf("at most %d", l.MaxKernels), "%s states the bound", path)
			}
		})
	}
}

// TestDocsStateTheLiveBound holds docs/architecture.md's arithmetic to the
// constants in userdata.go.
func TestDocsStateTheLiveBound(t *testing.T) {
	section := markdownSection(doc(t, architectureDoc), "## How many kernels can live at once")
	require.NotEmpty(t, section, "docs/architecture.md has no section on how many kernels can live")
	section = strings.Join(strings.Fields(section), " ") // lines wrap anywhere
	for _, want := range []string{
		fmt.Sprintf("%d s without activity", voilaKernelIdleCull),
		fmt.Sprintf("every %d s", voilaKernelCullPeriod),
		fmt.Sprintf("the system keeps %d MiB", voilaReservedMiB),
		fmt.Sprintf("Voila's own server %d MiB", voilaServerMiB),
		fmt.Sprintf("each kernel %d MiB", voilaKernelMiB),
		fmt.Sprintf("the least the lab knows, %d MiB", voilaUnknownTypeMiB),
		fmt.Sprintf("%d a minute, burst %d", voilaClientRendersPerMinute, voilaClientRenderBurst),
		fmt.Sprintf("a notebook larger than %d MiB", staticNotebookMaxMiB),
		fmt.Sprintf("the render's %d MiB", staticRenderMemoryMiB),
	} {
		assert.Contains(t, section, want, "the docs' live bound must match userdata.go")
	}
	for _, instanceType := range []string{"t4g.micro", "t4g.small", "t4g.medium"} {
		l := voilaLiveBound(&labConfig{VoilaType: instanceType})
		row := fmt.Sprintf("| `%s` | %d MiB | %d = (%d − %d − %d) / %d | %d MiB |", instanceType, l.InstanceMiB, l.MaxKernels,
			l.InstanceMiB, voilaReservedMiB, voilaServerMiB, voilaKernelMiB, l.MemoryMaxMiB)
		assert.Contains(t, section, row, "the docs' table of live bounds must match userdata.go")
	}
}

// TestEveryResponseCarriesSecurityHeaders: pages, errors, redirects and
// refusals alike; the static pages' policy only where it belongs.
func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	l := voilaLiveBound(defaultConfig(t))
	_, site := siteOnLoopback(t)
	status, h := get(t, site, 2, "/")
	require.Equal(t, http.StatusOK, status)
	assertSecurityHeaders(t, h, "a page")
	status, h = get(t, site, 2, "/no-such-page")
	require.Equal(t, http.StatusNotFound, status)
	assertSecurityHeaders(t, h, "Voila's 404")
	assert.Empty(t, h.Get("Content-Security-Policy"), "Voila's own pages keep their scripts")
	for i := 0; i <= l.ClientRenders.Burst+1; i++ {
		status, h = get(t, site, 2, "/voila/render/"+sampleNotebookName)
	}
	require.Equal(t, http.StatusSeeOther, status)
	assertSecurityHeaders(t, h, "the redirect to the static page")
	status, h = get(t, site, 2, staticPrefix+"no-such-page.html")
	require.Equal(t, http.StatusNotFound, status)
	assertSecurityHeaders(t, h, "a static page's 404")
	assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'", "a static page's 404 carries the static pages' policy")
}

// TestHTTPSOffersOnlyModernSuites: the HTTPS variant speaks TLS 1.3 and the
// ECDHE-GCM suites of Mozilla's intermediate guideline, and refuses CBC.
func TestHTTPSOffersOnlyModernSuites(t *testing.T) {
	tool := requireTool(t, "nginx")
	voila := newCountingVoila(t)
	cert, _ := testCertificate(t, "127.0.0.1")
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	httpPort, httpsPort := freePort(t), freePort(t)
	conf := voilaNginxConf(t, deploy(t, nil), "/etc/research-lab/nginx/voila-https.conf")
	for _, r := range [][2]string{
		{acmeStateDir, dir},
		{fmt.Sprintf("listen %d default_server;", portHTTP.Number), fmt.Sprintf("listen 127.0.0.1:%d default_server;", httpPort)},
		{fmt.Sprintf("listen %d ssl default_server;", portHTTPS.Number), fmt.Sprintf("listen 127.0.0.1:%d ssl default_server;", httpsPort)},
		{fmt.Sprintf("127.0.0.1:%d;", portVoila.Number), fmt.Sprintf("127.0.0.1:%d;", voila.Listener.Addr().(*net.TCPAddr).Port)},
	} {
		require.Contains(t, conf, r[0])
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	prefix, main := nginxPrefix(t, conf)
	nginx := exec.Command(tool, "-e", "stderr", "-p", prefix, "-c", main, "-g", "daemon off; master_process off;")
	logs := &strings.Builder{}
	nginx.Stdout, nginx.Stderr = logs, logs
	nginx.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, nginx.Start())
	t.Cleanup(func() { _ = nginx.Process.Kill(); _ = nginx.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", httpsPort)
	waitListening(t, addr, logs)

	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	dial := func(c *tls.Config) (*tls.Conn, error) {
		c.RootCAs, c.ServerName = roots, "127.0.0.1"
		return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	}
	conn, err := dial(&tls.Config{MinVersion: tls.VersionTLS13})
	require.NoError(t, err, "TLS 1.3 must work:\n%s", logs)
	conn.Close()
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		conn, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if assert.NoError(t, err, "TLS 1.2 with %s must work", tls.CipherSuiteName(suite)) {
			assert.Equal(t, suite, conn.ConnectionState().CipherSuite)
			conn.Close()
		}
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA} {
		_, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		assert.Error(t, err, "a CBC suite (%s) must be refused", tls.CipherSuiteName(suite))
	}
	_, err = dial(&tls.Config{MaxVersion: tls.VersionTLS11})
	assert.Error(t, err, "TLS 1.1 and older must be refused")

	// The HTTPS site's own responses carry the headers too.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get("https://" + addr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assertSecurityHeaders(t, resp.Header, "the HTTPS site")
}
