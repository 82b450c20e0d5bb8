package main

// Nothing a lab user can write runs as root (the README: every setup script
// is safe to run again with sudo). Proven by running the rendered setup as
// root in a mount namespace with the real venv (Debian's Python 3.11, pip
// installing stand-in wheels offline), traps laid by the users where they may
// write, and a second run of the setup.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uidTrap is Python that records the uid it runs as in file.
func uidTrap(file string) string {
	return `import os; print(os.getuid(), file=open("` + file + `", "a"))`
}

// trapFile is a file every user may append to; the uids a trap ran as.
func trapFile(t *testing.T) (path string, uids func() []string) {
	t.Helper()
	path = filepath.Join(sharedTempDir(t), "uids")
	require.NoError(t, os.WriteFile(path, nil, 0o666))
	require.NoError(t, os.Chmod(path, 0o666))
	return path, func() []string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return strings.Fields(string(b))
	}
}

func TestRootNeverRunsWhatJupyterCanChange(t *testing.T) {
	requireDebianVenv(t)
	m := newMachine(t, "HOL02-Jupyter", nil, true)
	env := offlinePip(t, jupyterPackages)
	m.setup(env...)
	assert.Equal(t, "jupyter jupyter 755", m.stat("/opt/jupyter"), "the venv is the notebook user's (%%pip install in a notebook)")
	assert.Contains(t, m.must("/opt/jupyter/bin/pip list"), "notebook", "the setup installs the packages into the venv")

	// What any notebook can do: a .pth file in the venv runs in every Python
	// that starts from it.
	trap, uids := trapFile(t)
	pth := "/opt/jupyter/lib/python3.11/site-packages/zz-trap.pth"
	m.must(m.asUnit("jupyter.service", "/bin/sh", "-c", "echo '"+uidTrap(trap)+"' >"+pth))

	m.setup(env...) // an admin's `sudo research-lab-setup`
	ran := uids()
	require.NotEmpty(t, ran, "the rerun must start the venv's Python (its pip), or this test proves nothing")
	assert.NotContains(t, ran, "0", "root ran code the notebook user planted in the venv (uids %v)", ran)
}

func TestRootNeverRunsWhatVoilaCanChange(t *testing.T) {
	requireDebianVenv(t)
	m := newMachine(t, "HOL02-VoilaServer", nil, true)
	env := offlinePip(t, voilaPackages)
	m.setup(env...)
	assert.Equal(t, "root root 755", m.stat("/opt/voila"))
	assert.Contains(t, m.must("/opt/voila/bin/pip list"), "voila")

	// Nothing root runs or reads is Voila's to write (its kernels run any
	// visitor's code): the venv, the scripts and their configuration.
	writable := m.must(m.asUnit("voila.service", "find", "/opt/voila", "/usr/local/sbin", "/usr/local/bin",
		"/usr/local/lib/research-lab", "/etc/research-lab", "/etc/systemd/system", "-writable", "-not", "-type", "l"))
	assert.Empty(t, strings.TrimSpace(writable), "Voila's user may write what root runs or reads")

	// `python -m` imports from the current folder: an admin repairing the
	// venv from a folder Voila's user wrote (its home is root's, so a
	// folder like /tmp: this machine's /tmp is not the test's, so a
	// temporary one as open) must not run what Voila put there.
	trap, uids := trapFile(t)
	tmp := sharedTempDir(t)
	require.NoError(t, os.Chmod(tmp, 0o777|os.ModeSticky))
	planted := filepath.Join(tmp, "planted")
	m.must(m.asUnit("voila.service", "/bin/sh", "-c",
		"mkdir -p "+planted+"/venv && echo '"+uidTrap(trap)+"' | tee "+planted+"/venv/__init__.py >"+planted+"/venv/__main__.py"))
	out, err := m.command("", "rm /opt/voila/bin/python && cd "+planted+" && /usr/local/sbin/research-lab-setup", env...).CombinedOutput()
	assert.Empty(t, uids(), "root ran code that Voila's user put in the folder the setup was started from")
	require.NoError(t, err, "the setup run from Voila's home:\n%s", out)
	assert.Contains(t, m.must("/opt/voila/bin/python -c 'import sys; print(sys.prefix)'"), "/opt/voila", "the setup must repair the venv")
}

// TestRootNeverRunsWhatMembersCanChange: on a team's server the hub (root)
// runs from a venv, a proxy and a configuration that no member may write;
// what a member installs with pip goes to their own user site, which neither
// another member nor the hub loads.
func TestRootNeverRunsWhatMembersCanChange(t *testing.T) {
	requireDebianVenv(t)
	requireTool(t, "jq")
	requireTool(t, "chpasswd")
	tm := teamMachineOf(t, deployTeam(t, "wireguard", []string{"alice", "bob"}, nil), true)
	env := offlinePip(t, hubPackages)
	tm.setup(env...)
	tm.setTeam("alice", "bob")
	tm.must("/usr/local/sbin/research-lab-members")
	assert.Equal(t, "root root 755", tm.stat(hubVenv), "the hub's venv is root's")
	assert.Contains(t, tm.must(hubVenv+"/bin/pip list"), "jupyterhub-systemdspawner", "the setup installs the hub's packages into the venv")

	writable := tm.must(asUser("alice", "", "0007", "find", hubVenv, hubProxyDir, "/usr/local/sbin", "/usr/local/bin",
		"/usr/local/lib/research-lab", "/etc/research-lab", "/etc/systemd/system", "/etc/pam.d", "-writable", "-not", "-type", "l"))
	assert.Empty(t, strings.TrimSpace(writable), "a member may write what the hub (root) runs or reads")
	_, err := tm.command("", asUser("alice", "", "", "cat", "/etc/research-lab/jupyterhub_config.py")).CombinedOutput()
	assert.Error(t, err, "the hub's configuration is root's alone")
	assert.Equal(t, "root root 700", tm.stat(hubStateDir), "the hub's state (its database, the members' sync's token) is root's alone")

	// A member's own package: their user site, nobody else's.
	mine := fakeWheels(t, []string{"alices-tool"})
	out := tm.must(asUser("alice", "", "0007", "env", "HOME="+membersHome+"/alice", hubVenv+"/bin/pip", "install", "--no-index", "--find-links", mine, "alices-tool"))
	assert.Contains(t, out, "user installation", "a member's pip install goes to their user site:\n%s", out)
	has := func(as, home string, extra ...string) string {
		return tm.must(asUser(as, "", "", append(append([]string{"env", "HOME=" + home}, extra...),
			hubVenv+"/bin/python", "-c", "import importlib.metadata as m; print(any(d.metadata['Name'] == 'alices-tool' for d in m.distributions()))")...))
	}
	assert.Equal(t, "True\n", has("alice", membersHome+"/alice"), "alice's own package is hers to import")
	assert.Equal(t, "False\n", has("bob", membersHome+"/bob"), "bob does not load alice's packages")
	assert.Equal(t, "False\n", has("", "/root", "PYTHONNOUSERSITE=1"), "the hub does not load a member's packages")
	assert.Contains(t, tm.units["jupyterhub.service"]["Environment"], "PYTHONNOUSERSITE=1", "the hub's unit keeps user sites out")
}

// requireDebianVenv: the setup's venv is made by Debian's Python 3.11, whose
// venv module comes with python3-venv.
func requireDebianVenv(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import ensurepip, venv, sys; assert sys.version_info[:2] == (3, 11)").Run(); err != nil {
		if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
			t.Fatalf("Debian's python3 (3.11) with python3-venv is not installed: run .ci/install-tools (%v)", err)
		}
		t.Skipf("Debian's python3 (3.11) with python3-venv is not installed (%v)", err)
	}
}
