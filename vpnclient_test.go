package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"research-lab/internal/vpncli"
)

// vpnCommand runs `go run . vpn ARGS` in-process.
func vpnCommand(args ...string) (status int, stdout, stderr string) {
	var out, errOut strings.Builder
	status = runVPN(args, &out, &errOut)
	return status, out.String(), errOut.String()
}

var keygenLine = regexp.MustCompile(`(?m)^(private|public) key +([A-Za-z0-9+/]{43}=)`)

// TestKeygenMakesKeysWireGuardAccepts: the public half keygen prints is what
// `wg pubkey` derives from its private half; the file it writes is the
// owner's alone and is never overwritten.
func TestKeygenMakesKeysWireGuardAccepts(t *testing.T) {
	wg := requireTool(t, "wg")
	for range 5 {
		status, out, errOut := vpnCommand("keygen")
		require.Equal(t, vpncli.Done, status, errOut)
		keys := map[string]string{}
		for _, m := range keygenLine.FindAllStringSubmatch(out, -1) {
			keys[m[1]] = m[2]
		}
		require.Len(t, keys, 2, "keygen must print a private and a public key, each labelled:\n%s", out)
		cmd := exec.Command(wg, "pubkey")
		cmd.Stdin = strings.NewReader(keys["private"] + "\n")
		pub, err := cmd.Output()
		require.NoError(t, err, "wg pubkey refuses keygen's private key")
		assert.Equal(t, strings.TrimSpace(string(pub)), keys["public"], "keygen's public key is not the one wg derives")
		assert.Contains(t, out, "secret", "the private key must be labelled as the secret half")
	}

	file := filepath.Join(t.TempDir(), "alice.key")
	status, out, errOut := vpnCommand("keygen", "--private-key", file)
	require.Equal(t, vpncli.Done, status, errOut)
	private, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.NotContains(t, out, strings.TrimSpace(string(private)), "with --private-key the private key goes to the file only")
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the private key file must be the owner's alone")
	cmd := exec.Command(wg, "pubkey")
	cmd.Stdin = strings.NewReader(string(private))
	pub, err := cmd.Output()
	require.NoError(t, err, "wg pubkey refuses the key file keygen wrote")
	assert.Contains(t, out, "public key   "+strings.TrimSpace(string(pub)))

	status, _, errOut = vpnCommand("keygen", "--private-key", file)
	assert.Equal(t, vpncli.Error, status, "keygen must not overwrite a key file")
	assert.Contains(t, errOut, file+" exists, and a key file is never replaced")
	again, _ := os.ReadFile(file)
	assert.Equal(t, private, again, "the existing key must be left as it was")
}

// teamOutputs writes the outputs of a WireGuard lab of alice and bob, as
// `pulumi stack output --json` prints them, and alice's private key.
func teamOutputs(t *testing.T) (dir, outputs, aliceKey string, run *mockRun) {
	t.Helper()
	run = deployTeam(t, "wireguard", []string{"alice", "bob"}, nil)
	dir = t.TempDir()
	outputs = filepath.Join(dir, "outputs.json")
	b, err := json.Marshal(run.Outputs)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(outputs, b, 0o644))
	private, _ := testMemberKeyPair(t, 0, "alice")
	aliceKey = filepath.Join(dir, "alice.key")
	require.NoError(t, os.WriteFile(aliceKey, []byte(private+"\n"), 0o600))
	return dir, outputs, aliceKey, run
}

// TestProfileIsTheMembersWireGuardConfig: the member's key and address, the
// server's key and endpoint, the lab's private networks only; a file only
// its owner reads, and the private key printed nowhere.
func TestProfileIsTheMembersWireGuardConfig(t *testing.T) {
	dir, outputs, aliceKey, run := teamOutputs(t)
	profile := filepath.Join(dir, "research-lab.conf")
	require.NoError(t, os.WriteFile(profile, []byte("an older profile"), 0o644))
	status, out, errOut := vpnCommand("profile", "--member", "alice", "--private-key", aliceKey, "--outputs", outputs, "--out", profile)
	require.Equal(t, vpncli.Done, status, errOut)

	private, _ := testMemberKeyPair(t, 0, "alice")
	_, server := testKeyPair(t, 7)
	got, err := os.ReadFile(profile)
	require.NoError(t, err)
	assert.Equal(t, "[Interface]\n"+
		"PrivateKey = "+private+"\n"+
		"Address = "+memberAddress("alice").String()+"/32\n"+
		"\n"+
		"[Peer]\n"+
		"PublicKey = "+server+"\n"+
		"Endpoint = "+run.Outputs["vpnPublicIp"].(string)+":51820\n"+
		"AllowedIPs = 10.0.2.0/24, 10.0.3.0/24\n"+
		"PersistentKeepalive = 25\n", string(got), "alice's profile")
	info, err := os.Stat(profile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the profile holds the private key: only its owner may read it, even when it replaces a readable file")
	assert.NotContains(t, out+errOut, private, "the private key must never be printed")
	assert.Contains(t, errOut, "wg-quick up "+profile)
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".research-lab-profile-*"))
	assert.Empty(t, leftovers, "no temporary copy of the profile may stay behind")
}

// TestWireGuardOutputsNameEachMembersKey: vpnClientPublicKeys holds each
// member's public key, which lets the profile check the member's private key.
func TestWireGuardOutputsNameEachMembersKey(t *testing.T) {
	run := deployTeam(t, "wireguard", []string{"alice", "bob"}, nil)
	_, alice := testMemberKeyPair(t, 0, "alice")
	_, bob := testMemberKeyPair(t, 1, "bob")
	assert.Equal(t, map[string]string{"alice": alice, "bob": bob}, run.Outputs["vpnClientPublicKeys"])
	assert.False(t, run.Secret["vpnClientPublicKeys"], "public keys are public")
}

// TestProfileQRCodeDecodesToTheProfile: what a phone scans from the
// terminal is the profile, byte for byte, with its quiet zone.
func TestProfileQRCodeDecodesToTheProfile(t *testing.T) {
	zbarimg := requireTool(t, "zbarimg")
	dir, outputs, aliceKey, _ := teamOutputs(t)
	profile := filepath.Join(dir, "alice.conf")
	status, _, errOut := vpnCommand("profile", "--member", "alice", "--private-key", aliceKey, "--outputs", outputs, "--out", profile)
	require.Equal(t, vpncli.Done, status, errOut)
	status, qr, errOut := vpnCommand("profile", "--member", "alice", "--private-key", aliceKey, "--outputs", outputs, "--qr")
	require.Equal(t, vpncli.Done, status, errOut)
	want, err := os.ReadFile(profile)
	require.NoError(t, err)

	// Back from the terminal's characters to modules: each character is two
	// rows, its upper and lower half; the block is drawn light on dark.
	lines := strings.Split(strings.TrimSuffix(regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(qr, ""), "\n"), "\n")
	halves := map[rune][2]bool{' ': {false, false}, '█': {true, true}, '▀': {true, false}, '▄': {false, true}}
	var rows [][]bool
	for _, line := range lines {
		var upper, lower []bool
		for _, r := range line {
			h, ok := halves[r]
			require.True(t, ok, "unexpected character %q in the QR code", r)
			upper, lower = append(upper, h[0]), append(lower, h[1])
		}
		rows = append(rows, upper, lower)
	}
	// A QR code is square, with an odd side: the last line's lower half is
	// the terminal's (dark) background, not a row of the code.
	width := len(rows[0])
	require.Equal(t, width+1, len(rows), "the QR code must be square")
	rows = rows[:width]
	assert.LessOrEqual(t, width, 80, "the QR code must fit an 80-column terminal")
	for i, r := range rows {
		quiet := append(append([]bool{}, r[:4]...), r[width-4:]...)
		if i < 4 || i >= width-4 {
			quiet = r
		}
		assert.NotContains(t, quiet, false, "the QR code needs a light quiet zone of 4 modules around it (row %d)", i)
	}
	// Scale each module to 4x4 pixels for the decoder; PBM's 1 is black.
	var pbm strings.Builder
	fmt.Fprintf(&pbm, "P1\n%d %d\n", width*4, len(rows)*4)
	for _, r := range rows {
		var line strings.Builder
		for _, light := range r {
			bit := "1 "
			if light {
				bit = "0 "
			}
			line.WriteString(strings.Repeat(bit, 4))
		}
		pbm.WriteString(strings.Repeat(line.String()+"\n", 4))
	}
	img := filepath.Join(dir, "qr.pbm")
	require.NoError(t, os.WriteFile(img, []byte(pbm.String()), 0o600))
	decoded, err := exec.Command(zbarimg, "--raw", "-q", img).Output()
	require.NoError(t, err, "zbarimg reads no QR code in what the terminal shows")
	assert.Equal(t, string(want)+"\n", string(decoded), "the QR code must hold the profile (zbarimg adds a newline)")
	assert.NotContains(t, qr+errOut, strings.TrimSpace(readKeyFile(t, aliceKey)), "the QR code is the only form the key takes on the terminal")
}

// TestProfilePNGDecodesToTheProfile: the PNG a member opens on a screen
// holds the profile, byte for byte, in a file only they can read.
func TestProfilePNGDecodesToTheProfile(t *testing.T) {
	zbarimg := requireTool(t, "zbarimg")
	dir, outputs, aliceKey, _ := teamOutputs(t)
	profile, png := filepath.Join(dir, "alice.conf"), filepath.Join(dir, "qr", "alice.png")
	status, _, errOut := vpnCommand("profile", "--member", "alice", "--private-key", aliceKey, "--outputs", outputs, "--out", profile, "--png", png)
	require.Equal(t, vpncli.Done, status, errOut)
	want, err := os.ReadFile(profile)
	require.NoError(t, err)
	info, err := os.Stat(png)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the PNG holds the private key: only its owner may read it")
	decoded, err := exec.Command(zbarimg, "--raw", "-q", png).Output()
	require.NoError(t, err, "zbarimg reads no QR code in the PNG")
	assert.Equal(t, string(want)+"\n", string(decoded), "the PNG must hold the profile (zbarimg adds a newline)")
	assert.Contains(t, errOut, "written as a QR code to "+png)
}

// TestMemberToolsWriteNothingUnasked: keygen and the QR code in the
// terminal leave no file behind where they run (a clone of the repository,
// say): keys and profiles go only where the member says.
func TestMemberToolsWriteNothingUnasked(t *testing.T) {
	_, outputs, aliceKey, _ := teamOutputs(t)
	here := t.TempDir()
	t.Chdir(here)
	status, _, errOut := vpnCommand("keygen")
	require.Equal(t, vpncli.Done, status, errOut)
	status, _, errOut = vpnCommand("profile", "--member", "alice", "--private-key", aliceKey, "--outputs", outputs, "--qr")
	require.Equal(t, vpncli.Done, status, errOut)
	left, err := os.ReadDir(here)
	require.NoError(t, err)
	assert.Empty(t, left, "the member's tools wrote files where they ran")
}

func readKeyFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestProfileRefusesBadInputs: each mistake a member can make is named, with
// what to do; no message quotes a private key.
func TestProfileRefusesBadInputs(t *testing.T) {
	dir, outputs, aliceKey, _ := teamOutputs(t)
	bobPrivate, _ := testMemberKeyPair(t, 1, "bob")
	bobKey := filepath.Join(dir, "bob.key")
	require.NoError(t, os.WriteFile(bobKey, []byte(bobPrivate), 0o600))
	serverPrivate, _ := testKeyPair(t, 7)
	serverKey := filepath.Join(dir, "server.key")
	require.NoError(t, os.WriteFile(serverKey, []byte(serverPrivate), 0o600))
	garbage := filepath.Join(dir, "garbage.key")
	require.NoError(t, os.WriteFile(garbage, []byte("-----BEGIN OPENSSH PRIVATE KEY----- secret-stuff"), 0o600))
	openvpn := filepath.Join(dir, "openvpn.json")
	b, err := json.Marshal(deploy(t, nil).Outputs)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(openvpn, b, 0o644))
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, []byte("{}"), 0o644))
	out := filepath.Join(dir, "p.conf")

	cases := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"unknown member", []string{"--member", "carol", "--private-key", aliceKey, "--outputs", outputs, "--out", out}, vpncli.Error,
			`"carol" is not a member of this lab; its members are alice, bob`},
		{"someone else's key", []string{"--member", "alice", "--private-key", bobKey, "--outputs", outputs, "--out", out}, vpncli.Error,
			"this private key is not alice's"},
		{"the server's key", []string{"--member", "alice", "--private-key", serverKey, "--outputs", outputs, "--out", out}, vpncli.Error,
			"this private key is the VPN server's"},
		{"not a key", []string{"--member", "alice", "--private-key", garbage, "--outputs", outputs, "--out", out}, vpncli.Error,
			garbage + " does not hold a private key: not a WireGuard key"},
		{"no key file", []string{"--member", "alice", "--private-key", filepath.Join(dir, "none.key"), "--outputs", outputs, "--out", out}, vpncli.Error,
			"reading the private key"},
		{"an OpenVPN AS lab", []string{"--member", "alice", "--private-key", aliceKey, "--outputs", openvpn, "--out", out}, vpncli.Error,
			"this lab's VPN is OpenVPN Access Server (vpn: openvpn-as), which makes no WireGuard profiles: log in at https://"},
		{"outputs of no lab", []string{"--member", "alice", "--private-key", aliceKey, "--outputs", empty, "--out", out}, vpncli.Error,
			"the outputs lack vpnClientAddresses, vpnEndpoint, vpnRoutes, vpnServerPublicKey"},
		{"no member", []string{"--private-key", aliceKey, "--outputs", outputs, "--out", out}, vpncli.Usage, "--member NAME is required"},
		{"no key", []string{"--member", "alice", "--outputs", outputs, "--out", out}, vpncli.Usage, "--private-key FILE is required"},
		{"nowhere to go", []string{"--member", "alice", "--private-key", aliceKey, "--outputs", outputs}, vpncli.Usage, "--out FILE, or --qr"},
		{"two sources", []string{"--member", "alice", "--private-key", aliceKey, "--outputs", outputs, "--stack", "dev", "--out", out}, vpncli.Usage,
			"--stack and --outputs exclude each other"},
		{"stray argument", []string{"--member", "alice", "--private-key", aliceKey, "--outputs", outputs, "--out", out, "now"}, vpncli.Usage, `unexpected argument "now"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := vpnCommand(append([]string{"profile"}, tc.args...)...)
			assert.Equal(t, tc.status, status, "%s", stderr)
			assert.Contains(t, stderr, tc.want)
			for _, secret := range []string{bobPrivate, serverPrivate, "secret-stuff", strings.TrimSpace(readKeyFile(t, aliceKey))} {
				assert.NotContains(t, stdout+stderr, secret, "a message quotes a private key")
			}
			assert.NoFileExists(t, out, "a refused profile must write nothing")
		})
	}

	status, _, stderr := vpnCommand("connect")
	assert.Equal(t, vpncli.Usage, status)
	assert.Contains(t, stderr, `unknown command "connect"`)
}
