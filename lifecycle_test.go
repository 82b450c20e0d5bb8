package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLabStateStartsAndStopsEveryInstance(t *testing.T) {
	for _, state := range []string{"running", "stopped"} {
		for _, mode := range egressModes {
			run := deploy(t, map[string]string{"labState": state, "researchEgress": mode})
			managed := map[string]string{}
			for _, s := range run.Mocks.ofType(typeState) {
				managed[nameOf(run, propString(s.Inputs, "instanceId"))] = propString(s.Inputs, "state")
			}
			want := map[string]string{}
			for _, in := range run.Mocks.ofType(typeInstance) {
				want[in.Name] = state
			}
			assert.Equal(t, want, managed, "labState %s, %s mode: every instance of the lab, and only those, must be %s", state, mode, state)
		}
	}
	// The default is running: a new lab is up.
	run := deploy(t, nil)
	for _, s := range run.Mocks.ofType(typeState) {
		assert.Equal(t, "running", propString(s.Inputs, "state"), "%s", s.Name)
	}
}

// TestPulumiRefreshesBeforeEveryUpdate: without a refresh, `pulumi up` would
// believe instances stopped outside Pulumi (AWS Academy, the idle stop) still
// run, and leave them stopped. The project file is read by the CLI's own
// loader, which also validates it against the project schema.
func TestPulumiRefreshesBeforeEveryUpdate(t *testing.T) {
	project, err := workspace.LoadProject("Pulumi.yaml")
	require.NoError(t, err, "Pulumi.yaml must be a valid project file")
	require.NotNil(t, project.Options, "Pulumi.yaml must set options")
	assert.Equal(t, "always", project.Options.Refresh, "Pulumi.yaml must set options.refresh: always")
}

func TestBudgetAlertsBeforeTheLimit(t *testing.T) {
	run := deploy(t, nil)
	assert.Empty(t, run.Mocks.ofType(typeBudget), "no budget is declared unless monthlyBudgetUsd is set")

	run = deploy(t, map[string]string{"monthlyBudgetUsd": "45.5", "budgetEmail": "teacher@example.edu"})
	budgets := run.Mocks.ofType(typeBudget)
	require.Len(t, budgets, 1)
	in := budgets[0].Inputs
	assert.Equal(t, "COST", propString(in, "budgetType"))
	assert.Equal(t, "MONTHLY", propString(in, "timeUnit"))
	assert.Equal(t, "45.50", propString(in, "limitAmount"))
	assert.Equal(t, "USD", propString(in, "limitUnit"))
	filters := propArray(in, "costFilters")
	require.Len(t, filters, 1, "the budget must count this lab only")
	assert.Equal(t, "TagKeyValue", propString(filters[0].ObjectValue(), "name"))
	// One tag value that only this lab carries (TestEveryTaggableResourceIsTagged):
	// AWS Budgets ORs the values of a filter, so a second value would widen it.
	assert.Equal(t, []string{"user:lab$organization/research-lab/dev"}, propStrings(filters[0].ObjectValue(), "values"),
		"the budget must count this lab's resources only: stack=dev alone also counts other projects' dev stacks")

	type alert struct {
		Type, Operator, ThresholdType string
		Threshold                     float64
		Emails                        []string
	}
	var got []alert
	for _, n := range propArray(in, "notifications") {
		o := n.ObjectValue()
		got = append(got, alert{propString(o, "notificationType"), propString(o, "comparisonOperator"), propString(o, "thresholdType"),
			o["threshold"].NumberValue(), propStrings(o, "subscriberEmailAddresses")})
	}
	emails := []string{"teacher@example.edu"}
	want := []alert{
		{"ACTUAL", "GREATER_THAN", "PERCENTAGE", 80, emails},
		{"ACTUAL", "GREATER_THAN", "PERCENTAGE", 100, emails},
		{"FORECASTED", "GREATER_THAN", "PERCENTAGE", 100, emails},
	}
	b, _ := json.Marshal(got)
	assert.ElementsMatch(t, want, got, "alerts at 80%% and 100%% actual and 100%% forecast, got %s", b)
}

// jupyterFiles renders Jupyter's userdata with the given changes and writes
// the files it holds into dir.
func jupyterFiles(t *testing.T, changes map[string]string, dir string) map[string]string {
	t.Helper()
	run := deploy(t, changes)
	c := parseCloudConfig(t, "jupyter", userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter")))
	return extracted(t, c, dir)
}

// TestIdleJupyterExitsByItself runs the real jupyter_server with the rendered
// configuration on loopback. faketime runs its clock 30 times faster, so the
// one-minute idle stop (checked once a minute) takes seconds, with no sleep.
func TestIdleJupyterExitsByItself(t *testing.T) {
	faketime := requireTool(t, "faketime")
	python := debianJupyterPython(t)
	dir := t.TempDir()
	files := jupyterFiles(t, map[string]string{"jupyterIdleStopMinutes": "1"}, dir)
	require.Contains(t, files, "jupyter_server_config.py")

	root := t.TempDir()
	// It stops within two of its minutes, four seconds here; the bound is a
	// loaded machine's (two minutes here, an hour of Jupyter's time).
	ctx, cancel := context.WithTimeout(context.Background(), loadedMachine)
	defer cancel()
	cmd := exec.CommandContext(ctx, faketime, "-f", "+0 x30", python, "-m", "jupyter_server",
		"--config="+filepath.Join(dir, "jupyter_server_config.py"),
		// Only where it listens and what it serves differ from the server.
		"--ServerApp.ip=127.0.0.1", fmt.Sprintf("--ServerApp.port=%d", freePort(t)), "--ServerApp.root_dir="+root,
		"--ServerApp.allow_root=True")
	cmd.Env = append(os.Environ(), "JUPYTER_RUNTIME_DIR="+t.TempDir(), "JUPYTER_DATA_DIR="+t.TempDir())
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// faketime runs Jupyter as its child: a group of their own, killed whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "Jupyter with jupyterIdleStopMinutes=1 was still running after an idle hour of its time:\n%s", logs.String())
	assert.NoError(t, err, "an idle Jupyter must exit cleanly (status 0), so that systemd does not restart it:\n%s", logs.String())
	assert.Contains(t, logs.String(), "shutting down", "Jupyter must say why it stopped")
}

// TestOnlyAnIdleExitPowersOff reads jupyter.service as systemd would: a crash
// always restarts Jupyter; with an idle stop, its clean exit does not, and the
// stop hook powers the instance off only then.
func TestOnlyAnIdleExitPowersOff(t *testing.T) {
	never := unitProperties(t, jupyterFiles(t, nil, t.TempDir())["jupyter.service"])
	assert.Equal(t, []string{"always"}, never["Restart"], "without an idle stop Jupyter always comes back")
	assert.Empty(t, never["ExecStop"], "without an idle stop nothing powers the instance off")

	files := jupyterFiles(t, map[string]string{"jupyterIdleStopMinutes": "45"}, t.TempDir())
	idle := unitProperties(t, files["jupyter.service"])
	assert.Equal(t, []string{"on-failure"}, idle["Restart"], "a crash must restart Jupyter, its clean idle exit must not")
	require.Equal(t, []string{"+/usr/local/sbin/jupyter-idle-poweroff"}, idle["ExecStop"], "the stop hook runs as root (+) to power off")
	assert.Contains(t, files["jupyter_server_config.py"], "c.ServerApp.shutdown_no_activity_timeout = 2700\n")

	hook := files["jupyter-idle-poweroff"]
	require.NotEmpty(t, hook, "the userdata must write the stop hook")
	script := filepath.Join(t.TempDir(), "hook")
	require.NoError(t, os.WriteFile(script, []byte(hook), 0o700))
	// systemctl is a recording stand-in.
	bin := t.TempDir()
	record := filepath.Join(bin, "calls")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho \"$*\" >>"+record+"\n"), 0o755))
	for _, c := range []struct {
		name, code, status, want string
	}{
		{"systemd stops a running Jupyter (shutdown, systemctl stop)", "", "", ""},
		{"Jupyter exited by itself after its idle timeout", "exited", "0", "poweroff --no-block\n"},
		{"Jupyter failed", "exited", "1", ""},
		{"Jupyter was killed", "killed", "KILL", ""},
	} {
		_ = os.Remove(record)
		cmd := exec.Command("/bin/bash", script)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "SERVICE_RESULT=success"}
		if c.code != "" {
			cmd.Env = append(cmd.Env, "EXIT_CODE="+c.code, "EXIT_STATUS="+c.status)
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", c.name, out)
		calls, _ := os.ReadFile(record)
		assert.Equal(t, c.want, string(calls), "%s: systemctl calls", c.name)
	}
}

// teamJupyterFiles renders a team's Jupyter userdata with the given changes
// and writes the files it holds into dir.
func teamJupyterFiles(t *testing.T, changes map[string]string, dir string) map[string]string {
	t.Helper()
	run := deployTeam(t, "wireguard", []string{"alice", "bob"}, changes)
	c := parseCloudConfig(t, "jupyter", userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter")))
	return extracted(t, c, dir)
}

// TestTeamPowersOffOnlyWhenNoMemberServerRan: with jupyterIdleStopMinutes
// a team's server powers off once no member's server has run for that long,
// counting from boot; never while one runs. The rendered check runs under
// faketime, once a minute as its timer does, with a systemctl stand-in that
// lists the members' server units and records the power-off.
func TestTeamPowersOffOnlyWhenNoMemberServerRan(t *testing.T) {
	faketime := requireTool(t, "faketime")
	files := teamJupyterFiles(t, map[string]string{"jupyterIdleStopMinutes": "30"}, t.TempDir())
	script := files["jupyter-team-idle"]
	require.NotEmpty(t, script, "a team's userdata with an idle stop must write the check")
	timer := unitProperties(t, files["jupyter-team-idle.timer"])
	assert.Equal(t, []string{"minutely"}, timer["OnCalendar"], "the check runs every minute")
	assert.NotContains(t, teamJupyterFiles(t, nil, t.TempDir()), "jupyter-team-idle", "without jupyterIdleStopMinutes nothing powers the instance off")

	dir := t.TempDir()
	path := filepath.Join(dir, "jupyter-team-idle")
	require.NoError(t, os.WriteFile(path, []byte(script), 0o700))
	bin, runtime := t.TempDir(), t.TempDir() // /run: empty at every boot
	running := filepath.Join(dir, "running")
	record := filepath.Join(dir, "calls")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "systemctl"), []byte(`#!/bin/sh
case "$1" in
list-units) [ -s `+running+` ] && cat `+running+` ;;
*) echo "$*" >>`+record+` ;;
esac
exit 0
`), 0o755))
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	check := func(minute int, servers string) string {
		t.Helper()
		require.NoError(t, os.WriteFile(running, []byte(servers), 0o644))
		at := start.Add(time.Duration(minute) * time.Minute).Format("2006-01-02 15:04:05")
		cmd := exec.Command(faketime, "-f", at, "/bin/bash", path) // a clock that stands still at that time
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "RUNTIME_DIRECTORY=" + runtime}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "minute %d: %s", minute, out)
		calls, _ := os.ReadFile(record)
		return string(calls)
	}
	alice := "jupyter-alice-singleuser.service loaded active running /bin/bash -c ...\n"
	// Boot at minute 0: nobody logs in for 29 minutes, then alice works until minute 70.
	for minute := 0; minute < 30; minute++ {
		assert.Empty(t, check(minute, ""), "minute %d after boot: members have 30 minutes to log in", minute)
	}
	for minute := 30; minute <= 70; minute++ {
		assert.Empty(t, check(minute, alice), "minute %d: a member's server runs", minute)
	}
	for minute := 71; minute < 100; minute++ {
		assert.Empty(t, check(minute, ""), "minute %d: alice's server stopped at minute 70, less than 30 minutes ago", minute)
	}
	assert.Equal(t, "poweroff --no-block\n", check(100, ""), "30 minutes without a member's server: power off")
}
