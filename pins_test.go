package main

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// constraintsReader reads a pip constraints file with the packaging library
// pip itself uses, and prints each requirement's name (canonical) and
// specifier, or why a line is not one exact version.
const constraintsReader = `import sys
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    r = Requirement(line)
    specs = list(r.specifier)
    if r.extras or r.marker or r.url or len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
        print("NOT EXACT", line)
        continue
    print(canonicalize_name(r.name), specs[0].version)`

// TestServersInstallExactPythonVersions: every PyPI package a server
// installs comes in the one exact version the constraints file its userdata
// carries names, so that a replaced server boots the code that was tested
// (docs/security.md, "What is pinned"); pip is the distribution's.
func TestServersInstallExactPythonVersions(t *testing.T) {
	python := debianJupyterPython(t)
	team := deployTeam(t, "wireguard", []string{"alice"}, nil)
	setups := map[string]string{"HOL02-VoilaServer": "voila", "HOL02-Jupyter": "jupyter", "HOL02-Jupyter (team)": "hub"}
	for server := range setups {
		run, name := deploy(t, nil), server
		if n, ok := strings.CutSuffix(server, " (team)"); ok {
			run, name = team, n
		}
		ud := userDataOf(t, one(t, run, typeInstance, name))
		env := writtenFile(t, ud, "/etc/research-lab/notebooks.env")
		require.Contains(t, env, "PIP_CONSTRAINTS="+shellQuote(pythonConstraints)+"\n", "%s: the setup must know where the constraints are", server)
		path := filepath.Join(t.TempDir(), "constraints.txt")
		require.NoError(t, os.WriteFile(path, []byte(writtenFile(t, ud, pythonConstraints)), 0o644))
		out, err := exec.Command(python, "-c", constraintsReader, path).CombinedOutput()
		require.NoError(t, err, "%s: pip's requirement parser rejects the constraints:\n%s", server, out)
		pinned := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			require.False(t, strings.HasPrefix(line, "NOT EXACT"), "%s: every constraint must be one exact version: %s", server, line)
			name, version, _ := strings.Cut(line, " ")
			_, twice := pinned[name]
			assert.False(t, twice, "%s: %s is pinned twice", server, name)
			pinned[name] = version
		}
		packages := regexp.MustCompile(`(?m)^[A-Z]+_PACKAGES='([^']*)'$`).FindStringSubmatch(env)
		require.NotNil(t, packages, "%s: notebooks.env names no packages", server)
		for _, p := range strings.Fields(packages[1]) {
			assert.Regexp(t, `^[a-z0-9-]+$`, p, "%s: %s: the version belongs in the constraints, not the package list", server, p)
			assert.Contains(t, pinned, p, "%s installs %s, which the constraints do not pin", server, p)
		}
		setup := writtenFile(t, ud, "/usr/local/sbin/research-lab-setup")
		installs := regexp.MustCompile(`(?m)^.*\bpip"? install .*$`).FindAllString(setup, -1)
		require.Len(t, installs, 1, "%s: one install, of the packages", server)
		for _, line := range installs {
			assert.Contains(t, line, `-c "$PIP_CONSTRAINTS"`, "%s: a pip install without the constraints floats: %s", server, line)
		}
	}
}

// TestUbuntuImageFilterFindsEveryVolumeType: the VPN's image is the newest
// Ubuntu 22.04 server build of Canonical's, whether published under
// hvm-ssd/ (gp2) or hvm-ssd-gp3/, and nothing else (names as Canonical
// publishes them: https://cloud-images.ubuntu.com/locator/ec2/). path.Match's
// * stops at a slash where EC2's does not: a name it matches, EC2 matches.
func TestUbuntuImageFilterFindsEveryVolumeType(t *testing.T) {
	pattern := fmt.Sprintf(ubuntuJammyPattern, "amd64")
	for name, want := range map[string]bool{
		"ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240207.1":        true,
		"ubuntu/images/hvm-ssd-gp3/ubuntu-jammy-22.04-amd64-server-20250516":      true,
		"ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-20240207.1":        false,
		"ubuntu/images/hvm-instance/ubuntu-jammy-22.04-amd64-server-20240207.1":   false,
		"ubuntu/images/hvm-ssd/ubuntu-noble-24.04-amd64-server-20250516":          false,
		"ubuntu-minimal/images/hvm-ssd/ubuntu-jammy-22.04-amd64-minimal-20240207": false,
	} {
		got, err := path.Match(pattern, name)
		require.NoError(t, err)
		assert.Equal(t, want, got, "the filter %s and the image %s", pattern, name)
	}
}
