package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverUnits reads every unit a server's userdata writes, as systemd would,
// and the units its runcmd enables.
func serverUnits(t *testing.T, run *mockRun, name string) (units map[string]map[string][]string, enabled []string) {
	t.Helper()
	c := parseCloudConfig(t, name, userDataOf(t, one(t, run, typeInstance, name)))
	units = map[string]map[string][]string{}
	for unit, content := range unitFiles(c) {
		units[unit] = unitProperties(t, content)
	}
	for _, cmd := range c.RunCmd {
		if len(cmd) > 2 && cmd[0] == "systemctl" && cmd[1] == "enable" {
			for _, u := range cmd[2:] {
				if !strings.HasPrefix(u, "-") {
					enabled = append(enabled, u)
				}
			}
		}
	}
	return units, enabled
}

func words(values []string) []string { return strings.Fields(strings.Join(values, " ")) }

// TestServersRunAsTheirOwnUsers: what runs notebook code runs as the
// notebook user, the sync as its own user (which may reach the instance's
// credentials, see TestNotebookCodeCannotReachTheMetadataService), and only
// what must be root is: the OS update, the metadata guard and the NAT rules'
// loaders, and the certificate client, which switches and reloads Nginx.
func TestServersRunAsTheirOwnUsers(t *testing.T) {
	run := deploy(t, nil)
	const root = ""
	want := map[string]map[string]string{
		"HOL02-VoilaServer": {"voila.service": "voila", "notebook-pull.service": "notebook-sync", "notebook-render.service": staticUser,
			"imds-guard.service": root, "os-update.service": root, "voila-certificate.service": acmeUser},
		"HOL02-Jupyter": {"jupyter.service": "jupyter", "notebook-restore.service": "notebook-sync",
			"notebook-push.service": "notebook-sync", "notebook-push-at-shutdown.service": "notebook-sync",
			"imds-guard.service": root, "os-update.service": root},
		"HOL02-NAT": {"research-lab-nat.service": root, "os-update.service": root},
	}
	// A team's sync is root handing over: each member's folder is copied as
	// the member, the bucket reached as notebook-sync (TestNoMemberReadsAnotherThroughThePush).
	want["HOL02-Jupyter (team)"] = map[string]string{"jupyterhub.service": root, "research-lab-members.service": root,
		"jupyter-team-idle.service": root, "notebook-restore.service": root, "notebook-push.service": root,
		"notebook-push-at-shutdown.service": root, "imds-guard.service": root, "os-update.service": root}
	team := deployTeam(t, "wireguard", []string{"alice"}, map[string]string{"jupyterIdleStopMinutes": "30"})
	for server, users := range want {
		lab := run
		if name, ok := strings.CutSuffix(server, " (team)"); ok {
			server, lab = name, team
		}
		units, _ := serverUnits(t, lab, server)
		got := map[string]string{}
		for unit, p := range units {
			if strings.HasSuffix(unit, ".service") {
				got[unit] = strings.Join(p["User"], " ")
			}
		}
		assert.Equal(t, users, got, "%s: each service's User= (empty: root)", server)
	}
}

// TestCertificateClientRunsUnprivileged: lab-acme, which talks to the
// internet, runs as its own user with a read-only system; only installing the
// verified binary and putting the certificate in Nginx's hands run as root.
func TestCertificateClientRunsUnprivileged(t *testing.T) {
	units, _ := serverUnits(t, deploy(t, nil), "HOL02-VoilaServer")
	u := units["voila-certificate.service"]
	assert.Equal(t, []string{acmeUser}, u["User"])
	assert.Equal(t, []string{acmeUser}, u["Group"])
	require.Len(t, u["ExecStart"], 1)
	assert.True(t, strings.HasPrefix(u["ExecStart"][0], "/usr/local/bin/lab-acme "), "lab-acme runs as the unit's user, without a privilege prefix: %s", u["ExecStart"][0])
	assert.Equal(t, []string{"+/usr/local/sbin/lab-acme-install"}, u["ExecStartPre"], "only the verified install runs as root before lab-acme")
	assert.Equal(t, []string{"+/usr/local/sbin/voila-tls-enable"}, u["ExecStartPost"], "only putting the certificate in service runs as root after it")
	assert.NotContains(t, u["ExecStart"][0], "--deploy-hook", "lab-acme starts nothing as root")
	assert.ElementsMatch(t, []string{acmeStateDir, acmeWebroot}, words(u["ReadWritePaths"]), "lab-acme may write its state and the webroot, nothing else")
	assert.Equal(t, []string{"strict"}, u["ProtectSystem"])
}

// TestRestartsAndOrdering checks what restarts and what comes before what at
// boot and at shutdown (systemd stops units in the reverse of their order).
func TestRestartsAndOrdering(t *testing.T) {
	run := deploy(t, nil)
	jupyter, jupyterEnabled := serverUnits(t, run, "HOL02-Jupyter")
	assert.Equal(t, []string{"always"}, jupyter["jupyter.service"]["Restart"], "a crashed Jupyter must come back")
	assert.Subset(t, words(jupyter["jupyter.service"]["After"]), []string{"notebook-restore.service", "network-online.target"},
		"Jupyter starts after the restore")
	assert.Subset(t, words(jupyter["jupyter.service"]["Wants"]), []string{"notebook-restore.service"})
	for _, unit := range []string{"notebook-push.service", "notebook-push-at-shutdown.service"} {
		assert.Contains(t, words(jupyter[unit]["After"]), "notebook-restore.service", "%s must not run before the restore", unit)
	}
	shutdown := jupyter["notebook-push-at-shutdown.service"]
	assert.Equal(t, []string{"/usr/local/bin/notebook-sync push"}, shutdown["ExecStop"], "the push runs when the unit is stopped, at shutdown")
	assert.Equal(t, []string{"yes"}, shutdown["RemainAfterExit"], "the unit stays active until shutdown, so that its stop runs then")
	assert.Contains(t, words(shutdown["Before"]), "jupyter.service", "at shutdown the push runs after Jupyter has stopped (and saved)")
	assert.Contains(t, words(shutdown["After"]), "network-online.target", "at shutdown the push runs before the network goes")
	assert.Subset(t, jupyterEnabled, []string{"notebook-restore.service", "notebook-push-at-shutdown.service", "jupyter.service",
		"notebook-push.timer", "os-update.timer"}, "runcmd must enable Jupyter's units")
	assert.NotContains(t, jupyter["notebook-restore.service"]["ExecStart"][0], "pull", "the restore is the once-only restore")

	voila, voilaEnabled := serverUnits(t, run, "HOL02-VoilaServer")
	assert.Equal(t, []string{"always"}, voila["voila.service"]["Restart"], "a crashed Voila must come back")
	assert.Subset(t, voilaEnabled, []string{"nginx.service", "voila.service", "notebook-pull.timer", "os-update.timer"})
	nat, natEnabled := serverUnits(t, run, "HOL02-NAT")
	assert.Subset(t, natEnabled, []string{"research-lab-nat.service", "os-update.timer"})
	assert.Contains(t, words(nat["research-lab-nat.service"]["Before"]), "network-pre.target", "the rules are in place before the network")

	for server, units := range map[string]map[string]map[string][]string{"Jupyter": jupyter, "Voila": voila, "NAT": nat} {
		for unit, p := range units {
			if !strings.HasSuffix(unit, ".timer") && len(p["WantedBy"]) == 0 {
				continue
			}
			enabled := map[string][]string{"Jupyter": jupyterEnabled, "Voila": voilaEnabled, "NAT": natEnabled}[server]
			assert.Contains(t, enabled, unit, "%s: %s can be enabled, so runcmd must enable it", server, unit)
		}
	}
}

// TestListeners: Voila on loopback only, behind Nginx on the public port;
// Jupyter on its port on every interface (its group admits the VPN only).
func TestListeners(t *testing.T) {
	run := deploy(t, nil)
	voila, _ := serverUnits(t, run, "HOL02-VoilaServer")
	start := words(voila["voila.service"]["ExecStart"])
	assert.Contains(t, start, "--Voila.ip=127.0.0.1", "Voila must listen on loopback only")
	assert.Contains(t, start, "--port=8866")
	assert.Contains(t, voilaServerBlock(t), "listen 80 default_server;", "Nginx is the public face on port 80")

	python := debianJupyterPython(t)
	dir := t.TempDir()
	files := jupyterFiles(t, nil, dir)
	require.Contains(t, files, "jupyter_server_config.py")
	// Read the configuration the way Jupyter does: executed with a traitlets Config.
	out, err := exec.Command(python, "-c", `import sys
from traitlets.config import Config
c = Config()
exec(open(sys.argv[1]).read(), {"get_config": lambda: c})
print(c.ServerApp.ip, c.ServerApp.port, c.ServerApp.root_dir)`, filepath.Join(dir, "jupyter_server_config.py")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "0.0.0.0 8888 /srv/jupyter/notebooks", strings.TrimSpace(string(out)), "Jupyter listens on its port, serving its notebook folder")
}

// hubConfigReader loads a rendered jupyterhub_config.py the way JupyterHub
// does (executed with a traitlets Config), as JupyterHub version
// sys.argv[2], with the members' sync's token file stood in; then into the
// authenticator it selects (over Debian's JupyterHub 3.0 PAMAuthenticator),
// which must know every setting it is given. It prints the settings the
// tests check, as JSON.
const hubConfigReader = `import builtins, io, json, logging, os, sys
import jupyterhub
from traitlets.config import Config
c = Config()
version = tuple(int(v) for v in sys.argv[2].split("."))
jupyterhub.version_info = version
real_open = builtins.open
def fake_open(path, *args, **kwargs):
    if str(path).endswith("/members-api-token"):
        return io.StringIO("token")
    return real_open(path, *args, **kwargs)
exec(real_open(sys.argv[1]).read(), {"get_config": lambda: c, "__builtins__": dict(vars(builtins), open=fake_open)})
unknown = []
class Catch(logging.Handler):
    def emit(self, record):
        if "not recognized" in record.getMessage():
            unknown.append(record.getMessage())
log = logging.getLogger("check")
log.addHandler(Catch())
from jupyterhub.auth import PAMAuthenticator
from traitlets.utils.importstring import import_item
authenticator = c.JupyterHub.authenticator_class
if isinstance(authenticator, str):
    authenticator = import_item(authenticator)
if version < (5,):
    authenticator(config=c, log=log)
print(json.dumps({
    "pam": issubclass(authenticator, PAMAuthenticator),
    "logins": [getattr(authenticator, "failures", None), getattr(authenticator, "window", None)],
    "bind_url": c.JupyterHub.bind_url, "hub_bind_url": c.JupyterHub.hub_bind_url, "proxy_api": c.ConfigurableHTTPProxy.api_url,
    "spawner": c.JupyterHub.spawner_class, "service": c.PAMAuthenticator.service, "open_sessions": c.PAMAuthenticator.open_sessions,
    "allowed_groups": sorted(c.LocalAuthenticator.allowed_groups), "allow_existing_users": c.Authenticator.get("allow_existing_users"),
    "mem_limit": c.Spawner.mem_limit, "memory": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
    "args": list(c.Spawner.args), "notebook_dir": c.Spawner.notebook_dir,
    "readwrite": list(c.SystemdSpawner.readwrite_paths),
    "isolate_tmp": c.SystemdSpawner.isolate_tmp, "no_sudo": c.SystemdSpawner.disable_user_sudo, "extra": dict(c.SystemdSpawner.unit_extra_properties),
    "services": [s["name"] for s in c.JupyterHub.services], "unknown": unknown, "environment": dict(c.Spawner.environment),
}))`

// TestTeamHubConfiguration: the hub listens on the Jupyter port with its
// API and proxy on loopback; logins are PAM's jupyterhub service, throttled
// per name (hubLogins), no sessions, the team's group only, in JupyterHub 3
// and 5; each member's server is capped at memberMemoryMiB (SystemdSpawner's
// mem_limit becomes the unit's
// MemoryMax=, which the kernel enforces), stops itself when idle, and may
// write only its member's home and the shared folder.
func TestTeamHubConfiguration(t *testing.T) {
	python := debianJupyterPython(t)
	requireTool(t, "jupyterhub")
	dir := t.TempDir()
	files := teamJupyterFiles(t, nil, dir)
	require.Contains(t, files, "jupyterhub_config.py")
	type settings struct {
		BindURL            string            `json:"bind_url"`
		HubBindURL         string            `json:"hub_bind_url"`
		ProxyAPI           string            `json:"proxy_api"`
		Spawner            string            `json:"spawner"`
		Service            string            `json:"service"`
		OpenSessions       bool              `json:"open_sessions"`
		AllowedGroups      []string          `json:"allowed_groups"`
		AllowExistingUsers *bool             `json:"allow_existing_users"`
		MemLimit           int64             `json:"mem_limit"`
		Memory             int64             `json:"memory"`
		Args               []string          `json:"args"`
		NotebookDir        string            `json:"notebook_dir"`
		ReadWrite          []string          `json:"readwrite"`
		IsolateTmp         bool              `json:"isolate_tmp"`
		NoSudo             bool              `json:"no_sudo"`
		Extra              map[string]string `json:"extra"`
		Services           []string          `json:"services"`
		Unknown            []string          `json:"unknown"`
		PAM                bool              `json:"pam"`
		Logins             []int             `json:"logins"`
	}
	read := func(version string) settings {
		out, err := exec.Command(python, "-c", hubConfigReader, filepath.Join(dir, "jupyterhub_config.py"), version).CombinedOutput()
		require.NoError(t, err, "%s", out)
		var s settings
		require.NoError(t, json.Unmarshal(out, &s), "%s", out)
		return s
	}
	three, five := read("3.0.0"), read("5.4.0")
	for version, s := range map[string]settings{"3.0": three, "5.x": five} {
		assert.Equal(t, fmt.Sprintf("http://:%d", portJupyter.Number), s.BindURL, "%s: the hub answers on the Jupyter port", version)
		assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d", hubAPIPort), s.HubBindURL, "%s: the hub's API stays on loopback", version)
		assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d", proxyAPIPort), s.ProxyAPI, "%s: the proxy's API stays on loopback", version)
		assert.Equal(t, "systemdspawner.SystemdSpawner", s.Spawner)
		assert.True(t, s.PAM, "%s: the hub's authenticator must be PAM's", version)
		assert.Equal(t, []int{hubLogins.Failures, hubLogins.WindowSeconds}, s.Logins, "%s: the hub must throttle a name's failed logins as hubLogins says", version)
		assert.Equal(t, "jupyterhub", s.Service, "PAM's jupyterhub service (/etc/pam.d/jupyterhub, pam_unix only)")
		assert.False(t, s.OpenSessions, "no PAM sessions in the hub")
		assert.Equal(t, []string{teamGroup}, s.AllowedGroups, "%s: the team's group may log in, and no one else", version)
		assert.Equal(t, int64(defaultMemberMemoryMiB)<<20, s.MemLimit, "each member's server may use memberMemoryMiB, %d MiB", defaultMemberMemoryMiB)
		assert.Contains(t, s.Args, fmt.Sprintf("--ServerApp.shutdown_no_activity_timeout=%d", memberIdleMinutes*60), "an idle member's server stops itself")
		assert.Contains(t, s.Args, "--MappingKernelManager.cull_connected=True")
		assert.Equal(t, "~/"+memberNotebooks, s.NotebookDir)
		assert.Equal(t, "strict", s.Extra["ProtectSystem"], "a member's server may write nothing of the system")
		assert.Equal(t, []string{membersHome + "/{USERNAME}", teamSharedDir}, s.ReadWrite, "a member's server writes its home and the shared folder only")
		assert.True(t, s.IsolateTmp)
		assert.True(t, s.NoSudo)
		assert.Equal(t, "0007", s.Extra["UMask"], "what a member saves, their sync (of their group) may push")
		assert.Equal(t, []string{"research-lab-members"}, s.Services)
	}
	assert.Nil(t, three.AllowExistingUsers, "JupyterHub 3 has no allow_existing_users: it must not be set there")
	require.NotNil(t, five.AllowExistingUsers, "JupyterHub 5 must not let in users it has seen before")
	assert.False(t, *five.AllowExistingUsers)
	assert.Empty(t, three.Unknown, "JupyterHub 3's PAMAuthenticator must know every setting it is given")

	idle := teamJupyterFiles(t, map[string]string{"jupyterIdleStopMinutes": "20"}, t.TempDir())
	assert.Contains(t, idle["jupyterhub_config.py"], "--ServerApp.shutdown_no_activity_timeout=1200", "with jupyterIdleStopMinutes members' servers stop after as long")

	units, enabled := serverUnits(t, deployTeam(t, "wireguard", []string{"alice"}, nil), "HOL02-Jupyter")
	hub := units["jupyterhub.service"]
	assert.Empty(t, hub["User"], "the hub runs as root: PAM reads /etc/shadow, servers start as their members")
	assert.Contains(t, words(hub["Requires"]), imdsGuardUnit, "the hub never runs without the metadata guard")
	assert.Contains(t, words(hub["After"]), imdsGuardUnit)
	assert.Equal(t, []string{"always"}, hub["Restart"])
	assert.Subset(t, enabled, []string{imdsGuardUnit, "jupyterhub.service", "notebook-restore.service", "notebook-push-at-shutdown.service",
		"notebook-push.timer", "research-lab-members.timer", "os-update.timer"})
	assert.Subset(t, words(units["notebook-push-at-shutdown.service"]["Before"]), []string{"jupyterhub.service", membersSlice},
		"at shutdown the push runs after the hub and the members' servers have stopped")
	assert.Equal(t, "auth     required pam_unix.so\naccount  required pam_unix.so\n",
		regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(files["jupyterhub"], ""), "PAM's jupyterhub service is pam_unix only")
}

// TestServersInstallWhatTheirUnitsRun: a program a unit starts comes with the
// server's setup, not with an assumption about the image (the metadata
// guard's nft is not in every Amazon Linux 2023 image, and without it
// Jupyter and Voila never start).
func TestServersInstallWhatTheirUnitsRun(t *testing.T) {
	packages := map[string]string{"/usr/sbin/nft": "nftables", "/usr/bin/wg": "wireguard-tools", "/usr/bin/jq": "jq"}
	team := deployTeam(t, "wireguard", []string{"alice"}, map[string]string{"jupyterIdleStopMinutes": "30"})
	for _, run := range []*mockRun{deploy(t, nil), team} {
		for _, in := range run.Mocks.ofType(typeInstance) {
			ud := userDataOf(t, in)
			setup := writtenFile(t, ud, "/usr/local/sbin/research-lab-setup")
			for _, f := range parseCloudConfig(t, in.Name, ud).WriteFiles {
				if !strings.HasPrefix(f.Path, "/etc/systemd/system/") {
					continue
				}
				for program, pkg := range packages {
					if regexp.MustCompile(`(?m)^Exec\w*=[-+!@]*` + regexp.QuoteMeta(program) + `\b`).MatchString(f.Content) {
						assert.Regexp(t, `(?m)^\s*(retry )?(dnf|apt-get) .*install .*\b`+regexp.QuoteMeta(pkg)+`\b|for p in .*\b`+regexp.QuoteMeta(pkg)+`\b`, setup,
							"%s: %s runs %s, yet the setup does not install %s", in.Name, f.Path, program, pkg)
					}
				}
			}
		}
	}
}

// TestMembersTogetherCannotTakeAllTheMemory: each member's server has its own
// cap (TestTeamHubConfiguration); their slice caps them all together at the
// instance's memory but the server's own (hubOverheadMiB), which the hub
// sets at every start from the memory the instance has: the hub, the
// members' sync and the shutdown push always keep that, whatever type the
// team's size chose. The hub's command runs here against a machine of 8 GiB
// and one of 1 GiB (a /proc/meminfo of the test's, in a mount namespace).
func TestMembersTogetherCannotTakeAllTheMemory(t *testing.T) {
	requireTool(t, "unshare")
	run := deployTeam(t, "wireguard", []string{"alice", "bob"}, map[string]string{"memberMemoryMiB": "1536"})
	ud := userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter"))
	slice := unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/"+membersSlice))
	assert.Equal(t, []string{fmt.Sprintf("%d%%", membersMemoryMaxPct)}, slice["MemoryMax"], "until the hub starts, the members' slice must cap them all together")
	config := writtenFile(t, ud, "/etc/research-lab/jupyterhub_config.py")
	assert.Contains(t, config, `c.SystemdSpawner.slice = "`+membersSlice+`"`, "the members' servers must run in that slice")
	assert.Contains(t, config, "c.Spawner.mem_limit = 1536 * 1024 * 1024", "each member's server must be capped at memberMemoryMiB")

	pre := unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/jupyterhub.service"))["ExecStartPre"]
	require.Len(t, pre, 1, "jupyterhub.service must set the members' slice before it starts")
	require.True(t, strings.HasPrefix(pre[0], "+"), "setting a slice's memory needs root's powers, outside the hub's sandbox: %s", pre[0])
	command := strings.ReplaceAll(strings.TrimPrefix(pre[0], "+"), "$$", "$") // as systemd runs it
	for _, c := range []struct {
		memTotalKB int
		want       string
	}{
		{8039440, fmt.Sprintf("MemoryMax=%dM", 8039440/1024-hubOverheadMiB)}, // a t4g.large as Linux reports it
		{1000000, "MemoryMax=1536M"},                                         // too small: one member's cap
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "meminfo"), []byte(fmt.Sprintf("MemTotal:       %d kB\nMemFree:         100000 kB\n", c.memTotalKB)), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "systemctl"), []byte("#!/bin/sh\necho \"$@\" >"+filepath.Join(dir, "called")+"\n"), 0o755))
		out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount --bind "$1/meminfo" /proc/meminfo && PATH="$1:$PATH" && eval "$2"`, "sh", dir, command).CombinedOutput()
		require.NoError(t, err, "the hub's ExecStartPre failed: %s", out)
		called, err := os.ReadFile(filepath.Join(dir, "called"))
		require.NoError(t, err, "the hub's ExecStartPre did not call systemctl")
		assert.Equal(t, "set-property --runtime "+membersSlice+" "+c.want+"\n", string(called),
			"with %d kB of memory the members' slice must keep the server its %d MiB and give a member at least their cap", c.memTotalKB, hubOverheadMiB)
	}
}

// cloudInitUnits are the distribution's own boot units our early units meet:
// cloud-init's (Debian's package, the same ordering as Ubuntu 22.04's and
// Amazon Linux 2023's: cloud-init.service is After=
// systemd-networkd-wait-online.service and Before=sysinit.target) and the
// network stack between them.
var cloudInitUnits = []string{"cloud-init-local.service", "cloud-init.service", "cloud-init.target",
	"systemd-networkd.service", "systemd-networkd-wait-online.service"}

// TestServersBootTheSameEveryTime: every unit a server enables starts in one
// transaction with cloud-init's units, as at every boot after the first,
// without an ordering cycle (systemd would break it by deleting a start job:
// the VPN's NAT, the metadata guard or cloud-init itself).
func TestServersBootTheSameEveryTime(t *testing.T) {
	tool := requireTool(t, "systemd-analyze")
	for _, unit := range cloudInitUnits {
		_, err := os.Stat(filepath.Join("/lib/systemd/system", unit))
		require.NoError(t, err, "Debian's cloud-init and systemd packages provide %s", unit)
	}
	for name, units := range serversUnits(t) {
		root, _ := unitRoot(t, units)
		// A boot in one unit: what multi-user.target and cloud-init.target want.
		var wants []string
		for unit, content := range units {
			if regexp.MustCompile(`(?m)^WantedBy=`).MatchString(content) {
				wants = append(wants, unit)
			}
		}
		sort.Strings(wants)
		boot := "[Unit]\nDescription=a boot of " + name + "\nWants=" + strings.Join(append(wants, cloudInitUnits...), " ") + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(root, "etc/systemd/system/research-lab-boot.target"), []byte(boot), 0o644))
		out, _ := exec.Command(tool, "verify", "--root="+root, "research-lab-boot.target").CombinedOutput()
		assert.NotContains(t, string(out), "ordering cycle", "%s: a unit of ours is in an ordering cycle with the distribution's boot:\n%s", name, out)
	}
}

// TestEveryStartIsBounded: a oneshot unit has no start timeout unless it
// sets one (systemd.service(5), TimeoutStartSec=), so a run that hangs (a
// transfer, a lock, the network) would hold up every next one for good.
func TestEveryStartIsBounded(t *testing.T) {
	for server, units := range serversUnits(t) {
		for unit, content := range units {
			p := unitProperties(t, content)
			if strings.Join(p["Type"], "") != "oneshot" || slices.Equal(p["ExecStart"], []string{"/bin/true"}) {
				continue
			}
			timeout := strings.Join(p["TimeoutStartSec"], "")
			assert.NotContains(t, []string{"", "0", "infinity"}, timeout, "%s: %s may start for ever: it needs a TimeoutStartSec=", server, unit)
		}
	}
}
