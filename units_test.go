package main

import (
	"os/exec"
	"path/filepath"
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
		"HOL02-VoilaServer": {"voila.service": "voila", "notebook-pull.service": "notebook-sync",
			"imds-guard.service": root, "os-update.service": root, "voila-certificate.service": acmeUser},
		"HOL02-Jupyter": {"jupyter.service": "jupyter", "notebook-restore.service": "notebook-sync",
			"notebook-push.service": "notebook-sync", "notebook-push-at-shutdown.service": "notebook-sync",
			"imds-guard.service": root, "os-update.service": root},
		"HOL02-NAT": {"research-lab-nat.service": root, "os-update.service": root},
	}
	for server, users := range want {
		units, _ := serverUnits(t, run, server)
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
