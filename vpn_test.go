package main

import (
	"os"
	"os/exec"
	"path/filepath"
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
	env := sourcedEnv(t, writtenFile(t, propString(vpn.Inputs, "userData"), "/etc/research-lab/vpn.env"))
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

// vpnRig runs the VPN's rendered setup script with recording stand-ins for
// Access Server's sacli, the package tools, the aws CLI and systemctl. sacli's
// stand-in keeps the configuration it is given, as Access Server would.
type vpnRig struct {
	t                  *testing.T
	root, bin, script  string
	calls, config, log string
}

const vpnStandIns = `
dpkg-query) if [ -e "$ROOT/installed" ]; then echo "install ok installed"; else exit 1; fi ;;
apt-get) echo "apt-get $*" >>"$ROOT/calls"; case "$*" in *openvpn-as*) touch "$ROOT/installed" ;; esac ;;
curl) echo "curl $*" >>"$ROOT/calls" ;;
systemctl) echo "systemctl $*" >>"$ROOT/calls" ;;
aws) echo "aws $*" >>"$ROOT/calls"
	[ -e "$ROOT/ssm-down" ] && exit 255
	case "$*" in *"ssm get-parameter"*"--name $PARAM "*"--with-decryption"*) echo "$PASSWORD" ;; *) exit 254 ;; esac ;;
sacli) echo "sacli $*" >>"$ROOT/calls"
	case "$*" in
	*ConfigPut) sed -i "/^$2=/d" "$ROOT/config"; echo "$2=$4" >>"$ROOT/config" ;;
	*ConfigDel) sed -i "/^$2=/d" "$ROOT/config" ;;
	*SetLocalPassword) echo "$4" >"$ROOT/password" ;;
	esac ;;
esac
`

func newVPNRig(t *testing.T) *vpnRig {
	t.Helper()
	run := deploy(t, nil)
	ud := propString(one(t, run, typeInstance, "HOL02-VPN").Inputs, "userData")
	root := t.TempDir()
	r := &vpnRig{t: t, root: root, bin: filepath.Join(root, "bin"), script: filepath.Join(root, "setup"),
		calls: filepath.Join(root, "calls"), config: filepath.Join(root, "config"), log: filepath.Join(root, "log", "vpn-setup.log")}
	require.NoError(t, os.MkdirAll(r.bin, 0o755))
	require.NoError(t, os.WriteFile(r.config, nil, 0o644))
	for _, tool := range []string{"dpkg-query", "apt-get", "curl", "systemctl", "aws", "sacli"} {
		body := "#!/bin/bash\ncase " + tool + " in" + vpnStandIns
		require.NoError(t, os.WriteFile(filepath.Join(r.bin, tool), []byte(body), 0o755))
	}
	common, env := filepath.Join(root, "common.sh"), filepath.Join(root, "vpn.env")
	require.NoError(t, os.WriteFile(common, []byte(writtenFile(t, ud, "/usr/local/lib/research-lab/common.sh")), 0o644))
	require.NoError(t, os.WriteFile(env, []byte(writtenFile(t, ud, "/etc/research-lab/vpn.env")), 0o644))
	script := writtenFile(t, ud, "/usr/local/sbin/research-lab-setup")
	for from, to := range map[string]string{
		"/usr/local/lib/research-lab/common.sh": common, "/etc/research-lab/vpn.env": env,
		"/usr/local/openvpn_as/scripts/sacli": filepath.Join(r.bin, "sacli"), "/var/log/research-lab/vpn-setup.log": r.log,
		"/etc/apt/": root + "/etc/apt/",
	} {
		require.Contains(t, script, from)
		script = strings.ReplaceAll(script, from, to)
	}
	require.NoError(t, os.WriteFile(r.script, []byte(script), 0o755))
	require.NoError(t, os.MkdirAll(root+"/etc/apt/sources.list.d", 0o755))
	return r
}

func (r *vpnRig) run() (string, error) {
	cmd := exec.Command("/bin/bash", r.script)
	cmd.Env = []string{"PATH=" + r.bin + ":/usr/bin:/bin", "ROOT=" + r.root, "RETRY_MAX=1",
		"PARAM=vpn-admin-password-1a2b3c4", "PASSWORD=" + testVPNPassword}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *vpnRig) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.root, name))
	return string(b)
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
	assert.Equal(t, testVPNPassword+"\n", r.read("password"), "the admin password must be the one in SSM")

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
	assert.Contains(t, calls, "sacli --user openvpn --key prop_superuser --value true UserPropPut")
	assert.GreaterOrEqual(t, first("apt-get install -y -q openvpn-as"), 0, "a first run installs Access Server")

	// Nothing holds the password on disk: not the log, not a file of its own.
	require.NoError(t, filepath.WalkDir(r.root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == filepath.Join(r.root, "password") || path == r.calls {
			return err
		}
		b, _ := os.ReadFile(path)
		assert.NotContains(t, string(b), testVPNPassword, "%s holds the admin password", path)
		return nil
	}))

	// A second run changes nothing and installs nothing.
	before := r.read("config")
	require.NoError(t, os.WriteFile(r.calls, nil, 0o644))
	out, err = r.run()
	require.NoError(t, err, "a second run failed:\n%s", out)
	assert.Equal(t, before, r.read("config"), "running the setup again must leave Access Server's configuration as it was")
	assert.NotContains(t, r.read("calls"), "apt-get", "a second run installs nothing")
}

// TestVPNInitialPasswordIsUselessWhenSetupFails: with SSM out of reach the
// setup fails, but the password Access Server logged is already gone.
func TestVPNInitialPasswordIsUselessWhenSetupFails(t *testing.T) {
	r := newVPNRig(t)
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "ssm-down"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(r.root, "password"), []byte("initial-from-the-log\n"), 0o644))
	out, err := r.run()
	require.Error(t, err, "the setup must fail when it cannot read the password:\n%s", out)
	got := r.read("password")
	assert.NotEqual(t, "initial-from-the-log\n", got, "the logged initial password must be replaced even though the setup failed")
	assert.NotEqual(t, testVPNPassword+"\n", got)
	assert.GreaterOrEqual(t, len(strings.TrimSpace(got)), 32, "the throwaway password must be long and random")
}
