package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"research-lab/internal/wgkey"
)

// testKeyPair is a fixed WireGuard key pair for tests.
func testKeyPair(t *testing.T, seed byte) (private, public string) {
	t.Helper()
	private, public, err := wgkey.FromBytes(bytes.Repeat([]byte{seed}, wgkey.Len))
	require.NoError(t, err)
	return private, public
}

// testMemberKeyPair is the key pair of the i-th member of teamConfig.
func testMemberKeyPair(t *testing.T, i int, name string) (private, public string) {
	return testKeyPair(t, byte(10+i+int(name[0])))
}

const (
	testAlicePassword = "alice-Secret-pass"
	testBobPassword   = "bob-Secret-pass-2"
	testCarolPassword = "carol-Secret-pass-3"
)

// teamConfig is a WireGuard team lab of the given members (name -> key
// seed), with the changes applied; members' passwords come from
// testMemberPasswords.
func teamConfig(t *testing.T, vpn string, names []string, changes map[string]string) (map[string]string, []string) {
	t.Helper()
	passwords := map[string]string{"alice": testAlicePassword, "bob": testBobPassword, "carol": testCarolPassword}
	var members []map[string]string
	for i, n := range names {
		password, ok := passwords[n]
		if !ok {
			password = n + "-Secret-pass"
		}
		m := map[string]string{"name": n, "password": password}
		if vpn == string(vpnWireGuard) {
			_, m["wireguardPublicKey"] = testMemberKeyPair(t, i, n)
		}
		members = append(members, m)
	}
	b, err := json.Marshal(members)
	require.NoError(t, err)
	all := map[string]string{"vpn": vpn, "members": string(b), "jupyterPassword": "-"}
	if vpn == string(vpnWireGuard) {
		all["wireguardPrivateKey"], _ = testKeyPair(t, 7)
		all["vpnAdminPassword"] = "-"
	}
	for k, v := range changes {
		all[k] = v
	}
	secrets := append([]string{"research-lab:members", "research-lab:wireguardPrivateKey"}, secretKeys...)
	return stackConfig(all), secrets
}

func deployTeam(t *testing.T, vpn string, names []string, changes map[string]string) *mockRun {
	t.Helper()
	cfg, secrets := teamConfig(t, vpn, names, changes)
	run, err := runUnderMocks("dev", cfg, secrets)
	require.NoError(t, err, "a valid team configuration must deploy")
	return run
}

// TestBadMembersAreRefusedBeforeAnyResource: each bad entry is named, with
// what is wrong, and nothing is declared; no error echoes a password.
func TestBadMembersAreRefusedBeforeAnyResource(t *testing.T) {
	_, alicePub := testKeyPair(t, 21)
	_, serverPub := testKeyPair(t, 7)
	cases := []struct {
		name, members, vpn, want string
	}{
		{"not a list", `{"name":"alice"}`, "openvpn-as", "research-lab:members must be a list of members"},
		{"bad name", `[{"name":"Alice","password":"` + testAlicePassword + `"}]`, "openvpn-as", "research-lab:members[0] (Alice): a name is 1 to 32 lowercase letters"},
		{"name with a space", `[{"name":"al ice","password":"` + testAlicePassword + `"}]`, "openvpn-as", "members[0] (al ice): a name is"},
		{"reserved name", `[{"name":"root","password":"` + testAlicePassword + `"}]`, "openvpn-as", `members[0] (root): "root" is taken`},
		{"the shared folder", `[{"name":"shared","password":"` + testAlicePassword + `"}]`, "openvpn-as", `members[0] (shared): "shared" is taken`},
		{"a group of the image", `[{"name":"video","password":"` + testAlicePassword + `"}]`, "openvpn-as", `members[0] (video): "video" is taken`},
		{"the hub proxy's folder", `[{"name":"hub-proxy","password":"` + testAlicePassword + `"}]`, "openvpn-as", `members[0] (hub-proxy): "hub-proxy" is taken`},
		{"a systemd user", `[{"name":"systemd-network","password":"` + testAlicePassword + `"}]`, "openvpn-as", `members[0] (systemd-network): "systemd-network" is taken`},
		{"a password too long in bytes", `[{"name":"alice","password":"` + strings.Repeat("€", 60) + `"}]`, "openvpn-as", "members[0] (alice): the password is 60 characters (180 bytes) long: at most 64 characters, 128 bytes"},
		{"duplicate name", `[{"name":"alice","password":"` + testAlicePassword + `"},{"name":"alice","password":"` + testBobPassword + `"}]`, "openvpn-as",
			"members[1] (alice): the name is also members[0]'s"},
		{"short password", `[{"name":"alice","password":"short-pass"}]`, "openvpn-as", "members[0] (alice): the password is 10 characters long: a password needs at least 12"},
		{"no password", `[{"name":"alice"}]`, "openvpn-as", "members[0] (alice): no password: set it with `pulumi config set --secret --path 'members[0].password'`"},
		{"misspelt field", `[{"name":"alice","pasword":"x"}]`, "openvpn-as", `members[0]: unknown field "pasword": a member has name, password and wireguardPublicKey`},
		{"a list of names", `["alice","bob"]`, "openvpn-as", "members must be a list of members, each with a name and a secret password (and with vpn: wireguard a wireguardPublicKey), not a list of names; in the stack file:\n    research-lab:members:\n      - name: alice\n"},
		{"a name that YAML reads as a number", `[{"name":2024,"password":"x"}]`, "openvpn-as", "members[0]: name must be text (in quotes if YAML reads it as a number or a boolean)"},
		{"no key with wireguard", `[{"name":"alice","password":"` + testAlicePassword + `"}]`, "wireguard", "members[0] (alice): no wireguardPublicKey: the member runs `go run ./cmd/lab-vpn keygen`"},
		{"key not base64", `[{"name":"alice","password":"` + testAlicePassword + `","wireguardPublicKey":"not a key"}]`, "wireguard", "members[0] (alice): wireguardPublicKey: not a WireGuard key"},
		{"key too short", `[{"name":"alice","password":"` + testAlicePassword + `","wireguardPublicKey":"AAAA"}]`, "wireguard", "members[0] (alice): wireguardPublicKey: not a WireGuard key"},
		{"key not canonical", `[{"name":"alice","password":"` + testAlicePassword + `","wireguardPublicKey":"` + alicePub[:42] + `B="}]`, "wireguard", "members[0] (alice): wireguardPublicKey: not a WireGuard key"},
		{"key all zero", `[{"name":"alice","password":"` + testAlicePassword + `","wireguardPublicKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]`, "wireguard", "members[0] (alice): wireguardPublicKey: a low-order point"},
		{"the server's key", `[{"name":"alice","password":"` + testAlicePassword + `","wireguardPublicKey":"` + serverPub + `"}]`, "wireguard", "members[0] (alice): wireguardPublicKey is the VPN server's own key"},
		{"shared key", `[{"name":"alice","password":"` + testAlicePassword + `","wireguardPublicKey":"` + alicePub + `"},{"name":"bob","password":"` + testBobPassword + `","wireguardPublicKey":"` + alicePub + `"}]`,
			"wireguard", "members[1] (bob): wireguardPublicKey is also members[0]'s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, secrets := teamConfig(t, tc.vpn, nil, map[string]string{"members": tc.members})
			run, err := runUnderMocks("dev", cfg, secrets)
			require.Error(t, err, "members %s must be refused", tc.members)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, run.Mocks.all(), "a bad member must declare nothing")
			for _, p := range []string{testAlicePassword, testBobPassword, "short-pass"} {
				assert.NotContains(t, err.Error(), p, "errors must not echo a member's password")
			}
		})
	}
}

// TestMemberPasswordsMustBeSecrets: a member list whose passwords were set
// in plain text is refused (the engine says which keys are secret).
func TestMemberPasswordsMustBeSecrets(t *testing.T) {
	cfg, _ := teamConfig(t, "openvpn-as", []string{"alice"}, nil)
	run, err := runUnderMocks("dev", cfg, secretKeys)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "research-lab:members holds passwords in plain text: set each with `pulumi config set --secret --path 'members[N].password'`")
	assert.Empty(t, run.Mocks.all())
}

// TestTeamNeedsNoJupyterPassword: a team logs in with the members'
// passwords; a WireGuard lab needs no admin password. Secrets a lab does not
// use are warnings, those it needs and lacks errors.
func TestTeamNeedsNoJupyterPassword(t *testing.T) {
	run := deployTeam(t, "wireguard", []string{"alice"}, nil)
	assert.NotNil(t, run.Infra)
	run = deployTeam(t, "wireguard", []string{"alice"}, map[string]string{"jupyterPassword": testJupyterPass})
	assert.Contains(t, run.Infra.Config.Warnings, "research-lab:jupyterPassword is set but not used by this lab (Jupyter login password of a single-user lab (stored only hashed on the instance))")

	cfg, secrets := teamConfig(t, "wireguard", []string{"alice"}, map[string]string{"wireguardPrivateKey": "-"})
	_, err := runUnderMocks("dev", cfg, secrets)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "research-lab:wireguardPrivateKey is missing: set it with `pulumi config set --secret wireguardPrivateKey`")
}

// TestWireGuardOpensOnlyItsPort: with vpn: wireguard the DMZ group admits
// WireGuard's UDP port from anywhere and SSH from adminCidrs, nothing else;
// the rules from the DMZ group into the other tiers are unchanged (clients
// are masqueraded as the VPN's address).
func TestWireGuardOpensOnlyItsPort(t *testing.T) {
	run := deployTeam(t, "wireguard", []string{"alice", "bob"}, nil)
	want := []string{
		"HOL02-DMZ-SG: 22/tcp from 0.0.0.0/0",
		"HOL02-DMZ-SG: 51820/udp from 0.0.0.0/0",
		"HOL02-NAT-SG: all from 10.0.3.0/24",
		"HOL02-Production-SG: 22/tcp from sg HOL02-DMZ-SG",
		"HOL02-Production-SG: 443/tcp from 0.0.0.0/0",
		"HOL02-Production-SG: 80/tcp from 0.0.0.0/0",
		"HOL02-Research-SG: 22/tcp from sg HOL02-DMZ-SG",
		"HOL02-Research-SG: 8888/tcp from sg HOL02-DMZ-SG",
	}
	assert.Equal(t, want, ruleSet(run), "the WireGuard lab's inbound rules")
	assert.Equal(t, "t4g.nano", propString(one(t, run, typeInstance, "HOL02-VPN").Inputs, "instanceType"), "WireGuard runs on the smallest Graviton type")
	assert.Equal(t, "WireGuard: its UDP port from anywhere, SSH from adminCidrs", propString(one(t, run, typeSG, "HOL02-DMZ-SG").Inputs, "description"))
	openvpn := deployTeam(t, "openvpn-as", []string{"alice"}, nil)
	assert.Equal(t, "OpenVPN Access Server: VPN from anywhere, SSH from adminCidrs", propString(one(t, openvpn, typeSG, "HOL02-DMZ-SG").Inputs, "description"),
		"the OpenVPN group keeps its description: a new one replaces the group")
}

// TestWireGuardOutputsLetMembersMakeTheirProfiles: the server's public key,
// the endpoint, each member's address and the routes; never a private key.
func TestWireGuardOutputsLetMembersMakeTheirProfiles(t *testing.T) {
	run := deployTeam(t, "wireguard", []string{"alice", "bob"}, nil)
	_, serverPub := testKeyPair(t, 7)
	assert.Equal(t, serverPub, run.Outputs["vpnServerPublicKey"])
	assert.Equal(t, run.Outputs["vpnPublicIp"].(string)+":51820", run.Outputs["vpnEndpoint"])
	assert.Equal(t, []string{"10.0.2.0/24", "10.0.3.0/24"}, run.Outputs["vpnRoutes"], "members route the lab's private subnets through the tunnel, nothing else")
	addrs := run.Outputs["vpnClientAddresses"].(map[string]string)
	assert.Equal(t, memberAddress("alice").String(), addrs["alice"])
	assert.Equal(t, memberAddress("bob").String(), addrs["bob"])
	assert.NotContains(t, run.Outputs, "vpnAdminUrl", "WireGuard has no Access Server UI")
	serverPriv, _ := testKeyPair(t, 7)
	for k, v := range run.Outputs {
		s := fmt.Sprint(v)
		for _, secret := range []string{serverPriv, testAlicePassword, testBobPassword} {
			assert.NotContains(t, s, secret, "output %s holds a secret", k)
		}
	}
}

// TestMembersComeAndGoWithoutNewUserdata: adding or removing a member
// changes only the member parameters, never an instance's userdata.
func TestMembersComeAndGoWithoutNewUserdata(t *testing.T) {
	for _, vpn := range []string{"openvpn-as", "wireguard"} {
		userdata := func(run *mockRun) map[string]string {
			m := map[string]string{}
			for _, in := range run.Mocks.ofType(typeInstance) {
				m[in.Name] = userDataOf(t, in)
			}
			return m
		}
		params := func(run *mockRun) map[string]string {
			m := map[string]string{}
			for _, p := range run.Mocks.ofType("aws:ssm/parameter:Parameter") {
				m[p.Name] = propString(p.Inputs, "value")
			}
			return m
		}
		two := deployTeam(t, vpn, []string{"alice", "bob"}, nil)
		three := deployTeam(t, vpn, []string{"alice", "bob", "carol"}, nil)
		one := deployTeam(t, vpn, []string{"bob"}, nil)
		assert.Equal(t, userdata(two), userdata(three), "%s: adding a member changed an instance's userdata", vpn)
		assert.Equal(t, userdata(two), userdata(one), "%s: removing a member changed an instance's userdata", vpn)
		assert.NotEqual(t, params(two)["vpn-members"], params(three)["vpn-members"], "%s: the new member must reach the VPN", vpn)
		assert.NotEqual(t, params(two)["jupyter-members"], params(three)["jupyter-members"], "%s: the new member must reach Jupyter", vpn)
	}
}

// TestMembersKeepTheirVPNAddresses: a member's address depends on their
// name alone, so others coming and going never move it.
func TestMembersKeepTheirVPNAddresses(t *testing.T) {
	addrs := func(run *mockRun) map[string]string { return run.Outputs["vpnClientAddresses"].(map[string]string) }
	all := addrs(deployTeam(t, "wireguard", []string{"alice", "bob", "carol"}, nil))
	without := addrs(deployTeam(t, "wireguard", []string{"carol", "alice"}, nil))
	assert.Equal(t, all["alice"], without["alice"])
	assert.Equal(t, all["carol"], without["carol"])
	for name, a := range all {
		assert.True(t, wireguardNetwork.Contains(mustAddr(t, a)), "%s's address %s lies outside the tunnel network", name, a)
		assert.NotEqual(t, wireguardServer.String(), a, "%s has the server's address", name)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	require.NoError(t, err)
	return a
}

// TestNoMemberSecretInUserdataOrPlainInputs: member passwords and the
// WireGuard private key reach the servers only through SSM parameters, as
// Pulumi secrets; Jupyter's parameter holds hashes, not passwords.
func TestNoMemberSecretInUserdataOrPlainInputs(t *testing.T) {
	for _, vpn := range []string{"openvpn-as", "wireguard"} {
		run := deployTeam(t, vpn, []string{"alice", "bob"}, nil)
		serverPriv, _ := testKeyPair(t, 7)
		secrets := []string{testAlicePassword, testBobPassword, serverPriv}
		for _, r := range run.Mocks.all() {
			for k, v := range r.Inputs {
				if v.IsSecret() {
					continue
				}
				for _, s := range secrets {
					assert.NotContains(t, fmt.Sprint(v.V), s, "%s %s input %s holds a secret in plain text", vpn, r.Name, k)
				}
			}
			if r.Type == typeInstance {
				// Userdata is compressed (and Jupyter's a Pulumi secret): read
				// it as cloud-init does, secret or not.
				ud := userDataOf(t, r)
				require.True(t, strings.HasPrefix(ud, "#cloud-config"), "%s %s userdata", vpn, r.Name)
				for _, s := range append(secrets, base64.StdEncoding.EncodeToString([]byte(testAlicePassword))) {
					assert.NotContains(t, ud, s, "%s %s userdata holds a secret", vpn, r.Name)
				}
			}
		}
		hashes := propString(one(t, run, "aws:ssm/parameter:Parameter", "jupyter-members").Inputs, "value")
		assert.NotContains(t, hashes, testAlicePassword, "Jupyter's team parameter must hold hashes only")
		assert.Contains(t, hashes, `"passwordHash":"$6$rounds=100000$`)
	}
}

// TestMemberListsFitTheirParameters: the largest team the configuration
// accepts (100 members, the longest names, the passwords JSON lengthens
// most) splits into standard SSM parameters, every one at most 4 KiB, that
// carry every member; only a member too long for a parameter of their own
// would not fit, and the check says so.
func TestMemberListsFitTheirParameters(t *testing.T) {
	// The longest passwords the configuration accepts, with what JSON
	// escapes: 64 control characters (6 bytes each as \u0001), and 3-byte
	// runes with quotes.
	longest := []string{strings.Repeat("\x01", maxMemberPasswordLen), strings.Repeat("€", (2*maxMemberPasswordLen-4)/3) + `"\"\`}
	for _, p := range longest {
		cfg := &labConfig{}
		require.NoError(t, parseMembers(cfg, `[{"name":"alice","password":`+string(must(json.Marshal(p)))+`}]`), "the configuration must accept the password %q", p)
	}
	for _, vpn := range []vpnKind{vpnOpenVPNAS, vpnWireGuard} {
		c := &labConfig{VPN: vpn}
		for i := range maxMembers {
			name := fmt.Sprintf("m%03d", i) + strings.Repeat("x", 28)
			_, pub := testKeyPair(t, byte(100+i))
			c.Members = append(c.Members, member{Name: name, Password: longest[i%2], WireGuardPublicKey: pub, Address: memberAddress(name)})
		}
		assert.Empty(t, checkMemberListSizes(c), "%s: the largest team the configuration accepts must fit", vpn)
		vpnList, err := vpnMembers(c)
		require.NoError(t, err)
		hashes, err := jupyterMembersSized(c)
		require.NoError(t, err)
		// The stand-ins are as long as the real hashes (whose rounds take
		// time: two members show it), so the parts are counted from them.
		pair := &labConfig{VPN: vpn, Members: c.Members[:2]}
		real, err := jupyterMembers(pair, "research-lab/a-rather-long-stack-name/"+strings.Repeat("b", 63))
		require.NoError(t, err)
		sized, err := jupyterMembersSized(pair)
		require.NoError(t, err)
		assert.Len(t, sized, len(real), "the stand-in hashes must be as long as the real ones: the parts are counted from them")
		for server, list := range map[string]string{"VPN": vpnList, "Jupyter": hashes} {
			parts, err := memberParts(list)
			require.NoError(t, err)
			var joined []json.RawMessage
			for i, p := range parts {
				assert.LessOrEqual(t, len(p), maxParameterBytes, "%s %s part %d is %d bytes", vpn, server, i+1, len(p))
				var part struct{ Members []json.RawMessage }
				require.NoError(t, json.Unmarshal([]byte(p), &part), "%s %s part %d is no member list", vpn, server, i+1)
				joined = append(joined, part.Members...)
			}
			var whole struct{ Members []json.RawMessage }
			require.NoError(t, json.Unmarshal([]byte(list), &whole))
			assert.Equal(t, whole.Members, joined, "%s %s: the parts must carry the list, every member once, in order", vpn, server)
			t.Logf("%s: %s list %d bytes in %d parts", vpn, server, len(list), len(parts))
		}

		if vpn != vpnOpenVPNAS {
			continue // the list that holds passwords
		}
		// A member too long for a parameter of their own does not fit.
		c.Members[0].Password = strings.Repeat("\x01", maxParameterBytes/6+1)
		errs := checkMemberListSizes(c)
		require.NotEmpty(t, errs, "%s: a member over 4 KiB must be refused", vpn)
		assert.Contains(t, errs[len(errs)-1].Error(), "bytes of the member list, and a parameter holds 4082: a shorter password")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestSHA512CryptMatchesGlibc: the members' hashes are what glibc's crypt,
// and so PAM, computes for the same password and salt.
func TestSHA512CryptMatchesGlibc(t *testing.T) {
	python := debianJupyterPython(t)
	for _, tc := range []struct {
		password, salt string
		rounds         int
	}{
		{"alice-Secret-pass", "saltsaltsaltsalt", memberHashRounds},
		{"p", "s", 5000},
		{strings.Repeat("long password ", 9), "0123456789abcdef", 1000},
		{"ünïcödé password", "./AZaz09", 4321},
	} {
		script := fmt.Sprintf(`import crypt, sys; sys.stdout.write(crypt.crypt(%q, "$6$rounds=%d$%s$"))`, tc.password, tc.rounds, tc.salt)
		out, err := exec.Command(python, "-W", "ignore", "-c", script).Output()
		require.NoError(t, err)
		assert.Equal(t, string(out), sha512Crypt(tc.password, tc.salt, tc.rounds), "SHA-512 crypt of %q", tc.password)
	}
}

// TestPrivateLookingMemberKeyWarns: a member's key with the pattern of a
// private key plans, with a warning that names the member and the fix (a
// public key has that pattern once in 16, so it cannot be refused).
func TestPrivateLookingMemberKeyWarns(t *testing.T) {
	alicePrivate, alicePublic := testKeyPair(t, 21)
	require.False(t, wgkey.LooksPrivate(alicePublic), "the fixture's public key must not look private")
	warnings := func(key string) []string {
		cfg, secrets := teamConfig(t, "wireguard", nil, map[string]string{
			"members": `[{"name":"alice","password":"` + testAlicePassword + `","wireguardPublicKey":"` + key + `"}]`})
		run, err := runUnderMocks("dev", cfg, secrets)
		require.NoError(t, err, "a key that looks private still plans")
		var found []string
		for _, w := range run.Infra.Config.Warnings {
			if strings.Contains(w, "looks like a private key") {
				found = append(found, w)
			}
		}
		return found
	}
	found := warnings(alicePrivate)
	require.Len(t, found, 1, "a private key as alice's public key must warn, once")
	assert.Contains(t, found[0], "research-lab:members: alice's wireguardPublicKey looks like a private key", "the warning names the member and the key")
	assert.Contains(t, found[0], "alice makes a new pair and gives you the public half, which `wg pubkey < key` prints from the key file", "the warning says the fix")
	assert.Empty(t, warnings(alicePublic), "alice's real public key must not warn")
}
