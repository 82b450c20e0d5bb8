package main

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// writtenFile is the content a cloud-config writes to path.
func writtenFile(t *testing.T, userData, path string) string {
	t.Helper()
	for _, f := range parseCloudConfig(t, path, userData).WriteFiles {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("the userdata writes no %s", path)
	return ""
}

// sourcedEnv sources an env file with bash, as the servers' scripts do, and
// returns the variables it sets.
func sourcedEnv(t *testing.T, content string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "file.env")
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
	cmd := exec.Command("/bin/bash", "-c", `set -euo pipefail; before=$(compgen -v); . "$1"; for v in $(compgen -v); do grep -qx "$v" <<<"$before" || printf '%s=%s\0' "$v" "${!v}"; done`, "bash", file)
	cmd.Dir = dir
	out, err := cmd.Output()
	require.NoError(t, err, "bash cannot source:\n%s", content)
	vars := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		if k != "before" && k != "v" {
			vars[k] = v
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "sourcing the env file ran a command that made a file")
	return vars
}

// TestNoValueTurnsIntoCode renders the env files with hostile values, which
// validation refuses today but quoting must stop on its own.
func TestNoValueTurnsIntoCode(t *testing.T) {
	hostile := `us-east-1;touch pwned $(touch pwned2) 'quoted' "double" \`
	v := baseValues(&labConfig{NamePrefix: "HOL02", NotebookPrefix: hostile, SyncInterval: "5min", Region: hostile})
	v.Bucket, v.NotebookDir, v.NotebookUser = hostile, hostile, hostile
	v.PackagesVar, v.Packages = "JUPYTER_PACKAGES", []string{"notebook>=7,<8", hostile}
	v.VPNPublicIP, v.PrivateNetworks, v.VPNRepoURL, v.VPNRepoKeyURL = hostile, []string{hostile}, hostile, hostile
	env, err := render("config/notebooks.env", v)
	require.NoError(t, err)
	got := sourcedEnv(t, env)
	for _, k := range []string{"BUCKET", "NOTEBOOK_PREFIX", "NOTEBOOK_DIR", "NOTEBOOK_USER", "AWS_DEFAULT_REGION"} {
		assert.Equal(t, hostile, got[k], "notebooks.env must keep %s literal", k)
	}
	assert.Equal(t, "notebook>=7,<8 "+hostile, got["JUPYTER_PACKAGES"])
	env, err = render("config/vpn.env", v)
	require.NoError(t, err)
	got = sourcedEnv(t, env)
	for _, k := range []string{"VPN_HOSTNAME", "VPN_PRIVATE_NETWORKS", "VPN_REPO_URL", "VPN_REPO_KEY_URL"} {
		assert.Equal(t, hostile, got[k], "vpn.env must keep %s literal", k)
	}
}

// TestWrittenFilesAreAlwaysStrings: a password whose base64 is all digits
// (Ӎ4 encodes as 0400) must not turn into a YAML number, which cloud-init
// cannot write.
func TestWrittenFilesAreAlwaysStrings(t *testing.T) {
	run := deploy(t, map[string]string{"vpnAdminPassword": strings.Repeat("Ӎ4", 6)})
	for _, in := range run.Mocks.ofType(typeInstance) {
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(userDataOf(t, in)), &doc))
		var files []struct {
			Path    string    `yaml:"path"`
			Content yaml.Node `yaml:"content"`
		}
		var top struct {
			WriteFiles yaml.Node `yaml:"write_files"`
		}
		require.NoError(t, doc.Decode(&top))
		require.NoError(t, top.WriteFiles.Decode(&files))
		for _, f := range files {
			assert.Equal(t, "!!str", f.Content.Tag, "%s: the content of %s is a YAML %s, not a string", in.Name, f.Path, f.Content.Tag)
		}
	}
}

// TestJupyterSaltDoesNotDependOnThePassword: with a salt computed from the
// password, whoever reads the userdata checks a guess without argon2.
func TestJupyterSaltDoesNotDependOnThePassword(t *testing.T) {
	salt := func(changes map[string]string, stack string) string {
		run, err := runUnderMocks(stack, stackConfig(changes), secretKeys)
		require.NoError(t, err)
		m := regexp.MustCompile(`hashed_password = "argon2:\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$([^$]+)\$`).
			FindStringSubmatch(userDataOf(t, one(t, run, typeInstance, "HOL02-Jupyter")))
		require.NotNil(t, m, "no argon2id hash in Jupyter's userdata")
		return m[1]
	}
	first := salt(nil, "dev")
	assert.Equal(t, first, salt(map[string]string{"jupyterPassword": "a-different-password"}, "dev"),
		"the salt must not change with the password: it must not be computed from it")
	assert.NotEqual(t, first, salt(nil, "course-2"), "two labs must not share a salt")
	assert.NotEqual(t, first, salt(map[string]string{"bucketName": "another-lab-bucket"}, "dev"), "two labs must not share a salt")
}

// bucketResources are the bucket and the settings that protect it.
var bucketResources = map[string]string{
	typeBucket: "notebooks",
	"aws:s3/bucketVersioningV2:BucketVersioningV2":                                               "notebooks-versioning",
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": "notebooks-encryption",
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     "notebooks-public-access-block",
	"aws:s3/bucketPolicy:BucketPolicy":                                                           "notebooks-tls-only",
}

// TestNotebooksSurviveRenamesAndDestroy: the bucket's identity in the state
// does not follow namePrefix (a new prefix once replaced the bucket, and the
// next Jupyter restored from an empty one), and destroy leaves it protected.
func TestNotebooksSurviveRenamesAndDestroy(t *testing.T) {
	for _, prefix := range []string{"HOL02", "Lab7"} {
		run := deploy(t, map[string]string{"namePrefix": prefix})
		for typ, name := range bucketResources {
			r := one(t, run, typ, name) // the same logical name whatever the prefix
			var aliases []string
			for _, a := range r.Options.GetAliases() {
				aliases = append(aliases, a.GetSpec().GetName())
			}
			assert.Contains(t, aliases, map[bool]string{true: "hol02-notebooks", false: "HOL02-" + name}[typ == typeBucket],
				"%s must keep the name existing stacks gave it, or they replace it", name)
			assert.True(t, r.Options.GetRetainOnDelete(), "without forceDestroyBucket, `pulumi destroy` must leave %s in force", name)
		}
	}
	run := deploy(t, map[string]string{"forceDestroyBucket": "true"})
	for typ, name := range bucketResources {
		assert.False(t, one(t, run, typ, name).Options.GetRetainOnDelete(), "with forceDestroyBucket, destroy deletes %s", name)
	}
}

// TestUpdatesReallyUpdate: dnf on Amazon Linux 2023 stays on the image's
// release unless told otherwise; the VPN's unattended-upgrades must include
// OpenVPN's own repository. The apt configuration is read by apt-config.
// unattended-upgrades matches a site= pattern (fnmatch, in its
// match_whitelist_string) against the origin's site, which apt takes from
// the host of the source's URI (`apt-cache policy` prints it as "origin
// <host>"): the pattern must be the host of the line the setup writes.
func TestUpdatesReallyUpdate(t *testing.T) {
	run := deploy(t, nil)
	for _, name := range []string{"HOL02-VoilaServer", "HOL02-Jupyter", "HOL02-NAT"} {
		unit := writtenFile(t, userDataOf(t, one(t, run, typeInstance, name)), "/etc/systemd/system/os-update.service")
		start := unitProperties(t, unit)["ExecStart"]
		require.Len(t, start, 1, "%s: os-update runs one command", name)
		assert.Contains(t, strings.Fields(start[0]), "--releasever=latest", "%s: dnf must move to the latest release", name)
		assert.Contains(t, strings.Fields(start[0]), "upgrade", "%s", name)
	}

	tool := requireTool(t, "apt-config")
	conf := writtenFile(t, userDataOf(t, one(t, run, typeInstance, "HOL02-VPN")), "/etc/apt/apt.conf.d/52research-lab-upgrades")
	file := filepath.Join(t.TempDir(), "upgrades.conf")
	require.NoError(t, os.WriteFile(file, []byte(conf), 0o644))
	out, err := exec.Command(tool, "-c", file, "dump").CombinedOutput()
	require.NoError(t, err, "apt-config rejects the VPN's upgrade configuration:\n%s", out)
	assert.Contains(t, string(out), `APT::Periodic::Unattended-Upgrade "1";`)

	r := newVPNRig(t)
	setup, err := r.run()
	require.NoError(t, err, "the VPN setup failed:\n%s", setup)
	list := r.read("etc/apt/sources.list.d/openvpn-as.list")
	source := regexp.MustCompile(`^deb \[arch=\S+ signed-by=(\S+)\] (\S+) \S+ main\n$`).FindStringSubmatch(list)
	require.NotNil(t, source, "not the one apt source line of Access Server: %q", list)
	repo, err := url.Parse(source[2])
	require.NoError(t, err)
	assert.Equal(t, "https", repo.Scheme, "Access Server's packages must come over HTTPS")
	assert.Equal(t, "packages.openvpn.net", repo.Host, "the repository's host, as OpenVPN's install instructions name it")
	var patterns []string
	for _, m := range regexp.MustCompile(`(?m)^Unattended-Upgrade::Origins-Pattern:: "(.*)";$`).FindAllStringSubmatch(string(out), -1) {
		patterns = append(patterns, m[1])
	}
	assert.Equal(t, []string{"site=" + repo.Host}, patterns,
		"unattended-upgrades must take OpenVPN AS's updates from the host of the apt source, %s", source[2])
	assert.Equal(t, filepath.Join(r.root, "/etc/apt/keyrings/openvpn-as.asc"), source[1], "the key in /etc/apt/keyrings, for this source alone")
	assert.Len(t, r.calledWith("curl", "-o "+source[1]+" https://packages.openvpn.net/as-repo-public.asc"), 1,
		"the source's signing key, from OpenVPN's host over HTTPS, into %s", source[1])
}
