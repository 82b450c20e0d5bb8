package main

// A team's JupyterHub, proven with Debian's jupyterhub (3.0) and its
// configurable-http-proxy on loopback, in a network namespace of the test's
// own, with the rendered configuration. It runs inside a mount namespace (a
// machine, see machine_test.go) where the rendered setup and members' sync
// made the members with the real useradd and chpasswd, from the list
// jupyterMembers() makes, answered by a stand-in aws; PAM checks the
// passwords against that namespace's /etc/shadow. Only what cannot run here
// differs: LocalProcessSpawner instead of SystemdSpawner (no systemd), and
// Debian's single-user server and proxy instead of the venv's and npm's.

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// teamMachine is a team's Jupyter server: a machine whose stand-in aws
// answers the members' parameter from files, and copies the hub proxy's
// package files from the project.
type teamMachine struct {
	*machine
	params, parameter string
	version           int
}

func newTeamMachine(t *testing.T, run *mockRun) *teamMachine {
	t.Helper()
	return teamMachineOf(t, run, false)
}

// teamMachineOf is newTeamMachine, with a real venv (see newMachine) or not.
func teamMachineOf(t *testing.T, run *mockRun, realVenvs bool) *teamMachine {
	t.Helper()
	m := machineOf(t, run, "HOL02-Jupyter", realVenvs)
	env := sourcedEnv(t, writtenFile(t, userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter")), "/etc/research-lab/notebooks.env"))
	tm := &teamMachine{machine: m, params: filepath.Join(m.bin, "params"), parameter: env["MEMBERS_PARAMETER"]}
	require.NotEmpty(t, tm.parameter, "a team's Jupyter server must name its members' parameter")
	require.NoError(t, os.MkdirAll(tm.params, 0o755))
	// The proxy's package files as the bucket holds them: the project's.
	proxy := filepath.Join(m.bin, "hub-proxy")
	require.NoError(t, os.CopyFS(proxy, os.DirFS("hub-proxy")))
	aws := filepath.Join(m.bin, "aws")
	require.NoError(t, os.Remove(aws))
	require.NoError(t, os.WriteFile(aws, []byte(`#!/bin/sh
echo "$(id -u) aws $*" >>`+m.calls+`
case "$1 $2" in
"ssm get-parameter")
	while [ "$1" != --name ]; do shift; done
	case "$*" in
	*--with-decryption*) cat "`+tm.params+`/$2.value" ;;
	*) cat "`+tm.params+`/$2.version" ;;
	esac ;;
"s3 cp") for a; do :; done; cp "`+proxy+`/$(basename "$4")" "$a" ;;
*) if [ -s "`+m.bin+`/endpoint" ]; then exec /usr/bin/aws --endpoint-url "$(cat "`+m.bin+`/endpoint")" "$@"; fi ;;
esac
`), 0o755))
	for _, name := range []string{"npm-22"} {
		require.NoError(t, os.Symlink(filepath.Join(m.bin, "recorder"), filepath.Join(m.bin, name)))
	}
	// The members' sync tells the hub through the real curl.
	require.NoError(t, os.Remove(filepath.Join(m.bin, "curl")))
	return tm
}

// useBucket sends the machine's other aws commands to the rig's S3 server.
func (tm *teamMachine) useBucket(rig *syncRig) []string {
	tm.t.Helper()
	require.NoError(tm.t, os.WriteFile(filepath.Join(tm.bin, "endpoint"), []byte(rig.endpoint), 0o644))
	return []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true", "HOME=/nonexistent"}
}

// setTeam puts a team's member list, as the stack makes it, in the
// parameter: a new version.
func (tm *teamMachine) setTeam(names ...string) {
	tm.t.Helper()
	tm.setTeamOf(deployTeam(tm.t, "wireguard", names, map[string]string{"bucketName": syncBucket}))
}

// setTeamOf puts a deployed team's member list in the parameters: its parts
// first, as the engine writes them, then the head, a new version.
func (tm *teamMachine) setTeamOf(run *mockRun) {
	tm.t.Helper()
	for name, value := range memberParameters(run, "jupyter-members") {
		if name != tm.parameter {
			tm.setParameter(name, value)
		}
	}
	tm.setParameter(tm.parameter, memberParameters(run, "jupyter-members")[tm.parameter])
}

// setParameter writes a parameter's value; the head's as a new version.
func (tm *teamMachine) setParameter(name, value string) {
	tm.t.Helper()
	require.NoError(tm.t, os.WriteFile(filepath.Join(tm.params, name+".value"), []byte(value), 0o644))
	if name == tm.parameter {
		tm.version++
		require.NoError(tm.t, os.WriteFile(filepath.Join(tm.params, name+".version"), []byte(strconv.Itoa(tm.version)), 0o644))
	}
}

// syncMembers runs the members' sync as its unit does, in namespace ns.
func (tm *teamMachine) syncMembers(ns *netns, env ...string) string {
	tm.t.Helper()
	out, err := tm.command(ns.name, "/usr/local/sbin/research-lab-members", env...).CombinedOutput()
	require.NoError(tm.t, err, "research-lab-members:\n%s", out)
	return string(out)
}

// hubTestConfig is the rendered configuration with what cannot run here
// replaced; bob's server runs ten times faster under faketime, so that its
// one-minute idle stop takes seconds.
const hubTestConfig = `c = get_config()  # noqa: F821
load_subconfig("/etc/research-lab/jupyterhub_config.py")  # noqa: F821
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = ["/usr/bin/jupyterhub-singleuser"]
c.ConfigurableHTTPProxy.command = ["/usr/bin/configurable-http-proxy"]
c.Spawner.poll_interval = 2
c.Spawner.environment = {
    "LD_PRELOAD": lambda spawner: "%s" if spawner.user.name == "bob" else "",
    "FAKETIME": "+0 x10",
}
`

// hubClient is a member's browser: a cookie jar in a file, the login form,
// then requests to the member's server.
const hubClient = `import http.cookiejar, sys, urllib.error, urllib.parse, urllib.request
jar = http.cookiejar.MozillaCookieJar(sys.argv[1])
try:
    jar.load(ignore_discard=True, ignore_expires=True)
except FileNotFoundError:
    pass
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
base = "http://127.0.0.1:` + "%d" + `"
def xsrf():
    return {c.name: c.value for c in jar}.get("_xsrf", "")
def fetch(request):
    try:
        r = web.open(request, timeout=60)
        return r.status, r.geturl(), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.geturl(), e.read().decode()
if sys.argv[2] == "login":
    fetch(base + "/hub/login")
    form = {"username": sys.argv[3], "password": sys.argv[4], "_xsrf": xsrf()}
    status, url, body = fetch(urllib.request.Request(base + "/hub/login", urllib.parse.urlencode(form).encode()))
else:
    status, url, body = fetch(urllib.request.Request(base + sys.argv[3], headers={"X-XSRFToken": xsrf()}))
print(body)
print(status, url.replace(base, ""))
jar.save(ignore_discard=True, ignore_expires=True)`

// hub is JupyterHub running in a team machine's network namespace.
type hub struct {
	tm   *teamMachine
	ns   *netns
	logs *syncBuffer // the hub's, written while the test reads them
	dir  string      // the members' cookie jars
	pid  int         // JupyterHub's, in the machine's mount namespace
}

// run runs a script as root in the hub's own mount and network namespaces:
// what the members' sync changes there, the hub sees (another mount of the
// machine's overlays would not show it a file replaced here).
func (h *hub) run(script string) (string, error) {
	cmd := h.tm.command("", "")
	cmd.Args = []string{"nsenter", "--target", strconv.Itoa(h.pid), "--mount", "--net", "/bin/bash", "-c", script}
	cmd.Path = requireTool(h.tm.t, "nsenter")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *hub) must(script string) string {
	h.tm.t.Helper()
	out, err := h.run(script)
	require.NoError(h.tm.t, err, "%s:\n%s", script, out)
	return out
}

func startHub(t *testing.T, tm *teamMachine, ns *netns) *hub {
	t.Helper()
	faketime, err := filepath.Glob("/usr/lib/*/faketime/libfaketime.so.1")
	require.NoError(t, err)
	require.NotEmpty(t, faketime, "libfaketime is not installed: run .ci/install-tools")
	tm.writeFile("/etc/research-lab/jupyterhub-test.py", fmt.Sprintf(hubTestConfig, faketime[0]), 0o600)
	h := &hub{tm: tm, ns: ns, logs: &syncBuffer{}, dir: sharedTempDir(t)}
	// The hub keeps only its unit's capabilities, and those with which
	// LocalProcessSpawner does what systemd does for SystemdSpawner: switch
	// to the member, signal their server. /etc/shadow is 0000, as on Amazon
	// Linux.
	bounding := []string{"-all", "+setuid", "+setgid", "+kill"}
	for _, c := range words(tm.units["jupyterhub.service"]["CapabilityBoundingSet"]) {
		bounding = append(bounding, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	cmd := tm.command(ns.name, "chmod 0000 /etc/shadow && cd "+hubStateDir+" && NODE_PATH=/usr/share/nodejs exec setpriv --bounding-set="+
		strings.Join(bounding, ",")+" /usr/bin/jupyterhub -f /etc/research-lab/jupyterhub-test.py --upgrade-db")
	cmd.Stdout, cmd.Stderr = h.logs, h.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	h.pid = cmd.Process.Pid // ip and unshare exec what they run: this is bash, then JupyterHub
	// The members' servers and the proxy are sessions of their own: every
	// process in the namespace goes.
	t.Cleanup(func() {
		ns.killAll()
		_ = cmd.Wait()
	})
	// The proxy listens first; the hub is up once it answers through it.
	require.True(t, eventually(loadedMachine, func() bool {
		return ns.cmd("/usr/bin/python3", "-c", fmt.Sprintf("import urllib.request; urllib.request.urlopen('http://127.0.0.1:%d/hub/api/', timeout=10)", portJupyter.Number)).Run() == nil
	}), "JupyterHub never answered on %d:\n%s", portJupyter.Number, h.logs)
	return h
}

// browse runs the member's browser: "login PASSWORD" or "get PATH"; it
// returns the last status, the URL it ended at, and the body.
func (h *hub) browse(member string, args ...string) (status int, url, body string) {
	h.tm.t.Helper()
	if args[0] == "login" {
		args = []string{"login", member, args[1]}
	}
	status, url, body, err := h.browser(member, args...)
	require.NoError(h.tm.t, err, "%s\n%s", err, h.logs)
	return status, url, body
}

// browser runs the browser whose cookie jar is named name, as browse does;
// it reports a failure as an error, so that several may run at once.
func (h *hub) browser(name string, args ...string) (status int, url, body string, err error) {
	jar := filepath.Join(h.dir, name+".cookies")
	out, err := h.ns.cmd(append([]string{"/usr/bin/python3", "-c", fmt.Sprintf(hubClient, portJupyter.Number), jar}, args...)...).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.Fields(lines[len(lines)-1])
	if err == nil && len(last) == 2 {
		status, err = strconv.Atoi(last[0])
		return status, last[1], strings.Join(lines[:len(lines)-1], "\n"), err
	}
	return 0, "", "", fmt.Errorf("%s's browser (%v): %s", name, err, out)
}

// login logs the member in as a browser does and opens a page of their
// server that is behind its login (files/, not the redirect of / to the UI,
// which needs none): the server sends the browser through the hub's OAuth,
// which sets the server's own cookie. Whether the server was up by the end
// of the login's redirects or not, the browser has the hub's cookie only
// until it has been through that flow. While the server starts, the hub
// answers files/ with its spawn-pending page, and the browser asks again.
// It returns the URL the member ends at ("/hub/login" when refused).
func (h *hub) login(member, password string) string {
	h.tm.t.Helper()
	status, url, body := h.browse(member, "login", password)
	if strings.HasPrefix(url, "/hub/login") {
		return url
	}
	require.True(h.tm.t, eventually(loadedMachine, func() bool {
		status, url, body = h.browse(member, "get", "/user/"+member+"/files/")
		return !strings.HasPrefix(url, "/hub/") && h.hasServerCookie(member)
	}), "%s's browser never got through their server's OAuth (last %d %s):\n%s\n%s", member, status, url, body, h.logs)
	return url
}

// hasServerCookie tells whether the member's browser holds their server's
// cookie, the one its OAuth callback sets: named after the server's OAuth
// client, jupyterhub-user-<name> (jupyterhub/services/auth.py, cookie_name).
func (h *hub) hasServerCookie(member string) bool {
	h.tm.t.Helper()
	jar, err := os.ReadFile(filepath.Join(h.dir, member+".cookies"))
	require.NoError(h.tm.t, err)
	// Netscape format: domain, flag, path, secure, expiry, name, value.
	return strings.Contains(string(jar), "\tjupyterhub-user-"+member+"\t")
}

// contents waits, bounded, until the member's own server answers its
// contents API, and returns the listing.
func (h *hub) contents(member string) string {
	h.tm.t.Helper()
	var status int
	var body string
	require.True(h.tm.t, eventually(loadedMachine, func() bool {
		status, _, body = h.browse(member, "get", "/user/"+member+"/api/contents/")
		return status == 200
	}), "%s's server never answered (last %d):\n%s\n%s", member, status, body, h.logs)
	return body
}

// serverUIDs are the uids of the member's running single-user servers:
// processes in the hub's network namespace only, since another hub on this
// machine (another run of the tests) has members of the same names.
func (h *hub) serverUIDs(member string) []string {
	h.tm.t.Helper()
	var ns syscall.Stat_t
	require.NoError(h.tm.t, syscall.Stat("/run/netns/"+h.ns.name, &ns))
	var uids []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		var net syscall.Stat_t
		if syscall.Stat(p+"/ns/net", &net) != nil || net.Dev != ns.Dev || net.Ino != ns.Ino {
			continue
		}
		cmdline, _ := os.ReadFile(p + "/cmdline")
		environ, _ := os.ReadFile(p + "/environ")
		if !strings.Contains(string(cmdline), "jupyterhub-singleuser") || !strings.Contains("\x00"+string(environ), "\x00JUPYTERHUB_USER="+member+"\x00") {
			continue
		}
		status, _ := os.ReadFile(p + "/status")
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == "Uid:" {
				uids = append(uids, f[2]) // the effective uid
			}
		}
	}
	return uids
}

// waitNoServer waits, bounded, until no single-user server of the member runs.
func (h *hub) waitNoServer(member, why string) {
	h.tm.t.Helper()
	require.True(h.tm.t, eventually(loadedMachine, func() bool { return len(h.serverUIDs(member)) == 0 }),
		"%s's server still runs after %s: %s\n%s", member, loadedMachine, why, h.logs)
}

// startTeamHub starts the hub of alice and bob's lab, deployed with changes,
// its members made by the setup and the members' sync, in a network
// namespace of the test's own (named after role).
func startTeamHub(t *testing.T, role string, changes map[string]string) *hub {
	t.Helper()
	for _, tool := range []string{"jupyterhub", "configurable-http-proxy", "jq", "curl", "faketime", "chpasswd"} {
		requireTool(t, tool)
	}
	tm := newTeamMachine(t, deployTeam(t, "wireguard", []string{"alice", "bob"}, changes))
	tm.setup()
	tm.setTeam("alice", "bob")
	ns := newNetns(t, role)
	tm.syncMembers(ns)
	return startHub(t, tm, ns)
}

func TestTeamMembersLogInToServersOfTheirOwn(t *testing.T) {
	// Members' servers stop after one idle minute (jupyterIdleStopMinutes).
	h := startTeamHub(t, "hub", map[string]string{"jupyterIdleStopMinutes": "1"})
	tm := h.tm

	// What check --via-vpn looks for on jupyterUrl: a login page.
	_, landing, page := h.browse("visitor", "get", "/")
	assert.Contains(t, page, `type="password"`, "jupyterUrl must show a login page with a password field (check --via-vpn)")
	assert.True(t, strings.HasPrefix(landing, "/hub/login"), "jupyterUrl leads to the hub's login page, not %s", landing)

	url := h.login("alice", testAlicePassword+"x")
	assert.Equal(t, "/hub/login", url, "a wrong password must be refused")
	assert.Empty(t, h.serverUIDs("alice"), "a refused login starts no server")

	// bob last: his server's clock runs fast, and alice tries it next.
	for _, m := range []struct{ member, password string }{{"alice", testAlicePassword}, {"bob", testBobPassword}} {
		member := m.member
		url := h.login(member, m.password)
		assert.Contains(t, url, "/user/"+member+"/", "%s must log in with their own password and reach their own server:\n%s", member, h.logs)
		assert.Contains(t, h.contents(member), `"name": "published"`, "%s's server serves their notebook folder", member)
		uid := strings.TrimSpace(h.must("id -u " + member))
		assert.Equal(t, []string{uid}, h.serverUIDs(member), "%s's server must run as %s's Unix user", member, member)
	}
	status, _, _ := h.browse("alice", "get", "/user/bob/api/contents/")
	assert.NotEqual(t, 200, status, "alice must not reach bob's server")
	// alice again, from a new browser, while her server runs: the login's
	// redirects end on her server itself, past the hub, without its cookie.
	require.NoError(t, os.Remove(filepath.Join(h.dir, "alice.cookies")))
	assert.Contains(t, h.login("alice", testAlicePassword), "/user/alice/")
	assert.Contains(t, h.contents("alice"), `"name": "published"`, "a member logging in from a second browser must reach their running server")

	// Each member's folder is theirs alone; the shared one everyone's.
	bobs := membersHome + "/bob/" + memberNotebooks
	h.must(asUser("bob", "", "0007", "sh", "-c", "echo draft >"+bobs+"/draft.ipynb && echo team >"+teamSharedDir+"/plan.ipynb"))
	for _, peek := range []string{"cat " + bobs + "/draft.ipynb", "ls " + bobs, "ls " + membersHome + "/bob"} {
		_, err := h.run(asUser("alice", "", "", "sh", "-c", peek))
		assert.Error(t, err, "alice must not read bob's folder: %s", peek)
	}
	assert.Contains(t, h.must(asUser("alice", "", "", "cat", membersHome+"/alice/"+memberNotebooks+"/"+sharedFolder+"/plan.ipynb")), "team",
		"alice reads the shared folder through the link in her own")
	_, err := h.run(asUser(syncUser, "", "", "cat", bobs+"/draft.ipynb"))
	assert.Error(t, err, "the sync must not read a member's folder: the member's own copy reaches it (TestNoMemberReadsAnotherThroughThePush)")

	// Bob's server, idle, stops itself: its clock runs ten times faster, so
	// in seconds (a fake clock; the bound is a loaded machine's).
	h.waitNoServer("bob", "an idle member's server must stop itself")
	assert.Contains(t, h.logs.String(), "shutting down", "the member's server must say why it stopped")

	// alice leaves, carol joins: no restart of the hub.
	tm.setTeam("bob", "carol")
	assert.Contains(t, h.must("/usr/local/sbin/research-lab-members"), "alice left the team")
	h.waitNoServer("alice", "a removed member's server must be stopped")
	assert.Equal(t, "/hub/login", h.login("alice", testAlicePassword), "a removed member must not log in")
	assert.Empty(t, h.serverUIDs("alice"))
	assert.Contains(t, h.must("ls "+membersHome+"/alice/"+memberNotebooks), "published", "a removed member's notebooks stay")
	assert.Contains(t, h.login("carol", testCarolPassword), "/user/carol/", "a new member logs in without a restart of the hub:\n%s", h.logs)
	assert.Equal(t, 1, strings.Count(h.logs.String(), "JupyterHub is now running"), "the hub must not restart for the team")
}

// TestHubThrottlesPasswordGuessing: whoever guesses a member's password at
// the hub (another member, say: every member comes from the VPN server's
// address) has hubLogins.Failures tries in the window, even all at once, and
// the member's login clears the count; then that name's logins are refused
// without asking PAM, the right password too, until the oldest try leaves
// the window. Another member logs in meanwhile, and the guessed member's own
// session carries on. The window is a minute here (hubLogins' minutes on a
// server): JupyterHub 3.0 asks PAM one login at a time, each failure answered
// after pam_unix's delay of about two seconds, and they and bob's login (or
// alice's typos and her login, which starts her server) must fall inside it,
// on a loaded machine too.
func TestHubThrottlesPasswordGuessing(t *testing.T) {
	saved := hubLogins
	t.Cleanup(func() { hubLogins = saved })
	hubLogins.WindowSeconds = 60
	window := time.Duration(hubLogins.WindowSeconds) * time.Second
	h := startTeamHub(t, "throttle", nil)

	// alice mistypes her password, once short of the limit, then logs in: her
	// login clears her failures, so the guesses below get all their tries.
	typed := time.Now()
	typos := h.wrongLoginsAtOnce("alice", hubLogins.Failures-1)
	for range hubLogins.Failures - 1 {
		a := <-typos
		require.NoError(t, a.err, "%s", h.logs)
		require.Equal(t, http.StatusOK, a.status, "a wrong password is answered with the login page")
	}
	assert.Contains(t, h.login("alice", testAlicePassword), "/user/alice/", "alice must log in after her typos:\n%s", h.logs)
	pamFailures := strings.Count(h.logs.String(), "PAM Authentication failed (alice@")

	// Two guesses more than allowed, all at once, each from a browser of its
	// own. PAM answers one at a time, each failure after its delay; the
	// refusals come at once, and then every try allowed has been counted.
	guesses := hubLogins.Failures + 2
	start := time.Now()
	require.Less(t, start.Sub(typed), window, "alice's typos and login took longer than the window (%s): nothing left to prove", window)
	answers := h.wrongLoginsAtOnce("alice", guesses)
	var statuses []int
	receive := func() {
		a := <-answers
		require.NoError(t, a.err, "%s", h.logs)
		statuses = append(statuses, a.status)
	}
	refused := func() (n int) {
		for _, s := range statuses {
			if s == http.StatusTooManyRequests {
				n++
			}
		}
		return n
	}
	for len(statuses) < guesses && refused() < guesses-hubLogins.Failures {
		receive()
	}

	// alice's session carries on; from a new browser, her right password is
	// refused, and the page says why.
	assert.Contains(t, h.contents("alice"), `"name": "published"`, "a throttled name's session must carry on")
	status, url, page, err := h.browser("alice-new", "login", "alice", testAlicePassword)
	require.NoError(t, err)
	if assert.Equal(t, http.StatusTooManyRequests, status, "alice's right password must be refused while her name is throttled, not answered %d at %s:\n%s", status, url, h.logs) {
		assert.Contains(t, page, "Too many failed logins for alice", "the refusal must say why")
	}
	assert.Regexp(t, `Login of alice refused for \d+s`, h.logs.String(), "the hub must log the refusal, naming the member and how long")

	// bob logs in meanwhile (PAM checks him after the guesses), and alice's
	// name is still throttled after him.
	status, url, _, err = h.browser("bob", "login", "bob", testBobPassword)
	require.NoError(t, err)
	assert.False(t, strings.HasPrefix(url, "/hub/login"), "bob must log in while alice's name is throttled, not be answered %d at %s:\n%s", status, url, h.logs)
	status, _, _, err = h.browser("alice-new", "login", "alice", testAlicePassword)
	require.NoError(t, err)
	require.Less(t, time.Since(start), window, "the guesses and bob's login took longer than the window (%s): nothing left to prove", window)
	assert.Equal(t, http.StatusTooManyRequests, status, "alice's name must stay throttled for the window, bob's login notwithstanding")

	for len(statuses) < guesses {
		receive()
	}
	assert.Equal(t, guesses-hubLogins.Failures, refused(),
		"of %d guesses at once, %d must reach PAM and the rest be refused (statuses %v):\n%s", guesses, hubLogins.Failures, statuses, h.logs)
	assert.Equal(t, hubLogins.Failures, strings.Count(h.logs.String(), "PAM Authentication failed (alice@")-pamFailures,
		"exactly %d guesses must reach PAM: more if attempts at once pass the count, fewer if alice's login did not clear her typos", hubLogins.Failures)

	// Once the guesses leave the window, alice logs in again.
	require.True(t, eventually(loadedMachine, func() bool {
		status, url, _, err = h.browser("alice-new", "login", "alice", testAlicePassword)
		return err == nil && !strings.HasPrefix(url, "/hub/login")
	}), "alice must log in once the guesses left the window (last %d %s, %v):\n%s", status, url, err, h.logs)
	assert.GreaterOrEqual(t, time.Since(start), window, "alice's name must stay throttled for the whole window")
}

// loginAnswer is what a browser got for a login: its status, or why none.
type loginAnswer struct {
	status int
	err    error
}

// wrongLoginsAtOnce posts n logins of member, each with a wrong password of
// its own and from a browser of its own, all at once; their answers come on
// the channel as they arrive.
func (h *hub) wrongLoginsAtOnce(member string, n int) <-chan loginAnswer {
	answers := make(chan loginAnswer, n)
	for i := range n {
		go func() {
			status, _, _, err := h.browser(fmt.Sprintf("%s-guess%d", member, i), "login", member, fmt.Sprintf("guess %d", i))
			answers <- loginAnswer{status, err}
		}()
	}
	return answers
}

// TestMembersSyncAppliesOnlyAChangedTeam: the members' sync reads the list
// only when its version changed, so a second run changes nothing; a list
// with a bad entry changes nothing; a member who left stays to be removed
// until the hub confirms it, and the next runs try again.
func TestMembersSyncAppliesOnlyAChangedTeam(t *testing.T) {
	requireTool(t, "jq")
	requireTool(t, "chpasswd")
	tm := newTeamMachine(t, deployTeam(t, "wireguard", []string{"alice", "bob"}, nil))
	tm.setup()
	tm.setTeam("alice", "bob")
	ns := newNetns(t, "members") // no hub listens in it
	tm.syncMembers(ns)
	shadow := tm.must("cat /etc/shadow")
	reads := func() int { return strings.Count(tm.must("cat "+tm.calls), "--with-decryption") }
	before := reads()
	tm.syncMembers(ns)
	assert.Equal(t, before, reads(), "an unchanged version must not be read again")
	assert.Equal(t, shadow, tm.must("cat /etc/shadow"), "a second run must change nothing")
	assert.Contains(t, tm.must("getent group "+teamGroup), "alice,bob")

	// A bad entry, or a name that is a user the lab did not make: nothing changes.
	var team struct{ Members []map[string]string }
	require.NoError(t, json.Unmarshal([]byte(tm.must("cat "+filepath.Join(tm.params, tm.parameter+".value"))), &team))
	hash := team.Members[0]["passwordHash"]
	for _, bad := range []string{
		`{"members":[{"name":"carol","passwordHash":"$6$rounds=100000$salt$short"},{"name":"alice","passwordHash":"` + hash + `"}]}`,
		`{"members":[{"name":"alice","passwordHash":"` + hash + `"},{"name":"daemon","passwordHash":"` + hash + `"}]}`,
	} {
		tm.version++
		require.NoError(t, os.WriteFile(filepath.Join(tm.params, tm.parameter+".value"), []byte(bad), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(tm.params, tm.parameter+".version"), []byte(strconv.Itoa(tm.version)), 0o644))
		out, err := tm.command(ns.name, "/usr/local/sbin/research-lab-members").CombinedOutput()
		assert.Error(t, err, "a bad list must fail the run:\n%s", out)
		assert.Contains(t, string(out), "nothing applied")
		assert.Equal(t, shadow, tm.must("cat /etc/shadow"), "a bad list must change nothing: %s", bad)
	}

	// alice leaves while the hub does not answer: she is locked and out of
	// the groups at once, and stays to be removed from the hub.
	tm.setTeam("bob")
	out2 := tm.syncMembers(ns)
	assert.Contains(t, out2, "did not remove alice yet")
	assert.Regexp(t, `(?m)^alice:!`, tm.must("cat /etc/shadow"), "a removed member's account must be locked")
	assert.NotContains(t, tm.must("getent group "+teamGroup+" "+sharedGroup), "alice", "a removed member must leave the team's groups")
	assert.Contains(t, tm.syncMembers(ns), "did not remove alice yet", "the next run tries again, though the version is the same")
}

// TestHubProxyIsPinnedByTheUserdata: configurable-http-proxy, an npm
// package, is what hub-proxy/ pins: an exact version, every package of the
// lock with its integrity hash. The stack puts both files in the bucket, the
// userdata carries their SHA-256 digests, and the setup installs nothing
// (npm ci) from files that do not match them.
func TestHubProxyIsPinnedByTheUserdata(t *testing.T) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version, Integrity string
		} `json:"packages"`
	}
	for file, into := range map[string]any{"hub-proxy/package.json": &pkg, "hub-proxy/package-lock.json": &lock} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, into), file)
	}
	require.Len(t, pkg.Dependencies, 1)
	assert.Regexp(t, `^\d+\.\d+\.\d+$`, pkg.Dependencies["configurable-http-proxy"], "the proxy's version is exact")
	assert.Equal(t, 3, lock.LockfileVersion)
	assert.Equal(t, pkg.Dependencies["configurable-http-proxy"], lock.Packages["node_modules/configurable-http-proxy"].Version)
	for name, p := range lock.Packages {
		if name != "" {
			assert.Regexp(t, `^sha512-`, p.Integrity, "%s has no integrity hash in the lock: npm ci could install anything", name)
		}
	}

	run := deployTeam(t, "wireguard", []string{"alice"}, nil)
	digests := writtenFile(t, userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter")), "/etc/research-lab/hub-proxy.sha256")
	for _, f := range hubProxyFiles {
		b, err := os.ReadFile("hub-proxy/" + f)
		require.NoError(t, err)
		assert.Contains(t, digests, fmt.Sprintf("%x  %s\n", sha256.Sum256(b), f), "the userdata must pin %s by its digest", f)
		obj := one(t, run, "aws:s3/bucketObjectv2:BucketObjectv2", "hub-proxy-"+f)
		assert.Equal(t, hubProxySource+"/"+f, propString(obj.Inputs, "key"), "the stack puts %s where the server fetches it", f)
	}
	deps := strings.Join(one(t, run, typeInstance, "HOL02-Jupyter").Options.GetDependencies(), " ")
	for _, f := range hubProxyFiles {
		assert.Contains(t, deps, "::hub-proxy-"+f, "Jupyter must boot after %s is in the bucket", f)
	}
	for _, p := range run.Mocks.ofType("aws:iam/rolePolicy:RolePolicy") {
		if nameOf(run, propString(p.Inputs, "role")) == "HOL02-Jupyter-Role" {
			assert.Contains(t, propString(p.Inputs, "policy"), `{"Sid":"HubProxyPackages","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::notebooks-1a2b3c4/`+hubProxySource+`/*"]}`,
				"Jupyter may read the proxy's package files, and nothing more there")
		}
	}
	for _, obj := range deploy(t, nil).Mocks.ofType("aws:s3/bucketObjectv2:BucketObjectv2") {
		assert.NotContains(t, obj.Name, "hub-proxy", "a single-user lab has no hub")
	}

	// A lock that is not the one the userdata pins: nothing is installed.
	requireTool(t, "sha256sum")
	tm := newTeamMachine(t, run)
	lockFile := filepath.Join(tm.bin, "hub-proxy", "package-lock.json")
	b, err := os.ReadFile(lockFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(lockFile, []byte(strings.Replace(string(b), `"version": "5.`, `"version": "9.`, 1)), 0o644))
	out, err := tm.command("", "cd / && /usr/local/sbin/research-lab-setup").CombinedOutput()
	assert.Error(t, err, "the setup must stop on a lock its userdata does not pin:\n%s", out)
	calls := tm.must("cat " + tm.calls)
	assert.NotContains(t, calls, "npm-22", "npm must not install from a lock whose digest differs")
}

// TestTeamUserdataHoldsNoMemberSecret: members' passwords, and even their
// hashes, reach the Jupyter server only through the parameter; its userdata
// (compressed, so a plain search of the inputs would not see it) names the
// parameter and nothing of the team.
func TestTeamUserdataHoldsNoMemberSecret(t *testing.T) {
	run := deployTeam(t, "openvpn-as", []string{"alice", "bob"}, nil)
	hashes := propString(one(t, run, "aws:ssm/parameter:Parameter", "jupyter-members").Inputs, "value")
	var team struct {
		Members []struct{ Name, PasswordHash string }
	}
	require.NoError(t, json.Unmarshal([]byte(hashes), &team))
	require.Len(t, team.Members, 2)
	for _, in := range run.Mocks.ofType(typeInstance) {
		ud := userDataOf(t, in)
		require.NotEmpty(t, ud, "%s has no userdata", in.Name)
		for _, secret := range []string{testAlicePassword, testBobPassword, team.Members[0].PasswordHash, team.Members[1].PasswordHash} {
			assert.NotContains(t, ud, secret, "%s's userdata holds a member's password or hash", in.Name)
		}
		assert.NotContains(t, ud, "alice", "%s's userdata names a member: it would change with the team", in.Name)
	}
}
