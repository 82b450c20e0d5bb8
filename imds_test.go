package main

// What notebook code can reach: not the instance metadata service, which
// hands out the instance's credentials (with AWS Academy's LabRole, the whole
// account). Proven with the rendered guard loaded by the real nft, exactly as
// its unit loads it, into a network namespace of the test's own that holds a
// stand-in metadata service at the real addresses, and the users the real
// setup creates, in a mount namespace.

import (
	"bufio"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metadataStandIn answers every connection on port 80, over IPv4 and IPv6.
const metadataStandIn = `import socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 80))
s.listen()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"credentials")
    c.close()`

// fetchCredentials connects to the metadata service and prints its answer,
// or why it could not. The guard rejects at once; the timeout is for an
// answer that must come, on a loaded machine.
const fetchCredentials = `import socket, sys
try:
    c = socket.create_connection((sys.argv[1], 80), timeout=60)
    print(c.recv(100).decode())
except OSError as e:
    print("refused:", e)`

// guardedMachine is a server whose setup has run, in a network namespace
// with a stand-in metadata service.
func guardedMachine(t *testing.T, server string) (*machine, *netns) {
	t.Helper()
	requireTool(t, "ip")
	requireTool(t, "nft")
	m := newMachine(t, server, nil, false)
	m.setup()
	return m, metadataNamespace(t)
}

// metadataNamespace is a network namespace holding a stand-in metadata
// service at its real addresses.
func metadataNamespace(t *testing.T) *netns {
	t.Helper()
	ns := newNetns(t, "imds")
	// The namespace's own loopback holds the metadata addresses.
	ns.must("ip", "addr", "add", imdsIPv4+"/32", "dev", "lo")
	ns.must("ip", "-6", "addr", "add", imdsIPv6+"/128", "dev", "lo", "nodad")
	service := ns.cmd("/usr/bin/python3", "-c", metadataStandIn)
	stdout, err := service.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, service.Start())
	t.Cleanup(func() { _ = service.Process.Kill(); _ = service.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	require.Equal(t, "ready\n", line, "the stand-in metadata service did not start")
	return ns
}

// fetch runs fetchCredentials inside the machine, in its namespace, as a
// shell command line (asUnit, asUser) runs it.
func (m *machine) fetch(ns *netns, as func(argv ...string) string, address string) string {
	m.t.Helper()
	out, err := m.command(ns.name, as("/usr/bin/python3", "-c", fetchCredentials, address)).CombinedOutput()
	require.NoError(m.t, err, "%s", out)
	return strings.TrimSpace(string(out))
}

// loadGuard runs the guard unit's ExecStart= lines as root in the machine.
func (m *machine) loadGuard(ns *netns) {
	m.t.Helper()
	unit, ok := m.units[imdsGuardUnit]
	require.True(m.t, ok, "%s writes no %s", m.name, imdsGuardUnit)
	require.NotEmpty(m.t, unit["ExecStart"], "%s: %s starts nothing", m.name, imdsGuardUnit)
	for _, line := range unit["ExecStart"] {
		out, err := m.command(ns.name, line).CombinedOutput()
		require.NoError(m.t, err, "%s: %s: %s\n%s", m.name, imdsGuardUnit, line, out)
	}
}

func TestNotebookCodeCannotReachTheMetadataService(t *testing.T) {
	for _, c := range []struct {
		server, userCode, sync string
	}{
		{"HOL02-Jupyter", "jupyter.service", "notebook-push.service"},
		{"HOL02-VoilaServer", "voila.service", "notebook-pull.service"},
	} {
		t.Run(c.server, func(t *testing.T) {
			m, ns := guardedMachine(t, c.server)
			userCode := func(argv ...string) string { return m.asUnit(c.userCode, argv...) }
			sync := func(argv ...string) string { return m.asUnit(c.sync, argv...) }
			root := func(argv ...string) string { return asUser("", "", "", argv...) }
			addresses := []string{imdsIPv4, imdsIPv6}

			// Without the guard, the stand-in answers everyone: what follows
			// is the guard's doing.
			for _, a := range addresses {
				require.Equal(t, "credentials", m.fetch(ns, userCode, a), "the stand-in metadata service must answer at %s", a)
			}
			// Twice, as at every boot and on a rerun: loading again replaces.
			m.loadGuard(ns)
			m.loadGuard(ns)
			rules := ns.must("nft", "list", "table", "inet", "research_lab_imds")
			assert.Equal(t, 2, strings.Count(rules, "reject"), "loading the guard again must replace it:\n%s", rules)

			for _, a := range addresses {
				assert.Contains(t, m.fetch(ns, userCode, a), "refused",
					"%s: code run as %s's user must not reach the metadata service at %s:\n%s", c.server, c.userCode, a, rules)
				assert.Equal(t, "credentials", m.fetch(ns, sync, a), "%s: %s needs the instance's credentials (%s)", c.server, c.sync, a)
				assert.Equal(t, "credentials", m.fetch(ns, root, a), "%s: root's services (setup, SSM agent, cloud-init) need the metadata service (%s)", c.server, a)
			}
			// Any other user, one added later included, is refused: an allow-list.
			m.must("useradd --system --shell /sbin/nologin member2")
			member := func(argv ...string) string { return asUser("member2", "", "", argv...) }
			assert.Contains(t, m.fetch(ns, member, imdsIPv4), "refused", "%s: a user added after the guard was loaded must be refused too", c.server)
			// Amazon's DNS resolver and time service share the link-local range.
			assert.Regexp(t, regexp.MustCompile(`ip daddr `+regexp.QuoteMeta(imdsIPv4)+` `), rules, "the guard names the metadata address only")
		})
	}
}

// TestNotebookServersNeverRunUnguarded: the servers that run notebook code
// require the guard and start after it, so that if it fails to load they do
// not start at all; every boot loads it. nft resolves the user names when it
// loads the rules, so before the setup has created the sync's user the guard
// fails: closed, never open.
func TestNotebookServersNeverRunUnguarded(t *testing.T) {
	requireTool(t, "nft")
	requireTool(t, "ip")
	run := deploy(t, nil)
	for server, unit := range map[string]string{"HOL02-Jupyter": "jupyter.service", "HOL02-VoilaServer": "voila.service"} {
		m := newMachine(t, server, nil, false)
		ns := newNetns(t, "guard-"+unit)
		for _, line := range m.units[imdsGuardUnit]["ExecStart"] {
			out, err := m.command(ns.name, line).CombinedOutput()
			assert.Error(t, err, "%s: the guard must fail to load while a user it names is missing:\n%s", server, out)
		}
		_, err := ns.cmd("nft", "list", "table", "inet", "research_lab_imds").CombinedOutput()
		assert.Error(t, err, "%s: a failed load must leave no half guard", server)

		units, enabled := serverUnits(t, run, server)
		assert.Contains(t, words(units[unit]["Requires"]), imdsGuardUnit, "%s: %s must not start without the guard", server, unit)
		assert.Contains(t, words(units[unit]["After"]), imdsGuardUnit, "%s: %s must start only once the guard is loaded", server, unit)
		assert.Contains(t, enabled, imdsGuardUnit, "%s: the guard must load at every boot", server)
		guard := units[imdsGuardUnit]
		assert.Equal(t, []string{"oneshot"}, guard["Type"], "%s: the guard is active only once nft has loaded it", server)
		assert.Equal(t, []string{"yes"}, guard["RemainAfterExit"], "%s", server)
	}
}

// TestMembersCannotReachTheMetadataService: on a team's Jupyter server the
// guard refuses every member (their servers, kernels and terminals run as
// them), one who joined after it was loaded too; the sync and root reach it.
func TestMembersCannotReachTheMetadataService(t *testing.T) {
	requireTool(t, "ip")
	requireTool(t, "nft")
	requireTool(t, "jq")
	requireTool(t, "chpasswd")
	tm := newTeamMachine(t, deployTeam(t, "wireguard", []string{"alice"}, nil))
	tm.setup()
	tm.setTeam("alice")
	tm.must("/usr/local/sbin/research-lab-members")
	ns := metadataNamespace(t)
	tm.loadGuard(ns)
	tm.setTeam("alice", "bob") // bob joins after the guard was loaded
	tm.must("/usr/local/sbin/research-lab-members")
	sync := func(argv ...string) string { return tm.asUnit("notebook-push.service", argv...) }
	root := func(argv ...string) string { return asUser("", "", "", argv...) }
	for _, a := range []string{imdsIPv4, imdsIPv6} {
		for _, member := range []string{"alice", "bob"} {
			asMember := func(argv ...string) string { return asUser(member, "", "0007", argv...) }
			assert.Contains(t, tm.fetch(ns, asMember, a), "refused", "%s's code must not reach the metadata service at %s", member, a)
		}
		assert.Equal(t, "credentials", tm.fetch(ns, sync, a), "the sync needs the instance's credentials (%s)", a)
		assert.Equal(t, "credentials", tm.fetch(ns, root, a), "root's services need the metadata service (%s)", a)
	}
}
