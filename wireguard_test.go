package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"research-lab/internal/vpncli"
	"research-lab/internal/wgkey"
)

// newWireGuardRig is the rig of a WireGuard lab of alice and bob, with the
// server's key and the team in SSM as the stack puts them there.
func newWireGuardRig(t *testing.T) (*vpnRig, *mockRun) {
	t.Helper()
	run := deployTeam(t, "wireguard", []string{"alice", "bob"}, nil)
	ud := userDataOf(t, one(t, run, typeInstance, "HOL02-VPN"))
	r := newRig(t, ud, "/etc/research-lab/wireguard.env", "WG_KEY_PARAMETER")
	serverKey, _ := testKeyPair(t, 7)
	r.setParam(r.secret, serverKey)
	r.setParam(r.members, propString(one(t, run, "aws:ssm/parameter:Parameter", "vpn-members").Inputs, "value"))
	return r, run
}

// wgConf reads a WireGuard configuration: the [Interface] and each [Peer]
// as key -> value.
func wgConf(t *testing.T, text string) (iface map[string]string, peers []map[string]string) {
	t.Helper()
	var section map[string]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "[Interface]":
			require.Nil(t, iface, "one [Interface] only")
			iface = map[string]string{}
			section = iface
		case line == "[Peer]":
			section = map[string]string{}
			peers = append(peers, section)
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok && section != nil, "not a WireGuard configuration line: %q", line)
			section[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return iface, peers
}

// TestWireGuardSetupWritesWg0FromSSM: the setup installs WireGuard's tools,
// starts the forwarding, writes wg0's configuration (root's alone) from the
// key and the team in SSM, then starts wg0 and the sync's timer; the key
// reaches no other file, no log and no command line.
func TestWireGuardSetupWritesWg0FromSSM(t *testing.T) {
	r, run := newWireGuardRig(t)
	out, err := r.run()
	require.NoError(t, err, "the WireGuard setup failed:\n%s", out)

	calls := r.calledWith()
	index := func(pattern string) int {
		return slices.IndexFunc(calls, func(c string) bool { return strings.Contains(c, pattern) })
	}
	assert.Contains(t, calls, "apt-get install -y -q --no-install-recommends wireguard-tools nftables jq unattended-upgrades")
	r.assertAWSCLIFromSnap()
	nat, read, wg0 := index("enable --now research-lab-vpn-nat.service"), index("--with-decryption"), index("enable --now wg-quick@wg0.service research-lab-vpn-sync.timer")
	require.True(t, nat >= 0 && read >= 0 && wg0 >= 0, "the setup must start the forwarding, read SSM and start wg0 with the timer:\n%s", strings.Join(calls, "\n"))
	assert.Less(t, read, wg0, "wg0 starts once its configuration is written")

	conf := filepath.Join(r.root, "etc/wireguard/wg0.conf")
	info, err := os.Stat(conf)
	require.NoError(t, err, "the setup writes no wg0.conf")
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "wg0.conf holds the private key: root's alone")
	serverKey, _ := testKeyPair(t, 7)
	iface, peers := wgConf(t, r.read("etc/wireguard/wg0.conf"))
	assert.Equal(t, map[string]string{"Address": "100.96.0.1/16", "ListenPort": "51820", "PrivateKey": serverKey}, iface)
	want := []map[string]string{}
	for i, name := range []string{"alice", "bob"} {
		_, pub := testMemberKeyPair(t, i, name)
		want = append(want, map[string]string{"PublicKey": pub, "AllowedIPs": run.Outputs["vpnClientAddresses"].(map[string]string)[name] + "/32"})
	}
	assert.Equal(t, want, peers, "one peer per member: their key, their address alone")
	assert.NotContains(t, r.read("calls"), serverKey, "the key must never be on a command line")
	r.assertNoSecretOnDisk([]string{"etc/wireguard/wg0.conf"}, serverKey)

	before := r.read("etc/wireguard/wg0.conf")
	require.NoError(t, os.WriteFile(r.calls, nil, 0o644))
	out, err = r.run()
	require.NoError(t, err, "a second run failed:\n%s", out)
	assert.Empty(t, r.calledWith("apt-get"), "a second run installs nothing")
	assert.Empty(t, r.calledWith("snap install"), "a second run installs nothing")
	assert.Equal(t, before, r.read("etc/wireguard/wg0.conf"), "a second run writes the same configuration")

	tool := requireTool(t, "apt-config")
	upgrades := filepath.Join(r.root, "etc/apt/apt.conf.d/52research-lab-upgrades")
	dump, err := exec.Command(tool, "-c", upgrades, "dump").CombinedOutput()
	require.NoError(t, err, "apt-config rejects the WireGuard server's upgrade configuration:\n%s", dump)
	assert.Contains(t, string(dump), `APT::Periodic::Unattended-Upgrade "1";`, "the WireGuard server installs security updates every day")
	assert.NotContains(t, string(dump), "openvpn", "a WireGuard server takes nothing from OpenVPN's repository")
	_, size := userDataAndSize(t, one(t, run, typeInstance, "HOL02-VPN"))
	assert.Less(t, size, userDataLimit)
}

// TestWireGuardSyncAppliesOnlyWhatChanged: with wg0 up, an unchanged key
// and team read no value and change nothing; a changed team is applied
// with `wg syncconf`, given ListenPort and PrivateKey every time; a bad
// team or SSM out of reach changes nothing and fails the unit.
func TestWireGuardSyncAppliesOnlyWhatChanged(t *testing.T) {
	r, _ := newWireGuardRig(t)
	out, err := r.run()
	require.NoError(t, err, "the WireGuard setup failed:\n%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "wg-up"), nil, 0o644))

	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.Empty(t, r.calledWith("--with-decryption"), "unchanged versions must not read the values")
	assert.Empty(t, r.calledWith("wg syncconf"), "an unchanged team changes nothing")

	serverKey, _ := testKeyPair(t, 7)
	_, alice := testMemberKeyPair(t, 0, "alice")
	_, bob := testMemberKeyPair(t, 1, "bob")
	r.setParam(r.members, vpnWireGuardTeam(t, "alice"))
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	require.Len(t, r.calledWith("wg syncconf wg0"), 1, "a new team is applied to the running wg0")
	iface, peers := wgConf(t, r.read("synced"))
	assert.Equal(t, map[string]string{"ListenPort": "51820", "PrivateKey": serverKey}, iface,
		"syncconf resets what it is not given: the port and the key go with every change, and nothing wg(8) refuses")
	require.Len(t, peers, 1, "bob left")
	assert.Equal(t, alice, peers[0]["PublicKey"])
	assert.Contains(t, out, "WireGuard serves 1 members")

	applied := r.read("etc/wireguard/wg0.conf")
	bad := map[string]string{
		"a key with a line of its own":  strings.Replace(vpnWireGuardTeam(t, "alice"), alice, alice[:20]+`\n[Interface]\nListenPort = 1`, 1),
		"an address outside the tunnel": regexp.MustCompile(`"address":"[0-9.]+"`).ReplaceAllString(vpnWireGuardTeam(t, "alice"), `"address":"10.0.3.10"`),
		"the server's own address":      regexp.MustCompile(`"address":"[0-9.]+"`).ReplaceAllString(vpnWireGuardTeam(t, "alice"), `"address":"100.96.0.1"`),
		"two members with one key":      strings.Replace(vpnWireGuardTeam(t, "alice", "bob"), bob, alice, 1),
	}
	for what, list := range bad {
		r.setParam(r.members, list)
		out, err = r.runSync()
		assert.Error(t, err, "a team with %s must fail the sync:\n%s", what, out)
		assert.Contains(t, out, "nothing applied", what)
		assert.Equal(t, applied, r.read("etc/wireguard/wg0.conf"), "a team with %s must change nothing", what)
		assert.Empty(t, r.calledWith("wg syncconf"), what)
	}

	r.setParam(r.members, vpnWireGuardTeam(t, "alice", "bob"))
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "ssm-down"), nil, 0o644))
	out, err = r.runSync()
	assert.Error(t, err, "the sync must fail when SSM is out of reach:\n%s", out)
	assert.Equal(t, applied, r.read("etc/wireguard/wg0.conf"), "with SSM out of reach nothing changes")
	require.NoError(t, os.Remove(filepath.Join(r.root, "ssm-down")))
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	_, peers = wgConf(t, r.read("synced"))
	assert.Len(t, peers, 2, "once SSM answers, the team is applied")
	r.assertNoSecretOnDisk([]string{"etc/wireguard/wg0.conf"}, serverKey)
}

// vpnWireGuardTeam is the member list a WireGuard VPN applies for these
// members of teamConfig.
func vpnWireGuardTeam(t *testing.T, names ...string) string {
	t.Helper()
	index := map[string]int{"alice": 0, "bob": 1, "carol": 2}
	c := &labConfig{VPN: vpnWireGuard}
	for _, name := range names {
		_, pub := testMemberKeyPair(t, index[name], name)
		c.Members = append(c.Members, member{Name: name, WireGuardPublicKey: pub, Address: memberAddress(name)})
	}
	list, err := vpnMembers(c)
	require.NoError(t, err)
	return list
}

// answerPeers accepts connections until killed and answers each with the
// address it came from.
const answerPeers = `import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(peer[0].encode())
    c.close()`

// wgHost is a network namespace with a /run/wireguard of its own, where
// userspace WireGuard keeps its control sockets: on a machine without
// WireGuard's kernel module wg-quick falls back to wireguard-go, whose
// socket path would otherwise be shared by every namespace.
type wgHost struct {
	*netns
	anchor *exec.Cmd // holds the mount namespace
}

func newWGHost(t *testing.T, role string) *wgHost {
	t.Helper()
	ns := newNetns(t, role)
	anchor := ns.cmd("unshare", "-m", "--propagation", "private", "sh", "-c",
		"mkdir -p /run/wireguard && mount -t tmpfs -o mode=0700 none /run/wireguard && echo ready && exec sleep 600")
	stdout, err := anchor.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, anchor.Start())
	// Runs before the namespace is deleted: every process in it goes,
	// wireguard-go included, whoever started it.
	t.Cleanup(func() {
		ns.killAll()
		_ = anchor.Wait()
	})
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	require.Equal(t, "ready\n", line, "no private /run/wireguard in %s", ns.name)
	return &wgHost{ns, anchor}
}

func (h *wgHost) cmd(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(h.anchor.Process.Pid), "-m", "-n", "--"}, args...)...)
}

func (h *wgHost) must(args ...string) string {
	h.t.Helper()
	out, err := h.cmd(args...).CombinedOutput()
	require.NoError(h.t, err, "in %s: %s\n%s", h.name, strings.Join(args, " "), out)
	return string(out)
}

// answer starts answerPeers on port with cmd (which runs python3 in a
// namespace) and waits until it listens.
func answer(t *testing.T, cmd func(args ...string) *exec.Cmd, port int) {
	t.Helper()
	c := cmd("/usr/bin/python3", "-c", answerPeers, strconv.Itoa(port))
	stdout, err := c.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	require.Equal(t, "ready\n", line, "the listener on %d did not start", port)
}

// dial connects to addr:port from the namespace within timeout
// (dialConnects, dialFails) and returns the address the listener saw, or an
// error.
func (h *wgHost) dial(addr string, port int, timeout string) (string, error) {
	out, err := h.cmd("/usr/bin/python3", "-c", dial, addr, strconv.Itoa(port), timeout).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// bridged joins a namespace to the "internet", a bridge in inet.
func bridged(t *testing.T, inet *netns, h *netns, addr string) {
	t.Helper()
	links++
	a, b := fmt.Sprintf("rl%d-%da", os.Getpid()%100000, links), fmt.Sprintf("rl%d-%db", os.Getpid()%100000, links)
	out, err := exec.Command("ip", "link", "add", a, "netns", inet.name, "type", "veth", "peer", "name", b, "netns", h.name).CombinedOutput()
	require.NoError(t, err, "veth %s-%s: %s", a, b, out)
	inet.must("ip", "link", "set", a, "master", "br0")
	inet.must("ip", "link", "set", a, "up")
	h.must("ip", "addr", "add", addr, "dev", b)
	h.must("ip", "link", "set", b, "up")
	h.must("ip", "route", "add", "default", "via", "198.51.100.254")
}

// handshake is the server's latest handshake with a peer.
func handshake(t *testing.T, vpn *wgHost, peer string) string {
	t.Helper()
	for _, line := range strings.Split(vpn.must("wg", "show", "wg0", "latest-handshakes"), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok && k == peer {
			return v
		}
	}
	return ""
}

// TestWireGuardMembersReachTheLabAndOnlyThem runs the lab's WireGuard in
// network namespaces: the VPN with its rendered configuration, forwarding
// rules and sync (SSM answered from files), members with the very profiles
// `go run . vpn profile` writes, and a Research host behind a VPC router that
// knows no route to the tunnel. A member reaches Jupyter's port with the
// VPN's address; a key the team does not list reaches nothing; a member
// removed from the team is cut off at the next sync while another member's
// tunnel carries on, same handshake, no packet lost; the VPN relays nothing
// but the lab's networks, and a member's internet traffic stays out of the
// tunnel.
func TestWireGuardMembersReachTheLabAndOnlyThem(t *testing.T) {
	for _, tool := range []string{"ip", "nft", "wg", "wg-quick", "wireguard-go", "nsenter", "unshare", "ping", "jq"} {
		requireTool(t, tool)
	}
	r, run := newWireGuardRig(t)
	// The VPN runs the real wg, wg-quick and nft; only aws, which the sync
	// calls as the snap's, under root, is a stand-in.
	vpnEnv := []string{"env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "ROOT=" + r.root}

	inet := newNetns(t, "inet")
	inet.must("ip", "link", "add", "br0", "type", "bridge")
	inet.must("ip", "addr", "add", "198.51.100.254/24", "dev", "br0")
	inet.must("ip", "link", "set", "br0", "up")
	// An internet host, on a network that routes the tunnel's addresses back
	// to the VPN: were the VPN a relay, a member would reach it.
	inet.must("ip", "addr", "add", "203.0.113.80/32", "dev", "lo")
	vpn, vpc, research := newWGHost(t, "vpn"), newNetns(t, "vpc"), newWGHost(t, "res")
	alice, bob, mallory := newWGHost(t, "alice"), newWGHost(t, "bob"), newWGHost(t, "mal")
	bridged(t, inet, vpn.netns, "198.51.100.1/24")
	inet.must("ip", "route", "add", "100.96.0.0/16", "via", "198.51.100.1")
	link(t, vpn.netns, "10.0.1.10/24", vpc, "10.0.1.1/24")
	link(t, vpc, "10.0.3.1/24", research.netns, "10.0.3.10/24")
	vpn.must("ip", "route", "add", "10.0.0.0/16", "via", "10.0.1.1")
	vpc.must("sysctl", "-qw", "net.ipv4.ip_forward=1")
	research.must("ip", "route", "add", "default", "via", "10.0.3.1")
	for host, addr := range map[*wgHost]string{alice: "198.51.100.2/24", bob: "198.51.100.3/24", mallory: "198.51.100.4/24"} {
		bridged(t, inet, host.netns, addr)
	}
	answer(t, research.cmd, portJupyter.Number)
	answer(t, inet.cmd, 8080)

	// The VPN as its setup leaves it: the sync writes wg0's configuration,
	// the forwarding unit's commands run, wg-quick@wg0 brings wg0 up.
	vpn.must(append(vpnEnv, "/bin/bash", r.sync)...)
	unit := unitProperties(t, r.read("etc/systemd/system/research-lab-vpn-nat.service"))
	for _, start := range unit["ExecStart"] {
		vpn.must(strings.Fields(start)...)
	}
	vpn.must("wg-quick", "up", filepath.Join(r.root, "etc/wireguard/wg0.conf"))

	// The members, each with the profile the CLI writes; mallory holds a
	// key of her own, which the team does not list.
	outputs := map[string]any{}
	for k, v := range run.Outputs {
		outputs[k] = v
	}
	outputs["vpnEndpoint"] = "198.51.100.1:51820"
	b, err := json.Marshal(outputs)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "outputs.json"), b, 0o644))
	profiles := map[string]string{}
	for i, name := range []string{"alice", "bob"} {
		private, _ := testMemberKeyPair(t, i, name)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, name), 0o700))
		key, profile := filepath.Join(dir, name, "member.key"), filepath.Join(dir, name, "research-lab.conf")
		require.NoError(t, os.WriteFile(key, []byte(private+"\n"), 0o600))
		status, _, errOut := vpnCommand("profile", "--member", name, "--private-key", key, "--outputs", filepath.Join(dir, "outputs.json"), "--out", profile)
		require.Equal(t, vpncli.Done, status, errOut)
		profiles[name] = profile
	}
	stranger, _, err := wgkey.New()
	require.NoError(t, err)
	bobs := readKeyFile(t, profiles["bob"])
	bobKey, _ := testMemberKeyPair(t, 1, "bob")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "mallory"), 0o700))
	profiles["mallory"] = filepath.Join(dir, "mallory", "research-lab.conf")
	require.NoError(t, os.WriteFile(profiles["mallory"], []byte(strings.Replace(bobs, bobKey, stranger, 1)), 0o600))
	for host, name := range map[*wgHost]string{alice: "alice", bob: "bob", mallory: "mallory"} {
		host.must("wg-quick", "up", profiles[name])
	}

	from, err := alice.dial("10.0.3.10", portJupyter.Number, dialConnects)
	require.NoError(t, err, "alice must reach Jupyter's port through the VPN: %s\n%s", from, vpn.must("wg", "show"))
	assert.Equal(t, "10.0.1.10", from, "Jupyter must see the VPN's own address, which the Research group admits")
	from, err = bob.dial("10.0.3.10", portJupyter.Number, dialConnects)
	require.NoError(t, err, "bob must reach Jupyter's port through the VPN: %s", from)
	_, err = mallory.dial("10.0.3.10", portJupyter.Number, dialFails)
	assert.Error(t, err, "a key the team does not list must reach nothing")
	// The lab's services, not SSH through the tunnel, nor the VPN's own listeners.
	answer(t, research.cmd, portSSH.Number)
	answer(t, vpn.cmd, portSSH.Number)
	from, err = alice.dial("10.0.3.10", portSSH.Number, dialFails)
	assert.Error(t, err, "a member must not reach a lab host's SSH through the tunnel, yet it saw %q", from)
	// alice sends the VPN server's own addresses, its tunnel one and its
	// lab side, through the tunnel, as her profile would if she edited it.
	serverPublic := strings.TrimSpace(vpn.must("wg", "show", "wg0", "public-key"))
	allowed := strings.Fields(alice.must("wg", "show", "research-lab", "allowed-ips"))[1:]
	own := []string{wireguardServer.String(), "10.0.1.10"}
	alice.must("wg", "set", "research-lab", "peer", serverPublic, "allowed-ips", strings.Join(append(slices.Clone(allowed), own[0]+"/32", own[1]+"/32"), ","))
	for _, addr := range own {
		alice.must("ip", "route", "replace", addr+"/32", "dev", "research-lab")
		from, err = alice.dial(addr, portSSH.Number, dialFails)
		assert.Error(t, err, "a member must not reach the VPN server's own listeners (%s) through the tunnel, yet it saw %q", addr, from)
		alice.must("ip", "route", "del", addr+"/32", "dev", "research-lab")
	}
	alice.must("wg", "set", "research-lab", "peer", serverPublic, "allowed-ips", strings.Join(allowed, ","))

	// bob keeps pinging Jupyter's host from here to the end.
	_, bobPublic := testMemberKeyPair(t, 1, "bob")
	bobHandshake := handshake(t, vpn, bobPublic)
	require.NotEqual(t, "0", bobHandshake, "bob's tunnel is up")
	ping := bob.cmd("ping", "-n", "-i", "0.2", "-W", "1", "10.0.3.10")
	var pinged syncBuffer // read while ping writes it
	ping.Stdout, ping.Stderr = &pinged, &pinged
	require.NoError(t, ping.Start())
	t.Cleanup(func() { _ = ping.Process.Kill() })

	// The internet stays out of the tunnel, and the VPN relays only the lab.
	assert.Contains(t, alice.must("ip", "route", "get", "10.0.3.10"), "dev research-lab", "the lab's networks go through the tunnel")
	assert.NotContains(t, alice.must("ip", "route", "get", "203.0.113.80"), "dev research-lab", "a member's internet traffic must not enter the tunnel")
	alice.must("wg", "set", "research-lab", "peer", serverPublic, "allowed-ips", "10.0.2.0/24,10.0.3.0/24,203.0.113.0/24")
	alice.must("ip", "route", "add", "203.0.113.80/32", "dev", "research-lab")
	from, err = alice.dial("203.0.113.80", 8080, dialFails)
	assert.Error(t, err, "the VPN must relay a member's traffic to the lab's networks only, yet the internet saw %q", from)
	alice.must("ip", "route", "del", "203.0.113.80/32", "dev", "research-lab")

	// alice leaves the team: the next sync cuts her off.
	r.setParam(r.members, vpnWireGuardTeam(t, "bob"))
	synced := vpn.must(append(vpnEnv, "/bin/bash", r.sync)...)
	assert.Contains(t, synced, "WireGuard serves 1 members")
	from, err = alice.dial("10.0.3.10", portJupyter.Number, dialFails)
	assert.Error(t, err, "a member removed from the team must reach nothing after the sync, yet Jupyter saw %q", from)
	assert.Equal(t, "51820", strings.TrimSpace(vpn.must("wg", "show", "wg0", "listen-port")), "the sync must keep the port")
	assert.Equal(t, serverPublic, strings.TrimSpace(vpn.must("wg", "show", "wg0", "public-key")), "the sync must keep the key")

	// bob's pings are still answered after the sync, not only before it.
	replies := func() int { return strings.Count(pinged.String(), "bytes from") }
	before := replies()
	require.True(t, eventually(loadedMachine, func() bool { return replies() >= before+5 }),
		"bob's pings are no longer answered after the sync:\n%s", pinged.String())
	require.NoError(t, ping.Process.Signal(os.Interrupt))
	_ = ping.Wait()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pinged.String())
	require.NotNil(t, m, "ping said:\n%s", pinged.String())
	sent, _ := strconv.Atoi(m[1])
	received, _ := strconv.Atoi(m[2])
	assert.GreaterOrEqual(t, sent, 10, "bob pinged throughout")
	// At most the echo in flight when ping is stopped goes unanswered (a
	// busy machine can hold it past the interrupt); a reset tunnel loses
	// most of them (wg setconf: 80%), and the handshake below would change.
	assert.LessOrEqual(t, sent-received, 1, "bob's tunnel must carry on while the team changes:\n%s", pinged.String())
	assert.Equal(t, bobHandshake, handshake(t, vpn, bobPublic), "bob's session must be the same one: no new handshake")
	from, err = bob.dial("10.0.3.10", portJupyter.Number, dialConnects)
	assert.NoError(t, err, "bob still reaches Jupyter's port: %s", from)
	t.Logf("bob: %s packets sent, %s received while alice was removed", m[1], m[2])
}

// TestWireGuardEnvKeepsValuesLiteral: wireguard.env, sourced by bash as
// root, keeps whatever a value holds one literal word.
func TestWireGuardEnvKeepsValuesLiteral(t *testing.T) {
	hostile := `wg0;touch pwned $(touch pwned2) 'quoted' "double" \`
	v := baseValues(&labConfig{Region: hostile})
	v.WireGuardInterface, v.WireGuardAddress, v.WireGuardKeyParameter, v.VPNMembersParameter = hostile, hostile, hostile, hostile
	env, err := render("config/wireguard.env", v)
	require.NoError(t, err)
	got := sourcedEnv(t, env)
	for _, k := range []string{"WG_INTERFACE", "WG_ADDRESS", "WG_KEY_PARAMETER", "VPN_MEMBERS_PARAMETER", "AWS_REGION"} {
		assert.Equal(t, hostile, got[k], "wireguard.env must keep %s literal", k)
	}
}
