package main

// These tests hand what the stack renders to the real tools that will consume
// it on the servers. .ci/run installs the tools and sets
// RESEARCH_LAB_REQUIRE_TOOLS=1, which turns a missing tool into a failure.

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func requireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is not installed: run .ci/install-tools", name)
		}
		t.Skipf("%s is not installed (run .ci/install-tools to check the userdata with it)", name)
	}
	return path
}

// cloudConfig is the part of a cloud-config the tests read.
type cloudConfig struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Encoding    string `yaml:"encoding"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	RunCmd [][]string `yaml:"runcmd"`
}

// renderedUserData renders the servers' userdata through the program
// itself, in each egress mode and for a WireGuard team, keyed
// "<variant>/<instance>".
func renderedUserData(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	variants := map[string]map[string]string{"idle-stop": {"jupyterIdleStopMinutes": "30"}}
	for _, mode := range egressModes {
		variants[mode] = map[string]string{"researchEgress": mode}
	}
	// A team's userdata: its Jupyter server is JupyterHub (the idle stop adds a unit).
	runs := map[string]*mockRun{"wireguard": deployTeam(t, "wireguard", []string{"alice", "bob"}, nil),
		"team-idle-stop": deployTeam(t, "openvpn-as", []string{"alice"}, map[string]string{"jupyterIdleStopMinutes": "30"})}
	for name, changes := range variants {
		runs[name] = deploy(t, changes)
	}
	for name, run := range runs {
		for _, in := range run.Mocks.ofType(typeInstance) {
			out[name+"/"+in.Name] = userDataOf(t, in)
		}
	}
	for _, want := range []string{"nat-instance/HOL02-NAT", "idle-stop/HOL02-Jupyter", "none/HOL02-VPN", "wireguard/HOL02-VPN",
		"wireguard/HOL02-Jupyter", "team-idle-stop/HOL02-Jupyter"} {
		require.Contains(t, out, want)
	}
	return out
}

func parseCloudConfig(t *testing.T, name, doc string) cloudConfig {
	t.Helper()
	require.True(t, strings.HasPrefix(doc, "#cloud-config\n"), "%s userdata must start with #cloud-config", name)
	var c cloudConfig
	require.NoError(t, yaml.Unmarshal([]byte(doc), &c), "%s userdata is not YAML", name)
	return c
}

// knownTopLevelKeys are the cloud-config keys this project uses. cloud-init
// 22.4's schema does not flag unknown top-level keys, which it then ignores.
var knownTopLevelKeys = map[string]bool{"write_files": true, "runcmd": true}

func TestUserDataTopLevelKeysAreKnown(t *testing.T) {
	for name, doc := range renderedUserData(t) {
		var top map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &top), name)
		for k := range top {
			assert.True(t, knownTopLevelKeys[k], "%s userdata has top-level key %q that cloud-init would silently ignore", name, k)
		}
		c := parseCloudConfig(t, name, doc)
		for _, f := range c.WriteFiles {
			assert.Regexp(t, `^0[0-7]{3}$`, f.Permissions, "%s: %s needs explicit octal permissions", name, f.Path)
		}
	}
}

func TestUserDataPassesCloudInitSchema(t *testing.T) {
	tool := requireTool(t, "cloud-init")
	dir := t.TempDir()
	for name, doc := range renderedUserData(t) {
		file := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".yaml")
		require.NoError(t, os.WriteFile(file, []byte(doc), 0o600))
		out, err := exec.Command(tool, "schema", "-c", file).CombinedOutput()
		assert.NoError(t, err, "cloud-init schema rejects %s userdata:\n%s", name, out)
		assert.Contains(t, string(out), "Valid cloud-config", "%s: %s", name, out)
	}
}

// extracted writes the files a server's cloud-config writes into dir, under
// their base names, and returns base name -> content.
func extracted(t *testing.T, c cloudConfig, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, f := range c.WriteFiles {
		base := filepath.Base(f.Path)
		files[base] = f.Content
		require.NoError(t, os.WriteFile(filepath.Join(dir, base), []byte(f.Content), 0o600))
	}
	return files
}

func isScript(name, content string) bool {
	return strings.HasPrefix(content, "#!/bin/bash") || strings.HasSuffix(name, ".sh")
}

func TestScriptsPassShellcheck(t *testing.T) {
	tool := requireTool(t, "shellcheck")
	checked := 0
	for name, doc := range renderedUserData(t) {
		c := parseCloudConfig(t, name, doc)
		dir := t.TempDir()
		files := extracted(t, c, dir)
		// The scripts source /usr/local/lib/research-lab/common.sh; shellcheck
		// follows it as common.sh beside them.
		var scripts []string
		for base, content := range files {
			if isScript(base, content) {
				scripts = append(scripts, filepath.Join(dir, base))
				assert.True(t, base == "common.sh" || strings.Contains(content, "set -euo pipefail"), "%s: %s must use set -euo pipefail", name, base)
			}
		}
		// runcmd as the shell script cloud-init makes of it.
		var runcmd strings.Builder
		runcmd.WriteString("#!/bin/sh\nset -e\n")
		for _, cmd := range c.RunCmd {
			quoted := make([]string, len(cmd))
			for i, a := range cmd {
				quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
			}
			runcmd.WriteString(strings.Join(quoted, " ") + "\n")
		}
		rc := filepath.Join(dir, "runcmd")
		require.NoError(t, os.WriteFile(rc, []byte(runcmd.String()), 0o600))
		scripts = append(scripts, rc)
		sort.Strings(scripts)
		args := append([]string{"--external-sources", "--source-path=SCRIPTDIR", "--severity=style"}, scripts...)
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "shellcheck finds problems in %s userdata:\n%s", name, out)
		checked += len(scripts)
	}
	assert.GreaterOrEqual(t, checked, 2*len(renderedUserData(t)), "every server has at least a setup script and runcmd")
}

// voilaServerBlock is the Nginx server block that Voila's userdata writes.
func voilaServerBlock(t *testing.T) string {
	t.Helper()
	return voilaNginxConf(t, deploy(t, nil), "/etc/nginx/conf.d/voila.conf")
}

// voilaNginxConf is what Nginx reads of Voila's configuration with the
// server block at path in place: conf.d's common file, then the block with
// the site it includes.
func voilaNginxConf(t *testing.T, run *mockRun, path string) string {
	t.Helper()
	ud := userDataOf(t, one(t, run, typeInstance, "HOL02-VoilaServer"))
	include := "include " + voilaSiteConf + ";"
	block := writtenFile(t, ud, path)
	require.Contains(t, block, include, "%s must include the site", path)
	return writtenFile(t, ud, "/etc/nginx/conf.d/00-voila-common.conf") + "\n" +
		strings.ReplaceAll(block, include, writtenFile(t, ud, voilaSiteConf))
}

// voilaSiteConf is the Voila site's server context, which both variants of
// voila.conf include.
const voilaSiteConf = "/etc/research-lab/nginx/voila-site.conf"

// nginxPrefix lays out a minimal Nginx around a server block, as the http{}
// context of Amazon Linux's nginx.conf includes conf.d.
func nginxPrefix(t *testing.T, block string) (dir, conf string) {
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "voila.conf"), []byte(block), 0o644))
	conf = filepath.Join(dir, "nginx.conf")
	wrapper := fmt.Sprintf("pid %s/nginx.pid;\nevents {}\nhttp {\n  access_log off;\n  include %s/voila.conf;\n}\n", dir, dir)
	require.NoError(t, os.WriteFile(conf, []byte(wrapper), 0o644))
	return dir, conf
}

func TestNginxAcceptsTheServerBlock(t *testing.T) {
	tool := requireTool(t, "nginx")
	dir, conf := nginxPrefix(t, voilaServerBlock(t))
	out, err := exec.Command(tool, "-e", "stderr", "-p", dir, "-c", conf, "-t").CombinedOutput()
	assert.NoError(t, err, "nginx -t rejects the Voila server block:\n%s", out)
	assert.Contains(t, string(out), "test is successful")
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNginxPassesWebsocketUpgradeToVoila runs the real Nginx with the rendered
// server block on loopback, in front of a stub Voila, and sends the websocket
// upgrade a Voila kernel connection makes.
func TestNginxPassesWebsocketUpgradeToVoila(t *testing.T) {
	requireTool(t, "nginx")
	seen := make(chan http.Header, 1)
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("X-Seen-Host", r.Host)
		seen <- h
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	defer stub.Close()
	stubPort := stub.Listener.Addr().(*net.TCPAddr).Port

	block := voilaServerBlock(t)
	port := freePort(t)
	logs := startNginx(t, localServerBlock(t, block, port, stubPort))

	var conn net.Conn
	var err error
	conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err, "nginx did not listen:\n%s", logs)
	defer conn.Close()
	assert.Contains(t, upgrade(t, conn, "/api/kernels/1/channels"), "101", "the upgrade must pass through Nginx")

	select {
	case h := <-seen:
		assert.Equal(t, "websocket", h.Get("Upgrade"), "Voila must see the Upgrade header")
		assert.Equal(t, "upgrade", strings.ToLower(h.Get("Connection")), "Voila must see Connection: upgrade")
		assert.Equal(t, "dGhlIHNhbXBsZSBub25jZQ==", h.Get("Sec-WebSocket-Key"))
		assert.Equal(t, "lab.example.org", h.Get("X-Seen-Host"), "the Host header must be kept, or Voila's origin check fails")
		assert.Equal(t, "127.0.0.1", h.Get("X-Real-IP"))
		assert.NotEmpty(t, h.Get("X-Forwarded-For"))
	case <-time.After(5 * time.Second):
		t.Fatalf("the request never reached the stub Voila:\n%s", logs)
	}
	assert.Regexp(t, regexp.MustCompile(`proxy_read_timeout\s+(\d{4,})`), block, "kernels need a long read timeout")
}

// localServerBlock moves a server block to loopback: it listens on port and
// proxies to a stand-in for Voila on stubPort.
func localServerBlock(t *testing.T, block string, port, stubPort int) string {
	t.Helper()
	listen := fmt.Sprintf("listen %d default_server;", portHTTP.Number)
	require.Contains(t, block, listen, "the Voila server block must be the default server on port %d", portHTTP.Number)
	voila := fmt.Sprintf("http://127.0.0.1:%d;", portVoila.Number)
	require.Contains(t, block, voila, "the server block must proxy to Voila on loopback")
	local := strings.Replace(block, listen, fmt.Sprintf("listen 127.0.0.1:%d default_server;", port), 1)
	return strings.ReplaceAll(local, voila, fmt.Sprintf("http://127.0.0.1:%d;", stubPort))
}

// startNginx runs the real Nginx with a server block until the test ends,
// and waits until it accepts connections.
func startNginx(t *testing.T, block string) *strings.Builder {
	t.Helper()
	tool := requireTool(t, "nginx")
	dir, conf := nginxPrefix(t, block)
	nginx := exec.Command(tool, "-e", "stderr", "-p", dir, "-c", conf, "-g", "daemon off; master_process off;")
	logs := &strings.Builder{}
	nginx.Stdout, nginx.Stderr = logs, logs
	require.NoError(t, nginx.Start())
	t.Cleanup(func() { _ = nginx.Process.Kill(); _ = nginx.Wait() })
	port := regexp.MustCompile(`listen 127\.0\.0\.1:(\d+)`).FindStringSubmatch(block)
	require.NotNil(t, port, "the block does not listen on loopback")
	waitListening(t, "127.0.0.1:"+port[1], logs) // Nginx needs a moment to bind
	return logs
}

// waitListening waits, bounded, until something accepts connections on addr.
func waitListening(t *testing.T, addr string, logs *strings.Builder) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s:\n%s", addr, logs)
}

// upgrade sends the websocket upgrade a Voila kernel connection makes and
// returns the status line.
func upgrade(t *testing.T, conn net.Conn, path string) string {
	t.Helper()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: lab.example.org\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path)
	status, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	return status
}

// unitFiles returns the systemd units a server's cloud-config writes.
func unitFiles(c cloudConfig) map[string]string {
	units := map[string]string{}
	for _, f := range c.WriteFiles {
		if strings.HasPrefix(f.Path, "/etc/systemd/system/") {
			units[filepath.Base(f.Path)] = f.Content
		}
	}
	return units
}

// serversUnits are the units every server writes, keyed by server (and
// variant: the idle stop changes Jupyter's).
func serversUnits(t *testing.T) map[string]map[string]string {
	t.Helper()
	run := deploy(t, nil)
	idle := deploy(t, map[string]string{"jupyterIdleStopMinutes": "30"})
	wireguard := deployTeam(t, "wireguard", []string{"alice"}, nil)
	team := deployTeam(t, "wireguard", []string{"alice"}, map[string]string{"jupyterIdleStopMinutes": "30"})
	userdata := map[string]string{"HOL02-Jupyter (idle stop)": userDataOf(t, one(t, idle, typeInstance, "HOL02-Jupyter")),
		"HOL02-VPN (wireguard)": userDataOf(t, one(t, wireguard, typeInstance, "HOL02-VPN")),
		"HOL02-Jupyter (team)":  userDataOf(t, one(t, team, typeInstance, "HOL02-Jupyter"))}
	for _, name := range []string{"HOL02-VoilaServer", "HOL02-Jupyter", "HOL02-NAT", "HOL02-VPN"} {
		userdata[name] = userDataOf(t, one(t, run, typeInstance, name))
	}
	out := map[string]map[string]string{}
	for name, ud := range userdata {
		out[name] = unitFiles(parseCloudConfig(t, name, ud))
		require.NotEmpty(t, out[name], "%s writes no units", name)
	}
	return out
}

// unitRoot is a root for systemd-analyze --root: this machine's own units
// (the targets the servers' units hang on), the server's, and stand-ins for
// the programs the setup script installs, which verify requires to exist.
// It returns the units' names, sorted.
func unitRoot(t *testing.T, units map[string]string) (root string, names []string) {
	t.Helper()
	root = t.TempDir()
	sys := filepath.Join(root, "etc/systemd/system")
	require.NoError(t, os.MkdirAll(sys, 0o755))
	require.NoError(t, os.CopyFS(filepath.Join(root, "usr/lib/systemd/system"), os.DirFS("/lib/systemd/system")))
	execRe := regexp.MustCompile(`(?m)^Exec\w+=[-+!@:]*(\S+)`) // after the prefixes
	for unit, content := range units {
		require.NoError(t, os.WriteFile(filepath.Join(sys, unit), []byte(content), 0o644))
		names = append(names, unit)
		for _, m := range execRe.FindAllStringSubmatch(content, -1) {
			bin := filepath.Join(root, m[1])
			require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
			require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
		}
	}
	sort.Strings(names)
	return root, names
}

func TestSystemdUnitsVerify(t *testing.T) {
	tool := requireTool(t, "systemd-analyze")
	verified := 0
	for name, units := range serversUnits(t) {
		root, names := unitRoot(t, units)
		out, err := exec.Command(tool, append([]string{"verify", "--root=" + root}, names...)...).CombinedOutput()
		assert.NoError(t, err, "systemd-analyze verify rejects %s units:\n%s", name, out)
		assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns about %s units", name)
		verified += len(names)

		for unit, content := range units {
			for _, m := range regexp.MustCompile(`(?m)^OnCalendar=(.+)$`).FindAllStringSubmatch(content, -1) {
				out, err := exec.Command(tool, "calendar", m[1]).CombinedOutput()
				assert.NoError(t, err, "%s %s: OnCalendar=%s is not a valid calendar spec:\n%s", name, unit, m[1], out)
			}
			for _, m := range regexp.MustCompile(`(?m)^On\w+Sec=(.+)$`).FindAllStringSubmatch(content, -1) {
				out, err := exec.Command(tool, "timespan", m[1]).CombinedOutput()
				assert.NoError(t, err, "%s %s: %s is not a valid time span:\n%s", name, unit, m[1], out)
			}
		}
	}
	assert.Equal(t, len(voilaUnits)+2*len(jupyterUnits)+len(hubUnits)+len(hubIdleUnits)+len(natUnits)+
		len(vpnKinds[vpnOpenVPNAS].Units)+len(vpnKinds[vpnWireGuard].Units), verified)
}

func TestSyncTimersFollowTheConfiguredInterval(t *testing.T) {
	run := deploy(t, map[string]string{"syncInterval": "90s"})
	for _, name := range []string{"HOL02-VoilaServer", "HOL02-Jupyter"} {
		c := parseCloudConfig(t, name, userDataOf(t, one(t, run, typeInstance, name)))
		found := false
		for unit, content := range unitFiles(c) {
			if strings.HasPrefix(unit, "notebook-p") && strings.HasSuffix(unit, ".timer") {
				assert.Contains(t, content, "OnUnitActiveSec=90s\n", "%s %s", name, unit)
				found = true
			}
		}
		assert.True(t, found, "%s has no sync timer", name)
	}
	voila := userDataOf(t, one(t, run, typeInstance, "HOL02-VoilaServer"))
	assert.Contains(t, voila, "aws s3 sync --only-show-errors --delete", "Voila mirrors the bucket, deletions included")
	jupyter := userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter"))
	push := regexp.MustCompile(`(?m)^\s*retry push_sync .*"\$NOTEBOOK_DIR/" "\$uri"$`).FindString(jupyter)
	require.NotEmpty(t, push, "Jupyter must push from its folder to the bucket")
	assert.NotContains(t, push, "--delete", "Jupyter's push must never delete in the bucket")
}

// debianJupyterPython is Debian's Python, which owns python3-jupyter-server
// (the python3 first on PATH may be another install).
func debianJupyterPython(t *testing.T) string {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil || exec.Command(python, "-c", "import jupyter_server.auth").Run() != nil {
		if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
			t.Fatal("Debian's python3-jupyter-server is not installed: run .ci/install-tools")
		}
		t.Skip("Debian's python3-jupyter-server is not installed")
	}
	return python
}

// unitProperties reads a systemd unit as systemd does for the settings the
// tests check: every Key=value of every section, in order; an empty
// assignment resets the list, and a trailing backslash continues a line.
func unitProperties(t *testing.T, unit string) map[string][]string {
	t.Helper()
	props := map[string][]string{}
	unit = strings.ReplaceAll(unit, "\\\n", " ")
	for _, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "not a unit file line: %q", line)
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if value == "" {
			props[key] = nil
			continue
		}
		props[key] = append(props[key], value)
	}
	return props
}

func TestJupyterServerVerifiesTheDeployTimeHash(t *testing.T) {
	python := debianJupyterPython(t)
	run := deploy(t, nil)
	ud := userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter"))
	assert.NotContains(t, ud, testJupyterPass, "the plain password must never reach the instance")
	m := regexp.MustCompile(`hashed_password = "([^"]+)"`).FindStringSubmatch(ud)
	require.NotNil(t, m, "the Jupyter configuration holds no hashed_password")

	check := func(password string) string {
		out, err := exec.Command(python, "-c",
			"import sys; from jupyter_server.auth.security import passwd_check; print(passwd_check(sys.argv[1], sys.argv[2]))",
			m[1], password).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, "True", check(testJupyterPass), "jupyter_server must accept the right password")
	assert.Equal(t, "False", check(testJupyterPass+"x"), "jupyter_server must reject a wrong password")
	assert.Equal(t, "False", check(""), "jupyter_server must reject an empty password")

	// The rendered configuration file is valid Python.
	c := parseCloudConfig(t, "jupyter", ud)
	dir := t.TempDir()
	files := extracted(t, c, dir)
	require.Contains(t, files, "jupyter_server_config.py")
	out, err := exec.Command(python, "-m", "py_compile", filepath.Join(dir, "jupyter_server_config.py")).CombinedOutput()
	assert.NoError(t, err, "jupyter_server_config.py does not compile:\n%s", out)
}
