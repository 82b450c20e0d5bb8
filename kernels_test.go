package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kernelStart starts an IPython kernel as a member's server does (Debian's
// jupyter_client and ipykernel), in the folder sys.argv[1] with the
// server's environment, runs a notebook's first cell and prints the cell's
// output.
const kernelStart = `import sys
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(cwd=sys.argv[1], startup_timeout=60)
try:
    msg_id = kc.execute("try:\n    import numpy\nexcept ImportError:\n    pass\nprint('cell ran')")
    for _ in range(100):
        m = kc.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
            print(m["content"]["text"], end="")
            break
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)`

// TestSharedNotebooksCannotHijackAKernel: a member plants module files in
// the shared folder (a numpy.py, and an ipykernel_launcher.py, which the
// kernel's own start imports); another member opens a notebook there. The
// kernel starts, the notebook's imports are the installed packages', and
// neither planted file runs. Compiled code never travels through the sync
// (TestSyncCarriesNoCompiledCode).
func TestSharedNotebooksCannotHijackAKernel(t *testing.T) {
	python := debianJupyterPython(t)
	requireTool(t, "jupyterhub")
	dir := t.TempDir()
	hub := readMemberServerSettings(t, python)

	// The kernels' IPython configuration, where Debian's IPython looks for it
	// (/etc/ipython); the test hands it over as a profile's, touching no file
	// of this machine.
	ud := userDataOf(t, one(t, deployTeam(t, "wireguard", []string{"alice", "bob"}, nil), typeInstance, "HOL02-Jupyter"))
	kernelConfig := writtenFile(t, ud, "/etc/ipython/ipython_kernel_config.py")
	paths, err := exec.Command(python, "-c", "from IPython.core.application import SYSTEM_CONFIG_DIRS; print(*SYSTEM_CONFIG_DIRS)").Output()
	require.NoError(t, err)
	require.Contains(t, strings.Fields(string(paths)), "/etc/ipython", "IPython must read its system configuration from /etc/ipython")
	ipython := filepath.Join(dir, "ipython")
	require.NoError(t, os.MkdirAll(filepath.Join(ipython, "profile_default"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ipython, "profile_default", "ipython_kernel_config.py"), []byte(kernelConfig), 0o644))

	shared, ran := filepath.Join(dir, "shared"), filepath.Join(dir, "ran")
	require.NoError(t, os.MkdirAll(shared, 0o755))
	require.NoError(t, os.MkdirAll(ran, 0o755))
	for _, module := range []string{"numpy", "ipykernel_launcher"} {
		planted := "open(" + strconv.Quote(filepath.Join(ran, module)) + ", 'w').close()\n" // a Python literal too
		require.NoError(t, os.WriteFile(filepath.Join(shared, module+".py"), []byte(planted), 0o644))
	}
	cmd := exec.Command(python, "-c", kernelStart, shared)
	cmd.Env = append(os.Environ(), "IPYTHONDIR="+ipython, "JUPYTER_RUNTIME_DIR="+filepath.Join(dir, "runtime"), "PYDEVD_DISABLE_FILE_VALIDATION=1")
	for k, v := range hub.Environment {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	for _, module := range []string{"numpy", "ipykernel_launcher"} {
		assert.NoFileExists(t, filepath.Join(ran, module), "%s.py planted in the shared folder ran in another member's kernel", module)
	}
	require.NoError(t, err, "the kernel did not start in the shared folder:\n%s", out)
	assert.Contains(t, string(out), "cell ran", "the notebook's cell must run")

	voila := userDataOf(t, one(t, deploy(t, nil), typeInstance, "HOL02-VoilaServer"))
	assert.Equal(t, kernelConfig, writtenFile(t, voila, "/etc/ipython/ipython_kernel_config.py"), "Voila's kernels import nothing from their folder either")
	units := unitProperties(t, writtenFile(t, voila, "/etc/systemd/system/voila.service"))
	assert.Contains(t, words(units["Environment"]), "PYTHONSAFEPATH=1", "Voila's kernels import nothing from their folder either")
}

// memberServerSettings are what the rendered hub configuration gives each
// member's server, read as JupyterHub 5 reads it (hubConfigReader).
type memberServerSettings struct {
	Environment map[string]string `json:"environment"`
	Extra       map[string]string `json:"extra"` // SystemdSpawner's unit properties
}

func readMemberServerSettings(t *testing.T, python string) memberServerSettings {
	t.Helper()
	dir := t.TempDir()
	teamJupyterFiles(t, nil, dir)
	out, err := exec.Command(python, "-c", hubConfigReader, filepath.Join(dir, "jupyterhub_config.py"), "5.4.0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var s memberServerSettings
	require.NoError(t, json.Unmarshal(out, &s), "%s", out)
	return s
}
