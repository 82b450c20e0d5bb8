package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVPNPasswordReachesTheVPNOnlyThroughSSM: the password is a SecureString
// parameter, read by the VPN with a role that may read that parameter only;
// the userdata names the parameter and holds no secret.
func TestVPNPasswordReachesTheVPNOnlyThroughSSM(t *testing.T) {
	run := deploy(t, nil)
	params := run.Mocks.ofType("aws:ssm/parameter:Parameter")
	require.Len(t, params, 2, "the VPN's password and its (empty) team")
	for _, p := range params {
		assert.Equal(t, "SecureString", propString(p.Inputs, "type"), "%s must be encrypted at rest", p.Name)
		assert.True(t, p.Inputs["value"].IsSecret(), "%s's value must be a Pulumi secret in the state", p.Name)
	}
	p := one(t, run, "aws:ssm/parameter:Parameter", "vpn-admin-password")
	assert.Equal(t, testVPNPassword, propString(p.Inputs, "value"))
	assert.JSONEq(t, `{"members":[]}`, propString(one(t, run, "aws:ssm/parameter:Parameter", "vpn-members").Inputs, "value"),
		"a single-user lab has an empty team, so that its first member changes no userdata")

	vpn := one(t, run, typeInstance, "HOL02-VPN")
	env := sourcedEnv(t, writtenFile(t, userDataOf(t, vpn), "/etc/research-lab/vpn.env"))
	assert.Equal(t, propString(p.State, "name"), env["VPN_ADMIN_PASSWORD_PARAMETER"], "the VPN must read the stack's parameter")
	assert.Equal(t, "us-east-1", env["AWS_REGION"])
	deps := strings.Join(vpn.Options.GetDependencies(), " ")
	for _, need := range []string{"::HOL02-VPN-AdminPassword", "::HOL02-VPN-Profile"} {
		assert.Contains(t, deps, need, "the VPN must boot with its permission to read the password in place")
	}

	academy := deploy(t, map[string]string{"instanceProfile": "LabInstanceProfile"})
	assert.Equal(t, "LabInstanceProfile", propString(one(t, academy, typeInstance, "HOL02-VPN").Inputs, "iamInstanceProfile"),
		"with instanceProfile set the VPN reads its parameter with that profile")
	assert.Len(t, academy.Mocks.ofType("aws:ssm/parameter:Parameter"), 2)
}

// vpnRig runs the VPN's rendered setup and sync scripts with recording
// stand-ins for Access Server's sacli, the package tools (apt's and snap),
// the aws CLI (SSM answered from files), systemctl and wg. sacli's stand-in
// keeps the configuration and the users it is given, as Access Server would.
// Every file the userdata writes lies under root, at its own path, and so
// does the aws-cli snap's /snap/bin/aws: an aws found on PATH fails.
type vpnRig struct {
	t           *testing.T
	root, bin   string
	setup, sync string
	calls       string
	// The parameters' names, from the rendered env file: the VPN's secret
	// (the admin password, or the WireGuard key) and the team.
	secret, members string
}

const vpnStandIns = `
dpkg-query) if [ -e "$ROOT/installed" ]; then echo "install ok installed"; else exit 1; fi ;;
apt-get) echo "apt-get $*" >>"$ROOT/calls"; case "$*" in *install*) touch "$ROOT/installed" ;; esac ;;
curl) echo "curl $*" >>"$ROOT/calls" ;;
snap) echo "snap $*" >>"$ROOT/calls"
	case "$1" in
	list) [ -e "$ROOT/snap-installed" ] ;;
	install) touch "$ROOT/snap-installed" ;;
	esac ;;
systemctl) echo "systemctl $*" >>"$ROOT/calls" ;;
aws) echo "aws $*" >>"$ROOT/calls"
	[ -e "$ROOT/ssm-down" ] && exit 255
	while [ "$1" != --name ]; do shift; done
	param="$ROOT/params/$2"
	[ -e "$param.version" ] || exit 254
	case "$*" in
	*"--with-decryption --query Parameter.Value --output text") cat "$param.value" ;;
	*"--query Parameter.Version --output text") cat "$param.version" ;;
	*) exit 254 ;;
	esac ;;
sacli) echo "sacli $*" >>"$ROOT/calls"
	case "$*" in
	*ConfigPut) sed -i "/^$2=/d" "$ROOT/config"; echo "$2=$4" >>"$ROOT/config" ;;
	*ConfigDel) sed -i "/^$2=/d" "$ROOT/config" ;;
	*UserPropPut) mkdir -p "$ROOT/users/$2"; echo "$6" >"$ROOT/users/$2/$4" ;;
	*SetLocalPassword) mkdir -p "$ROOT/users/$2"; echo "$4" >"$ROOT/users/$2/password" ;;
	*UserPropDelAll) rm -rf "$ROOT/users/$2" ;;
	UserPropGet)
		printf '{"__DEFAULT__": {"type": "user_default"}, "Admin": {"type": "group"}'
		for u in "$ROOT"/users/*; do
			[ -e "$u/type" ] && printf ', "%s": {"type": "%s"}' "${u##*/}" "$(cat "$u/type")"
		done
		echo "}" ;;
	esac ;;
wg) echo "wg $*" >>"$ROOT/calls"
	case "$1" in
	show) [ -e "$ROOT/wg-up" ] ;;
	syncconf) cat "$3" >"$ROOT/synced" ;;
	esac ;;
wg-quick) sed '/^Address/d; /^#/d' "$2" ;;
esac
`

// newVPNRig is the rig of an OpenVPN AS lab.
func newVPNRig(t *testing.T) *vpnRig {
	t.Helper()
	ud := userDataOf(t, one(t, deploy(t, nil), typeInstance, "HOL02-VPN"))
	r := newRig(t, ud, "/etc/research-lab/vpn.env", "VPN_ADMIN_PASSWORD_PARAMETER")
	r.setParam(r.secret, testVPNPassword)
	r.setParam(r.members, `{"members":[]}`)
	return r
}

func newRig(t *testing.T, ud, envFile, secretVar string) *vpnRig {
	t.Helper()
	root := t.TempDir()
	r := &vpnRig{t: t, root: root, bin: filepath.Join(root, "bin"), calls: filepath.Join(root, "calls")}
	for _, dir := range []string{r.bin, root + "/params", root + "/etc/apt/sources.list.d"} {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "config"), nil, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "snap/bin"), 0o755))
	for _, tool := range []string{"dpkg-query", "apt-get", "curl", "snap", "systemctl", "snap/bin/aws", "sacli", "wg", "wg-quick"} {
		body := "#!/bin/bash\ncase " + filepath.Base(tool) + " in" + vpnStandIns
		dir := r.bin
		if strings.Contains(tool, "/") {
			dir = root
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, tool), []byte(body), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(r.bin, "aws"),
		[]byte("#!/bin/bash\necho \"aws found on PATH, not the snap's "+vpnAWSCLI+": $*\" >&2\nexit 127\n"), 0o755))
	moved := strings.NewReplacer("/usr/local/openvpn_as/scripts/sacli", filepath.Join(r.bin, "sacli"), "/snap/bin/", root+"/snap/bin/",
		"/usr/local/lib/research-lab/", root+"/usr/local/lib/research-lab/", "/usr/local/sbin/", root+"/usr/local/sbin/",
		"/etc/research-lab/", root+"/etc/research-lab/", "/etc/apt/", root+"/etc/apt/", "/etc/wireguard/", root+"/etc/wireguard/", "/etc/sysctl.d/", root+"/etc/sysctl.d/",
		"/var/lib/research-lab/", root+"/var/lib/research-lab/", "/var/log/research-lab/", root+"/var/log/research-lab/")
	for _, f := range parseCloudConfig(t, "vpn", ud).WriteFiles {
		path := filepath.Join(root, f.Path)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(moved.Replace(f.Content)), 0o755))
	}
	r.setup, r.sync = root+"/usr/local/sbin/research-lab-setup", root+"/usr/local/sbin/research-lab-vpn-sync"
	vars := sourcedEnv(t, writtenFile(t, ud, envFile))
	r.secret, r.members = vars[secretVar], vars["VPN_MEMBERS_PARAMETER"]
	require.NotEmpty(t, r.secret)
	require.NotEmpty(t, r.members)
	return r
}

// setParam stores a new version of an SSM parameter.
func (r *vpnRig) setParam(name, value string) {
	r.t.Helper()
	base := filepath.Join(r.root, "params", name)
	version := 1
	if b, err := os.ReadFile(base + ".version"); err == nil {
		version, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		version++
	}
	require.NoError(r.t, os.WriteFile(base+".value", []byte(value+"\n"), 0o600))
	require.NoError(r.t, os.WriteFile(base+".version", []byte(strconv.Itoa(version)+"\n"), 0o600))
}

func (r *vpnRig) exec(script string) (string, error) {
	cmd := exec.Command("/bin/bash", script)
	cmd.Env = []string{"PATH=" + r.bin + ":/usr/bin:/bin", "ROOT=" + r.root, "RETRY_MAX=1"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs the setup, as cloud-init does at first boot.
func (r *vpnRig) run() (string, error) { return r.exec(r.setup) }

// runSync runs the sync, as its timer does every minute; the calls it makes
// are recorded afresh.
func (r *vpnRig) runSync() (string, error) {
	require.NoError(r.t, os.WriteFile(r.calls, nil, 0o644))
	return r.exec(r.sync)
}

func (r *vpnRig) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.root, name))
	return string(b)
}

// password is the password Access Server holds for a user.
func (r *vpnRig) password(user string) string {
	return strings.TrimSpace(r.read("users/" + user + "/password"))
}

// canConnect: the user exists, may connect, and has this password.
func (r *vpnRig) canConnect(user, password string) bool {
	return strings.TrimSpace(r.read("users/"+user+"/type")) == "user_connect" && r.password(user) == password
}

// calledWith lists the recorded calls that contain every one of words.
func (r *vpnRig) calledWith(words ...string) []string {
	var found []string
	for _, c := range strings.Split(strings.TrimSpace(r.read("calls")), "\n") {
		all := c != ""
		for _, w := range words {
			all = all && strings.Contains(c, w)
		}
		if all {
			found = append(found, c)
		}
	}
	return found
}

// assertAWSCLIFromSnap: the setup installed AWS CLI version 2 as AWS's
// aws-cli snap, once snapd had seeded, and Ubuntu's awscli (version 1,
// from universe, which Canonical does not security-support) from apt never.
func (r *vpnRig) assertAWSCLIFromSnap() {
	r.t.Helper()
	calls := r.calledWith()
	seeded, install := slices.Index(calls, "snap wait system seed.loaded"), slices.Index(calls, "snap install aws-cli --classic --channel=v2/stable")
	assert.True(r.t, seeded >= 0 && install > seeded,
		"the setup must install the aws-cli snap on its v2 track once snapd has seeded:\n%s", strings.Join(calls, "\n"))
	for _, c := range r.calledWith("apt-get install") {
		assert.NotContains(r.t, strings.Fields(c), "awscli", "Ubuntu's awscli is version 1, not security-supported: %s", c)
	}
}

// assertNoSecretOnDisk: nothing the VPN writes holds one of the secrets;
// only Access Server's own user database (users/), SSM (params/), the
// record of the stand-ins' arguments (calls) and what syncconf was given
// (synced) may, and the files named in allowed.
func (r *vpnRig) assertNoSecretOnDisk(allowed []string, secrets ...string) {
	r.t.Helper()
	require.NoError(r.t, filepath.WalkDir(r.root, func(path string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(r.root, path)
		if err != nil || d.IsDir() || rel == "calls" || rel == "synced" || strings.HasPrefix(rel, "users/") || strings.HasPrefix(rel, "params/") ||
			slices.Contains(allowed, rel) {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, s := range secrets {
			assert.NotContains(r.t, string(b), s, "%s holds a secret", rel)
		}
		return nil
	}))
}

func TestVPNSetupAsAccessServerReceivesIt(t *testing.T) {
	r := newVPNRig(t)
	out, err := r.run()
	require.NoError(t, err, "the VPN setup failed:\n%s", out)

	config := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.read("config")), "\n") {
		k, v, _ := strings.Cut(line, "=")
		config[k] = v
	}
	eip := propString(one(t, deploy(t, nil), typeEIP, "HOL02-VPN-EIP").State, "publicIp")
	assert.Equal(t, map[string]string{
		"host.name":                            eip,
		"cs.https.port":                        "943",
		"admin_ui.https.port":                  "943",
		"vpn.server.daemon.tcp.port":           "443",
		"vpn.server.daemon.udp.port":           "1194",
		"vpn.server.routing.private_access":    "nat",
		"vpn.client.routing.reroute_gw":        "false",
		"vpn.client.routing.reroute_dns":       "false",
		"vpn.server.routing.private_network.0": "10.0.2.0/24",
		"vpn.server.routing.private_network.1": "10.0.3.0/24",
	}, config, "Access Server's configuration: host name = the Elastic IP, NAT mode, the two private networks only, client internet and DNS not rerouted")
	assert.Equal(t, testVPNPassword, r.password("openvpn"), "the admin password must be the one in SSM")

	calls := strings.Split(strings.TrimSpace(r.read("calls")), "\n")
	first := func(pattern string) int {
		for i, c := range calls {
			if strings.Contains(c, pattern) {
				return i
			}
		}
		return -1
	}
	scrub, put := first("SetLocalPassword"), first("ConfigPut")
	require.GreaterOrEqual(t, scrub, 0)
	assert.Less(t, scrub, put, "the initial password Access Server logs must be replaced before anything else is configured")
	assert.NotContains(t, calls[scrub], testVPNPassword, "the first password set is a throwaway nobody knows")
	assert.Contains(t, calls, "systemctl enable openvpnas.service")
	assert.Contains(t, calls, "systemctl enable --now research-lab-vpn-sync.timer", "the setup starts the sync's timer")
	assert.Contains(t, calls, "sacli --user openvpn --key prop_superuser --value true UserPropPut")
	assert.GreaterOrEqual(t, first("apt-get install -y -q openvpn-as"), 0, "a first run installs Access Server")
	r.assertAWSCLIFromSnap()

	// Nothing holds the password on disk: not the log, not a file of its own.
	r.assertNoSecretOnDisk(nil, testVPNPassword)

	// A second run changes nothing and installs nothing.
	before := r.read("config")
	require.NoError(t, os.WriteFile(r.calls, nil, 0o644))
	out, err = r.run()
	require.NoError(t, err, "a second run failed:\n%s", out)
	assert.Equal(t, before, r.read("config"), "running the setup again must leave Access Server's configuration as it was")
	assert.NotContains(t, r.read("calls"), "apt-get", "a second run installs nothing")
	assert.Empty(t, r.calledWith("snap install"), "a second run installs nothing")
}

// TestVPNInitialPasswordIsUselessWhenSetupFails: with SSM out of reach the
// setup fails, but the password Access Server logged is already gone.
func TestVPNInitialPasswordIsUselessWhenSetupFails(t *testing.T) {
	r := newVPNRig(t)
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "ssm-down"), nil, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(r.root, "users/openvpn"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "users/openvpn/password"), []byte("initial-from-the-log\n"), 0o644))
	out, err := r.run()
	require.Error(t, err, "the setup must fail when it cannot read the password:\n%s", out)
	got := r.password("openvpn")
	assert.NotEqual(t, "initial-from-the-log", got, "the logged initial password must be replaced even though the setup failed")
	assert.NotEqual(t, testVPNPassword, got)
	assert.GreaterOrEqual(t, len(got), 32, "the throwaway password must be long and random")
}

// TestVPNAdminPasswordRotationReachesTheVPN: a new vpnAdminPassword reaches
// the running VPN at the sync's next run, every minute; the sync reads the
// value only when the version changed, and with SSM out of reach it fails
// (the timer tries again) and changes nothing.
func TestVPNAdminPasswordRotationReachesTheVPN(t *testing.T) {
	r := newVPNRig(t)
	out, err := r.run()
	require.NoError(t, err, "the VPN setup failed:\n%s", out)
	require.Equal(t, testVPNPassword, r.password("openvpn"), "the first run applies the password")

	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.Empty(t, r.calledWith("SetLocalPassword"), "an unchanged password must not be set again")
	assert.Empty(t, r.calledWith("--with-decryption"), "an unchanged version must not read the value")
	assert.Len(t, r.calledWith("aws ssm get-parameter", "--name "+r.secret, "--query Parameter.Version"), 1, "the sync looks at the version")

	rotated := "a-new-Adm1n-pass-after-a-leak"
	r.setParam(r.secret, rotated)
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.Equal(t, rotated, r.password("openvpn"), "the new password must reach Access Server")
	assert.Len(t, r.calledWith("SetLocalPassword"), 1, "the new password is set once, for openvpn only")
	assert.Equal(t, "2\n", r.read("var/lib/research-lab/vpn-sync/admin-version"), "the state records the version applied")
	assert.NotContains(t, out, rotated, "the sync's output, which the journal keeps, must not hold the password")

	// SSM out of reach while a newer password waits: the old one stays, and
	// the unit fails, so the timer runs it again.
	r.setParam(r.secret, "yet-another-Adm1n-pass")
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "ssm-down"), nil, 0o644))
	out, err = r.runSync()
	require.Error(t, err, "the sync must fail when SSM is out of reach:\n%s", out)
	assert.Equal(t, rotated, r.password("openvpn"), "the password in place must stay while SSM is out of reach")
	assert.Empty(t, r.calledWith("sacli"), "nothing may change while SSM is out of reach")
	assert.Equal(t, "2\n", r.read("var/lib/research-lab/vpn-sync/admin-version"), "the state must still say what Access Server holds")
	require.NoError(t, os.Remove(filepath.Join(r.root, "ssm-down")))
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.Equal(t, "yet-another-Adm1n-pass", r.password("openvpn"), "once SSM answers, the waiting password is applied")
	r.assertNoSecretOnDisk(nil, testVPNPassword, rotated, "yet-another-Adm1n-pass")

	// A rerun of the setup sets a throwaway password first, then SSM's again.
	out, err = r.run()
	require.NoError(t, err, "a second setup failed:\n%s", out)
	assert.Equal(t, "yet-another-Adm1n-pass", r.password("openvpn"), "a rerun of the setup must end with the password from SSM")

	units, _ := serverUnits(t, deploy(t, nil), "HOL02-VPN")
	assert.Equal(t, []string{"minutely"}, units["research-lab-vpn-sync.timer"]["OnCalendar"], "the sync runs every minute, failed or not")
	assert.Equal(t, []string{"/usr/local/sbin/research-lab-vpn-sync"}, units["research-lab-vpn-sync.service"]["ExecStart"])
	assert.Equal(t, []string{"0077"}, units["research-lab-vpn-sync.service"]["UMask"], "what the sync writes is root's alone")
}

// vpnTeam is the member list the VPN applies (the vpn-members parameter)
// for these members and passwords.
func vpnTeam(t *testing.T, passwords map[string]string) string {
	t.Helper()
	c := &labConfig{VPN: vpnOpenVPNAS}
	for name, password := range passwords {
		c.Members = append(c.Members, member{Name: name, Password: password})
	}
	list, err := vpnMembers(c)
	require.NoError(t, err)
	return list
}

// TestVPNMembersAreAccessServerUsers: each member gets an Access Server user
// with their own password; a change touches that member only, a removed
// member's user is deleted, and users the lab did not make are never touched.
func TestVPNMembersAreAccessServerUsers(t *testing.T) {
	r := newVPNRig(t)
	// An account someone made by hand in the admin UI.
	require.NoError(t, os.MkdirAll(filepath.Join(r.root, "users/helpdesk"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "users/helpdesk/type"), []byte("user_connect\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "users/helpdesk/password"), []byte("helpdesk-pass\n"), 0o644))
	out, err := r.run()
	require.NoError(t, err, "the VPN setup failed:\n%s", out)

	team := map[string]string{"alice": testAlicePassword, "bob": testBobPassword, "carol": testCarolPassword}
	r.setParam(r.members, vpnTeam(t, team))
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	for name, password := range team {
		assert.True(t, r.canConnect(name, password), "%s must be able to connect with their own password", name)
		assert.Equal(t, "local\n", r.read("users/"+name+"/user_auth_type"), "%s logs in with a local password", name)
	}
	assert.Len(t, r.calledWith("SetLocalPassword"), 3, "three members, three passwords")

	// A new password for bob touches bob only.
	team["bob"] = "bob-New-pass-4"
	r.setParam(r.members, vpnTeam(t, team))
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.True(t, r.canConnect("bob", "bob-New-pass-4"), "bob's new password must reach Access Server")
	assert.False(t, r.canConnect("bob", testBobPassword), "bob's old password must no longer work")
	for _, c := range r.calledWith("sacli", "--user") {
		assert.Contains(t, c, "--user bob ", "changing bob's password touched another user: %s", c)
	}

	// carol leaves: her user is deleted; the others stay as they were.
	delete(team, "carol")
	r.setParam(r.members, vpnTeam(t, team))
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.False(t, r.canConnect("carol", testCarolPassword), "a removed member must not connect")
	assert.NoDirExists(t, filepath.Join(r.root, "users/carol"), "a removed member's user must be deleted")
	assert.Equal(t, []string{"sacli --user carol UserPropDelAll"}, r.calledWith("sacli", "--user"), "removing carol touches carol only")
	assert.True(t, r.canConnect("alice", testAlicePassword))
	assert.True(t, r.canConnect("bob", "bob-New-pass-4"))
	assert.True(t, r.canConnect("helpdesk", "helpdesk-pass"), "a user the lab did not make must be left alone")
	assert.True(t, r.canConnect("openvpn", testVPNPassword), "the admin must be left alone")

	// Running again changes nothing, even after the setup looked afresh.
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.Empty(t, r.calledWith("sacli"), "an unchanged team must change nothing")
	out, err = r.run()
	require.NoError(t, err, "a second setup failed:\n%s", out)
	assert.Empty(t, r.calledWith("sacli", "--user alice"), "a rerun of the setup must not set unchanged passwords again")
	assert.Empty(t, r.calledWith("sacli", "--user bob"))
	r.assertNoSecretOnDisk(nil, testAlicePassword, testBobPassword, "bob-New-pass-4", testCarolPassword)

	// A member whose name an Access Server user already has is left alone,
	// and the sync says so and fails until it is resolved; the others apply.
	team["helpdesk"] = "member-helpdesk-pass"
	team["dave"] = "dave-Secret-pass"
	r.setParam(r.members, vpnTeam(t, team))
	out, err = r.runSync()
	require.Error(t, err, "a member who clashes with a user the lab did not make must fail the sync:\n%s", out)
	assert.Contains(t, out, "helpdesk is an Access Server user the lab did not make: left as it is")
	assert.True(t, r.canConnect("helpdesk", "helpdesk-pass"), "the hand-made user must keep its password")
	assert.True(t, r.canConnect("dave", "dave-Secret-pass"), "the other members apply all the same")
	delete(team, "helpdesk")
	r.setParam(r.members, vpnTeam(t, team))
	out, err = r.runSync()
	require.NoError(t, err, "the sync failed:\n%s", out)
	assert.True(t, r.canConnect("helpdesk", "helpdesk-pass"), "a user the lab did not make is never deleted")
}
