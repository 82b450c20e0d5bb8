package main

// The NAT instance's forwarding, proven with the real nft and sysctl in
// network namespaces this test makes: a "research" host behind a "nat" router
// in front of an "internet" host. Addresses exist only inside them.

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	// answerPeer accepts one TCP connection and answers with the address the
	// connection came from.
	answerPeer = `import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
s.settimeout(120)
c, peer = s.accept()
c.sendall(peer[0].encode())
c.close()`
	// dial connects within a timeout (the last argument, seconds) and
	// prints what the server answered.
	dial = `import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
print(c.recv(100).decode())`
	// A dial that must connect is given what a loaded machine may take; one
	// that must not connect is given two seconds: it passes however slow
	// the machine, and a longer wait would only slow every run.
	dialConnects, dialFails = "60", "2"
)

// netns is a network namespace of the test's own.
type netns struct {
	t    *testing.T
	name string
}

func newNetns(t *testing.T, role string) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
			t.Fatal("network namespaces need root: run the tests as root, as .ci/run does")
		}
		t.Skip("network namespaces need root (.ci/run runs as root)")
	}
	// Not the pid alone: a run that dies before its cleanups (a timeout, a
	// kill) leaves its namespaces, and pids come round again (pid_max).
	name := fmt.Sprintf("rl-%s-%d-%08x", role, os.Getpid(), rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("creating network namespace %s (the test needs root): %v\n%s", name, err, out)
	}
	ns := &netns{t, name}
	t.Cleanup(func() {
		ns.killAll()
		_ = exec.Command("ip", "netns", "delete", name).Run()
	})
	ns.must("ip", "link", "set", "lo", "up")
	return ns
}

// killAll kills every process in the namespace, whoever started it, until
// none is left: one may fork while the others are killed, and a process
// left would outlive the test (and hold its command's output open).
func (ns *netns) killAll() {
	eventually(loadedMachine, func() bool {
		pids, _ := exec.Command("ip", "netns", "pids", ns.name).Output()
		for _, p := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return len(strings.Fields(string(pids))) == 0
	})
}

func (ns *netns) cmd(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

func (ns *netns) must(args ...string) string {
	ns.t.Helper()
	out, err := ns.cmd(args...).CombinedOutput()
	require.NoError(ns.t, err, "in %s: %s\n%s", ns.name, strings.Join(args, " "), out)
	return string(out)
}

var links int // veth pairs made so far, for unique interface names

// link joins two namespaces with a veth pair and addresses each end.
func link(t *testing.T, a *netns, aAddr string, b *netns, bAddr string) {
	t.Helper()
	links++
	ia, ib := fmt.Sprintf("rl%d-%da", os.Getpid()%100000, links), fmt.Sprintf("rl%d-%db", os.Getpid()%100000, links)
	out, err := exec.Command("ip", "link", "add", ia, "netns", a.name, "type", "veth", "peer", "name", ib, "netns", b.name).CombinedOutput()
	require.NoError(t, err, "veth %s-%s: %s", ia, ib, out)
	a.must("ip", "addr", "add", aAddr, "dev", ia)
	a.must("ip", "link", "set", ia, "up")
	b.must("ip", "addr", "add", bAddr, "dev", ib)
	b.must("ip", "link", "set", ib, "up")
}

// serve starts answerPeer in a namespace and waits until it listens.
func (ns *netns) serve(port int) *exec.Cmd {
	ns.t.Helper()
	cmd := ns.cmd("/usr/bin/python3", "-c", answerPeer, fmt.Sprint(port))
	stdout, err := cmd.StdoutPipe()
	require.NoError(ns.t, err)
	require.NoError(ns.t, cmd.Start())
	ns.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	require.Equal(ns.t, "ready\n", line, "the listener in %s did not start", ns.name)
	return cmd
}

// natUnitCommands are the ExecStart= lines of the NAT instance's unit, with
// the files it names replaced by their rendered contents in dir.
func natUnitCommands(t *testing.T, dir string) [][]string {
	t.Helper()
	run := deploy(t, nil)
	c := parseCloudConfig(t, "nat", userDataOf(t, one(t, run, typeInstance, "HOL02-NAT")))
	paths := map[string]string{}
	for _, f := range c.WriteFiles {
		local := filepath.Join(dir, filepath.Base(f.Path))
		require.NoError(t, os.WriteFile(local, []byte(f.Content), 0o600))
		paths[f.Path] = local
	}
	unit := unitFiles(c)["research-lab-nat.service"]
	require.NotEmpty(t, unit, "the NAT instance's userdata writes no research-lab-nat.service")
	var cmds [][]string
	for _, m := range regexp.MustCompile(`(?m)^ExecStart=(.+)$`).FindAllStringSubmatch(unit, -1) {
		args := strings.Fields(m[1])
		for i, a := range args {
			if local, ok := paths[a]; ok {
				args[i] = local
			}
		}
		cmds = append(cmds, args)
	}
	require.Len(t, cmds, 2, "the unit sets the sysctl and loads the rules")
	return cmds
}

func TestNATInstanceForwardsOnlyTheResearchSubnet(t *testing.T) {
	requireTool(t, "ip")
	requireTool(t, "nft")
	cmds := natUnitCommands(t, t.TempDir())

	research, nat, internet := newNetns(t, "res"), newNetns(t, "nat"), newNetns(t, "net")
	link(t, research, "10.0.3.10/24", nat, "10.0.3.1/24")
	link(t, nat, "198.51.100.1/24", internet, "198.51.100.2/24")
	research.must("ip", "route", "add", "default", "via", "10.0.3.1")
	// An attacker on the internet side who routes the Research range to the NAT.
	internet.must("ip", "route", "add", "10.0.3.0/24", "via", "198.51.100.1")

	// Load the rules twice, as a second boot or a rerun would.
	for range 2 {
		for _, args := range cmds {
			nat.must(args...)
		}
	}
	rules := nat.must("nft", "list", "table", "ip", "research_lab_nat")
	assert.Equal(t, 1, strings.Count(rules, "masquerade"), "loading the rules again must replace them, not add to them:\n%s", rules)
	assert.Equal(t, "net.ipv4.ip_forward = 1\n", nat.must("sysctl", "net.ipv4.ip_forward"))

	internet.serve(8080)
	out, err := research.cmd("/usr/bin/python3", "-c", dial, "198.51.100.2", "8080", dialConnects).CombinedOutput()
	require.NoError(t, err, "research -> internet must work through the NAT:\n%s\n%s", out, rules)
	assert.Equal(t, "198.51.100.1", strings.TrimSpace(string(out)), "traffic from the Research subnet must reach the internet with the NAT's address")

	research.serve(8081)
	out, err = internet.cmd("/usr/bin/python3", "-c", dial, "10.0.3.10", "8081", dialFails).CombinedOutput()
	assert.Error(t, err, "a connection opened from the internet towards the Research subnet must fail, yet it answered %q", out)
}
