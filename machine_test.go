package main

// A server's file system as its rendered userdata leaves it, on this machine
// but only inside mount namespaces the test makes: /etc, /opt, /srv,
// /usr/local and /var are overlays whose changes land in the test's own
// folder. So the real setup script runs as root, creates its users with the
// real useradd and writes where it writes on a server, and none of it reaches
// this machine's users or files.

import (
	"archive/zip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// machineOverlays are the folders a server's userdata and setup change.
var machineOverlays = []string{"/etc", "/home", "/opt", "/srv", "/usr/local", "/var"}

type machine struct {
	t     *testing.T
	name  string
	root  string // the overlays' upper and work folders
	bin   string // stand-ins for what a test must not run for real, first on PATH
	calls string // what the stand-ins were asked to do, one line each
	units map[string]map[string][]string
}

func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s needs root: run the tests as root, as .ci/run does", why)
		}
		t.Skipf("%s needs root (.ci/run runs as root)", why)
	}
}

// newMachine writes every file of a server's rendered userdata where
// cloud-init would, with its permissions. With realVenvs, python3.11 is
// Debian's Python 3.11 and pip installs stand-in wheels of the packages the
// setup asks for, offline; without, a venv is two recording stand-ins.
func newMachine(t *testing.T, server string, changes map[string]string, realVenvs bool) *machine {
	t.Helper()
	requireRoot(t, "a server's users in a mount namespace")
	return machineOf(t, deploy(t, changes), server, realVenvs)
}

// machineOf is newMachine for a lab already deployed under the mock (a team's).
func machineOf(t *testing.T, run *mockRun, server string, realVenvs bool) *machine {
	t.Helper()
	requireRoot(t, "a server's users in a mount namespace")
	requireTool(t, "unshare")
	requireTool(t, "setpriv")
	requireTool(t, "useradd")
	requireTool(t, "runuser")
	c := parseCloudConfig(t, server, userDataOf(t, one(t, run, typeInstance, server)))
	m := &machine{t: t, name: server, root: t.TempDir(), bin: sharedTempDir(t), units: map[string]map[string][]string{}}
	// Every user of the machine may run the stand-ins and record its calls.
	m.calls = filepath.Join(m.bin, "calls")
	require.NoError(t, os.WriteFile(m.calls, nil, 0o666))
	require.NoError(t, os.Chmod(m.calls, 0o666))
	for _, dir := range machineOverlays {
		for _, sub := range []string{"upper", "work"} {
			require.NoError(t, os.MkdirAll(filepath.Join(m.overlay(dir), sub), 0o755))
		}
	}
	for _, f := range c.WriteFiles {
		require.Empty(t, f.Encoding, "%s: %s", server, f.Path)
		mode, err := strconv.ParseUint(f.Permissions, 8, 32)
		require.NoError(t, err, "%s: permissions of %s", server, f.Path)
		m.writeFile(f.Path, f.Content, os.FileMode(mode))
	}
	for unit, content := range unitFiles(c) {
		m.units[unit] = unitProperties(t, content)
	}

	// A stand-in records who called it, as what, with which arguments.
	recorder := filepath.Join(m.bin, "recorder")
	require.NoError(t, os.WriteFile(recorder, []byte(`#!/bin/sh
echo "$(id -u) $(basename "$0") $*" >>`+m.calls+"\n"), 0o755))
	for _, name := range []string{"dnf", "curl", "aws", "nginx"} {
		require.NoError(t, os.Symlink(recorder, filepath.Join(m.bin, name)))
	}
	python := "#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n"
	if !realVenvs {
		python = `#!/bin/sh
[ "$1 $2" = "-m venv" ] || exit 1
for dir; do :; done # the venv's folder comes last
mkdir -p "$dir/bin" && ln -sf /usr/bin/python3 "$dir/bin/python" && cp ` + recorder + ` "$dir/bin/pip"
`
	}
	require.NoError(t, os.WriteFile(filepath.Join(m.bin, "python3.11"), []byte(python), 0o755))
	return m
}

// sharedTempDir is a temporary folder that every user may read (a test's
// own t.TempDir() is its user's alone).
func sharedTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "research-lab-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

func (m *machine) overlay(dir string) string {
	return filepath.Join(m.root, strings.ReplaceAll(strings.Trim(dir, "/"), "/", "-"))
}

// writeFile writes a file into the machine, as root would.
func (m *machine) writeFile(path, content string, mode os.FileMode) {
	m.t.Helper()
	for _, dir := range machineOverlays {
		if rel, ok := strings.CutPrefix(path, dir+"/"); ok {
			local := filepath.Join(m.overlay(dir), "upper", rel)
			require.NoError(m.t, os.MkdirAll(filepath.Dir(local), 0o755))
			require.NoError(m.t, os.WriteFile(local, []byte(content), mode))
			require.NoError(m.t, os.Chmod(local, mode))
			return
		}
	}
	m.t.Fatalf("%s writes %s, outside the folders the test overlays", m.name, path)
}

// command runs a bash script inside the machine as root, in network
// namespace ns ("" for this machine's network).
func (m *machine) command(ns, script string, env ...string) *exec.Cmd {
	var mount strings.Builder
	mount.WriteString("set -e\n")
	for _, dir := range machineOverlays {
		o := m.overlay(dir)
		fmt.Fprintf(&mount, "mount -t overlay overlay -o lowerdir=%s,upperdir=%s/upper,workdir=%s/work %s\n", dir, o, o, dir)
	}
	mount.WriteString("set +e\n")
	args := []string{"unshare", "--mount", "--propagation", "private", "/bin/bash", "-c", mount.String() + script}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	// One attempt per network step: the stand-ins answer at once.
	cmd.Env = append([]string{"PATH=" + m.bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LANG=C.UTF-8", "RETRY_MAX=1"}, env...)
	return cmd
}

// must runs a script as root in the machine and returns what it printed.
func (m *machine) must(script string, env ...string) string {
	m.t.Helper()
	out, err := m.command("", script, env...).CombinedOutput()
	require.NoError(m.t, err, "%s, as root:\n%s\n%s", m.name, script, out)
	return string(out)
}

// asUnit is a shell command line that runs argv the way systemd starts a
// unit's command: its User= and Group= (else the user's primary group) with
// the user's supplementary groups, and its UMask=.
func (m *machine) asUnit(unit string, argv ...string) string {
	m.t.Helper()
	p, ok := m.units[unit]
	require.True(m.t, ok, "%s writes no %s", m.name, unit)
	return asUser(strings.Join(p["User"], ""), strings.Join(p["Group"], ""), strings.Join(p["UMask"], ""), argv...)
}

// asUser is asUnit for a user and group given by name ("" user: root).
func asUser(user, group, umask string, argv ...string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	cmd := strings.Join(quoted, " ")
	if umask != "" {
		cmd = "umask " + umask + "; " + cmd
	}
	if user == "" {
		return "(" + cmd + ")"
	}
	g := shellQuote(group)
	if group == "" {
		g = "$(id -gn " + shellQuote(user) + ")"
	}
	return fmt.Sprintf("setpriv --reuid=%s --regid=%s --init-groups /bin/bash -c %s", shellQuote(user), g, shellQuote(cmd))
}

// setup runs the server's setup script as cloud-init's runcmd does: as root,
// from /, with PIP finding only wheels, offline.
func (m *machine) setup(env ...string) string {
	m.t.Helper()
	return m.must("cd / && /usr/local/sbin/research-lab-setup", env...)
}

// fakeWheels writes a wheel for each package, at the version the servers'
// constraints pin (1.0 for one they do not name), into a folder pip can find
// them in, offline.
func fakeWheels(t *testing.T, packages []string) string {
	t.Helper()
	constraints, err := userdataFS.ReadFile("userdata/config/python-constraints.txt")
	require.NoError(t, err)
	dir := sharedTempDir(t)
	for _, name := range packages {
		version := "1.0" // a member's own package
		if m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `==(\S+)$`).FindSubmatch(constraints); m != nil {
			version = string(m[1])
		}
		dist := strings.ReplaceAll(name, "-", "_")
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", dist, version)))
		require.NoError(t, err)
		z := zip.NewWriter(f)
		info := fmt.Sprintf("%s-%s.dist-info/", dist, version)
		files := map[string]string{
			info + "METADATA": fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version),
			info + "WHEEL":    "Wheel-Version: 1.0\nGenerator: research-lab-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
			info + "RECORD":   "",
		}
		for _, n := range []string{info + "METADATA", info + "WHEEL", info + "RECORD"} {
			w, err := z.Create(n)
			require.NoError(t, err)
			_, err = w.Write([]byte(files[n]))
			require.NoError(t, err)
		}
		require.NoError(t, z.Close())
		require.NoError(t, f.Close())
	}
	return dir
}

// offlinePip is the environment in which the setup's pip installs the
// stand-in wheels only.
func offlinePip(t *testing.T, requirements []string) []string {
	return []string{"PIP_NO_INDEX=1", "PIP_FIND_LINKS=" + fakeWheels(t, requirements), "PIP_DISABLE_PIP_VERSION_CHECK=1"}
}
