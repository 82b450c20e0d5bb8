package main

// The Voila server's setup, run for real: the rendered research-lab-setup in
// a mount namespace of the test's own, where the folders it writes are the
// test's and /etc is a copy, so the users and files it makes stay off this
// machine. Stand-ins replace only what reaches the network or installs
// packages (dnf, useradd, the Python venv); everything else is the real thing
// (install, id, nginx, Debian's IPython as a stand-in kernel).

import (
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

// voilaRootMounts are the server folders the test replaces; /tmp last, since
// the test's own folders live there.
var voilaRootMounts = []string{"/etc", "/opt", "/srv", "/var/lib", "/var/log", "/run", "/usr/local", "/tmp"}

// voilaRoot is a Voila server's file system for one test.
type voilaRoot struct {
	t    *testing.T
	dirs map[string]string // server folder -> the test's folder mounted there
	ud   string
}

// newVoilaRoot lays out a server as cloud-init leaves it before runcmd: the
// userdata's files written, the stand-ins in /usr/local/bin.
func newVoilaRoot(t *testing.T, ud string) *voilaRoot {
	t.Helper()
	requireRoot(t, "mount namespaces")
	requireTool(t, "unshare")
	requireTool(t, "setpriv")
	r := &voilaRoot{t: t, dirs: map[string]string{}, ud: ud}
	base := t.TempDir()
	require.NoError(t, os.Chmod(base, 0o755))
	for _, m := range voilaRootMounts {
		dir := filepath.Join(base, strings.ReplaceAll(strings.TrimPrefix(m, "/"), "/", "-"))
		r.dirs[m] = dir
		if m == "/etc" {
			out, err := exec.Command("cp", "-a", "/etc", dir).CombinedOutput()
			require.NoError(t, err, "copying /etc: %s", out)
			continue
		}
		require.NoError(t, os.Mkdir(dir, 0o755))
	}
	require.NoError(t, os.Chmod(r.dirs["/tmp"], 0o1777))
	for _, f := range parseCloudConfig(t, "voila", ud).WriteFiles {
		mode := os.FileMode(0o644)
		if f.Permissions == "0755" {
			mode = 0o755
		}
		r.write(f.Path, f.Content, mode)
	}
	for name, script := range map[string]string{
		"dnf": "#!/bin/sh\necho \"dnf $*\" >>/var/log/stand-ins.log\n",
		// useradd --system --home-dir H [--create-home|--no-create-home] --shell S NAME
		"useradd": `#!/bin/sh
set -eu
echo "useradd $*" >>/var/log/stand-ins.log
home=/ shell=/sbin/nologin create=
while [ $# -gt 1 ]; do
	case $1 in
	--system | --no-create-home) shift ;;
	--create-home) create=1; shift ;;
	--home-dir) home=$2; shift 2 ;;
	--shell) shell=$2; shift 2 ;;
	*) echo "useradd stand-in: unexpected $1" >&2; exit 2 ;;
	esac
done
id=990
while grep -q "^[^:]*:[^:]*:$id:" /etc/passwd /etc/group; do id=$((id - 1)); done
echo "$1:x:$id:$id::$home:$shell" >>/etc/passwd
echo "$1:x:$id:" >>/etc/group
if [ -n "$create" ]; then mkdir -p "$home" && chown "$id:$id" "$home"; fi
`,
		// python3.11 -m venv DIR: a venv whose python is Debian's.
		"python3.11": `#!/bin/sh
set -eu
[ "$1 $2" = "-m venv" ] || exec /usr/bin/python3 "$@"
mkdir -p "$3/bin"
ln -sf /usr/bin/python3 "$3/bin/python"
printf '#!/bin/sh\necho "pip $*" >>/var/log/stand-ins.log\n' >"$3/bin/pip"
chmod 0755 "$3/bin/pip"
`,
	} {
		r.write("/usr/local/bin/"+name, script, 0o755)
	}
	return r
}

// path is where a server path is, seen from outside.
func (r *voilaRoot) path(server string) string {
	for _, m := range voilaRootMounts {
		if server == m || strings.HasPrefix(server, m+"/") {
			return filepath.Join(r.dirs[m], strings.TrimPrefix(server, m))
		}
	}
	r.t.Fatalf("%s is not in the test's server folders %v", server, voilaRootMounts)
	return ""
}

func (r *voilaRoot) write(server, content string, mode os.FileMode) {
	r.t.Helper()
	p := r.path(server)
	require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(r.t, os.WriteFile(p, []byte(content), mode))
	require.NoError(r.t, os.Chmod(p, mode))
}

func (r *voilaRoot) read(server string) string {
	r.t.Helper()
	b, err := os.ReadFile(r.path(server))
	require.NoError(r.t, err)
	return string(b)
}

// command runs argv on the server: in a mount namespace with the test's
// folders mounted, in dir, as user ("" for root) with exactly env.
func (r *voilaRoot) command(user, dir string, env []string, argv ...string) *exec.Cmd {
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, m := range voilaRootMounts {
		fmt.Fprintf(&script, "mount --bind %s %s\n", shellQuote(r.dirs[m]), m)
	}
	fmt.Fprintf(&script, "cd %s\n", shellQuote(dir))
	if user != "" {
		script.WriteString("set -- setpriv --reuid=" + user + " --regid=" + user + " --init-groups \"$@\"\n")
	}
	script.WriteString("exec \"$@\"\n")
	args := append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script.String(), "sh", "env", "-i"}, env...)
	return exec.Command("unshare", append(args, argv...)...)
}

// serverPath is the PATH of root's commands on Amazon Linux.
const serverPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// setup runs the rendered research-lab-setup as cloud-init's runcmd does.
func (r *voilaRoot) setup() string {
	r.t.Helper()
	out, err := r.command("", "/", []string{serverPath, "HOME=/root"}, "/usr/local/sbin/research-lab-setup").CombinedOutput()
	require.NoError(r.t, err, "research-lab-setup failed:\n%s", out)
	return string(out)
}

// owner is the user name and mode of a server path.
func (r *voilaRoot) owner(server string) (string, os.FileMode) {
	r.t.Helper()
	info, err := os.Stat(r.path(server))
	require.NoError(r.t, err)
	uid := info.Sys().(*syscall.Stat_t).Uid
	for _, line := range strings.Split(r.read("/etc/passwd"), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && f[2] == fmt.Sprint(uid) {
			return f[0], info.Mode().Perm()
		}
	}
	return fmt.Sprint(uid), info.Mode().Perm()
}

// installNginxPackage lays out what Amazon Linux's nginx package installs
// that the setup relies on: its nginx.conf (the fixture), mime.types, the
// nginx user, its log and state folders; extra files go into conf.d.
func (r *voilaRoot) installNginxPackage(nginxConf string, confd map[string]string) {
	r.t.Helper()
	require.NoError(r.t, os.RemoveAll(r.path("/etc/nginx")))
	mime, err := os.ReadFile("/etc/nginx/mime.types")
	require.NoError(r.t, err)
	r.write("/etc/nginx/mime.types", string(mime), 0o644)
	r.write("/etc/nginx/nginx.conf", nginxConf, 0o644)
	// Where cloud-init writes the site's files, before the package is there.
	for _, f := range []string{"/etc/nginx/conf.d/00-voila-common.conf", "/etc/nginx/conf.d/voila.conf"} {
		r.write(f, writtenFile(r.t, r.ud, f), 0o644)
	}
	for name, content := range confd {
		r.write("/etc/nginx/conf.d/"+name, content, 0o644)
	}
	for _, d := range []string{"/var/log/nginx", "/var/lib/nginx"} { // the latter holds this Nginx's temporary files
		require.NoError(r.t, os.MkdirAll(r.path(d), 0o755))
	}
	out, err := r.command("", "/", []string{serverPath}, "useradd", "--system", "--home-dir", "/var/lib/nginx", "--shell", "/sbin/nologin", "nginx").CombinedOutput()
	require.NoError(r.t, err, "%s", out)
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

// TestOnlyTheSiteAnswersWhateverTheDistributionShips: whether Nginx comes
// with Amazon Linux's own port-80 server, or with a default_server and
// nginx.org's conf.d/default.conf, after the setup only the Voila site
// answers, by IP address and for the names the distribution's servers claim.
func TestOnlyTheSiteAnswersWhateverTheDistributionShips(t *testing.T) {
	nginx := requireTool(t, "nginx")
	al2023 := readFixture(t, "al2023-nginx.conf")
	variants := []struct {
		name      string
		nginxConf string
		confd     map[string]string
	}{
		{"Amazon Linux 2023's nginx.conf as shipped", al2023, nil},
		{"a default_server of the distribution's and nginx.org's conf.d/default.conf",
			strings.Replace(al2023, "listen       80;", "listen       80 default_server;", 1),
			map[string]string{"default.conf": readFixture(t, "nginx.org-default.conf")}},
	}
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "voila: "+sampleNotebookName)
	}))
	defer stub.Close()
	stubPort := stub.Listener.Addr().(*net.TCPAddr).Port
	ud := userDataOf(t, one(t, deploy(t, nil), typeInstance, "HOL02-VoilaServer"))
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			root := newVoilaRoot(t, ud)
			root.installNginxPackage(v.nginxConf, v.confd)
			root.setup()
			root.setup() // safe to run twice
			assert.Equal(t, writtenFile(t, ud, "/etc/research-lab/nginx/nginx.conf"), root.read("/etc/nginx/nginx.conf"),
				"the setup must install research-lab's nginx.conf over the package's")

			// Every server on port 80 (ours, the distribution's, nginx.org's)
			// moved to one loopback port; Voila to the stand-in.
			port := freePort(t)
			listen80 := regexp.MustCompile(`listen\s+80\b`)
			ipv6 := regexp.MustCompile(`(?m)^\s*listen\s+\[::\]:80;\n`)
			localize := func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(p, ".conf") {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				s := ipv6.ReplaceAllString(string(b), "")
				s = listen80.ReplaceAllString(s, fmt.Sprintf("listen 127.0.0.1:%d", port))
				s = strings.ReplaceAll(s, fmt.Sprintf("127.0.0.1:%d;", portVoila.Number), fmt.Sprintf("127.0.0.1:%d;", stubPort))
				return os.WriteFile(p, []byte(s), 0o644)
			}
			for _, dir := range []string{"/etc/nginx", "/etc/research-lab/nginx"} {
				require.NoError(t, filepath.WalkDir(root.path(dir), localize))
			}
			out, err := root.command("", "/", []string{serverPath}, nginx, "-t").CombinedOutput()
			require.NoError(t, err, "nginx -t refuses the server's configuration:\n%s", out)

			cmd := root.command("", "/", []string{serverPath}, nginx, "-g", "daemon off;")
			logs := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = logs, logs
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.WaitDelay = 2 * time.Second
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
			waitListening(t, fmt.Sprintf("127.0.0.1:%d", port), logs)
			for _, host := range []string{"127.0.0.1", "_", "localhost", "203.0.113.7"} {
				req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
				require.NoError(t, err)
				req.Host = host
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Contains(t, string(body), "voila: "+sampleNotebookName, "a request for Host %q must reach the Voila site, not the distribution's server", host)
			}
		})
	}
}

// TestTheDistributionsServerWouldAnswer shows what the setup's nginx.conf
// prevents: with the package's nginx.conf left in place, a default_server
// of its own and nginx.org's conf.d/default.conf, Nginx refuses to start.
func TestTheDistributionsServerWouldAnswer(t *testing.T) {
	nginx := requireTool(t, "nginx")
	ud := userDataOf(t, one(t, deploy(t, nil), typeInstance, "HOL02-VoilaServer"))
	root := newVoilaRoot(t, ud)
	root.installNginxPackage(strings.Replace(readFixture(t, "al2023-nginx.conf"), "listen       80;", "listen       80 default_server;", 1),
		map[string]string{"default.conf": readFixture(t, "nginx.org-default.conf")})
	out, err := root.command("", "/", []string{serverPath}, nginx, "-t").CombinedOutput()
	require.Error(t, err, "without the setup's nginx.conf two default servers must clash:\n%s", out)
	assert.Contains(t, string(out), "duplicate default server")
}

// TestUnpublishedNotebookCodeDoesNotRunAgain: a kernel started as voila.service
// starts it (its user, environment and folder, the file ownership the setup
// makes) writes an IPython startup file and a .pth file everywhere it can;
// the next kernel runs none of them.
func TestUnpublishedNotebookCodeDoesNotRunAgain(t *testing.T) {
	python := "/usr/bin/python3"
	if exec.Command(python, "-c", "import IPython").Run() != nil {
		if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
			t.Fatal("Debian's python3-ipython is not installed: run .ci/install-tools")
		}
		t.Skip("Debian's python3-ipython is not installed")
	}
	run := deploy(t, nil)
	ud := userDataOf(t, one(t, run, typeInstance, "HOL02-VoilaServer"))
	unit := unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/voila.service"))
	for _, p := range words(unit["ReadWritePaths"]) {
		assert.False(t, p == voilaHome || strings.HasPrefix(voilaHome, strings.TrimSuffix(p, "/")+"/"),
			"voila.service makes %s writable, which holds its home %s", p, voilaHome)
	}
	assert.Equal(t, []string{"strict"}, unit["ProtectSystem"], "everything but the runtime folder is read-only for Voila")
	runtime := words(unit["RuntimeDirectory"])
	require.Len(t, runtime, 1)

	root := newVoilaRoot(t, ud)
	root.installNginxPackage(readFixture(t, "al2023-nginx.conf"), nil)
	root.setup()
	owner, mode := root.owner(voilaHome)
	assert.Equal(t, "root", owner, "Voila's home must be root's")
	assert.Zero(t, mode&0o022, "Voila's home must not be writable by others")

	// What systemd gives the unit's processes: the user's home, the unit's
	// Environment=, its runtime folder (the user's, 0755).
	user, notebooks := unit["User"][0], unit["WorkingDirectory"][0]
	env := []string{"PATH=/usr/local/bin:/usr/bin", "HOME=" + voilaHome, "USER=" + user, "LOGNAME=" + user}
	for _, e := range unit["Environment"] {
		env = append(env, strings.Fields(e)...)
	}
	uid := strings.Split(regexp.MustCompile(`(?m)^`+user+`:x:(\d+):(\d+):`).FindString(root.read("/etc/passwd")), ":")
	require.Len(t, uid, 5, "the setup made no %s user", user)
	rt := "/run/" + runtime[0]
	require.NoError(t, os.MkdirAll(root.path(rt), 0o755))
	var id, gid int
	fmt.Sscan(uid[2], &id)
	fmt.Sscan(uid[3], &gid)
	require.NoError(t, os.Chown(root.path(rt), id, gid))
	for _, e := range env {
		if k, v, _ := strings.Cut(e, "="); strings.HasPrefix(k, "JUPYTER_") || k == "MPLCONFIGDIR" {
			assert.True(t, strings.HasPrefix(v, rt+"/"), "%s=%s must be in the runtime folder, emptied when Voila stops", k, v)
		}
	}

	mark := "/tmp/planted-code-ran"
	planted := fmt.Sprintf("open(%q, 'w').close()\n", mark)
	kernel := func(code string) string {
		out, err := root.command(user, notebooks, env, "/opt/voila/bin/python", "-m", "IPython", "-c", code).CombinedOutput()
		require.NoError(t, err, "the stand-in kernel failed:\n%s", out)
		return string(out)
	}
	plant := fmt.Sprintf(`import os, site, sys
planted = %q
targets = [
    os.path.join(get_ipython().profile_dir.startup_dir, "00-planted.py"),
    os.path.expanduser("~/.ipython/profile_default/startup/00-planted.py"),
    os.path.join(site.getusersitepackages(), "planted.pth"),
]
for path in targets:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(("import os; " if path.endswith(".pth") else "") + planted)
        print("wrote", path)
    except OSError as e:
        print("refused", path, e)
`, planted)
	out := kernel(plant)
	t.Logf("the first kernel:\n%s", out)
	assert.Contains(t, out, "wrote", "the stand-in kernel must have somewhere to write, or the test proves nothing")
	out = kernel("print('second kernel')")
	assert.Contains(t, out, "second kernel")
	assert.NoFileExists(t, root.path(mark), "code a kernel left behind ran in the next kernel:\n%s", out)
}
