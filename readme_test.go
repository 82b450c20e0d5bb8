package main

// The README is the users' contract: these tests keep the parts of it that
// can drift (outputs, flags, costs, check's rules, the shipped stacks) equal
// to what the program does.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"research-lab/internal/vpncli"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	return string(b)
}

// tableKeys lists the backquoted names in the first column of the table
// under a heading of the README ("`a`, `b`" gives both).
func tableKeys(t *testing.T, heading string) []string {
	t.Helper()
	return docTableKeys(t, readme(t), heading)
}

func docTableKeys(t *testing.T, doc, heading string) []string {
	t.Helper()
	section := markdownSection(doc, heading)
	require.NotEmpty(t, section, "no section %q", heading)
	var keys []string
	for _, row := range regexp.MustCompile(`(?m)^\| ([^|]+) \|`).FindAllStringSubmatch(section, -1) {
		for _, k := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(row[1], -1) {
			keys = append(keys, k[1])
		}
	}
	sort.Strings(keys)
	return keys
}

// TestReadmeOutputsAreTheProgramsOutputs: the Outputs table lists every
// output some lab exports, and nothing else.
func TestReadmeOutputsAreTheProgramsOutputs(t *testing.T) {
	all := map[string]bool{}
	for _, run := range []*mockRun{
		deploy(t, nil),
		deploy(t, map[string]string{"researchEgress": "internet-gateway"}),
		deploy(t, map[string]string{"researchEgress": "nat-gateway"}),
		deployTeam(t, "wireguard", []string{"alice"}, nil),
	} {
		for k := range run.Outputs {
			all[k] = true
		}
	}
	assert.Equal(t, keysOf(all), tableKeys(t, "## Outputs"), "README's Outputs table must list exactly the outputs the program exports")
}

// helpFlags are the flags a command's --help lists.
func helpFlags(t *testing.T, help string) []string {
	t.Helper()
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help, -1) {
		flags = append(flags, m[1])
	}
	sort.Strings(flags)
	require.NotEmpty(t, flags, "no flags in:\n%s", help)
	return flags
}

// documentedFlags are the flags of the table in a section of a document.
func documentedFlags(t *testing.T, doc, heading string) []string {
	t.Helper()
	var flags []string
	for _, k := range docTableKeys(t, doc, heading) {
		if name, ok := strings.CutPrefix(k, "--"); ok {
			flags = append(flags, strings.Fields(name)[0])
		}
	}
	return flags
}

// TestReadmeFlagsAreTheCommands: the flag tables of plan and check (in the
// README) and of the member's keygen and profile (docs/members.md) list the
// flags their --help prints.
func TestReadmeFlagsAreTheCommands(t *testing.T) {
	helps := commandHelps(t)
	assert.Equal(t, helpFlags(t, helps["plan"]), documentedFlags(t, readme(t), "## See a lab, and its cost, before paying: `go run . plan`"), "README's plan flags")
	assert.Equal(t, helpFlags(t, helps["check"]), documentedFlags(t, readme(t), "## Check a deployed lab from outside: `go run . check`"), "README's check flags")
	members, err := os.ReadFile("docs/members.md")
	require.NoError(t, err)
	for _, cmd := range []string{"keygen", "profile"} {
		assert.Equal(t, helpFlags(t, helps["vpn "+cmd]), documentedFlags(t, string(members), "### `"+cmd+"`"), "docs/members.md's %s flags", cmd)
	}
	for _, usage := range []string{"plan", "check"} {
		assert.Contains(t, programUsage, "go run . "+usage, "the program's usage names %s", usage)
	}
}

// commandHelps are the --help texts of every command that takes flags.
func commandHelps(t *testing.T) map[string]string {
	t.Helper()
	var plan strings.Builder
	require.NoError(t, runPlan([]string{"--help"}, &plan))
	helps := map[string]string{"plan": plan.String()}
	var out, check bytes.Buffer
	require.Equal(t, checkPassed, runCheck([]string{"--help"}, &out, &check))
	helps["check"] = check.String()
	for _, cmd := range []string{"keygen", "profile"} {
		status, _, stderr := vpnCommand(cmd, "--help")
		require.Equal(t, vpncli.Done, status, "vpn %s --help", cmd)
		helps["vpn "+cmd] = stderr
	}
	return helps
}

// TestHelpNamesEveryArgument: each flag that takes a value shows what it
// takes (-outputs FILE), not the flag package's "string" or words of its
// description, and each default is said once.
func TestHelpNamesEveryArgument(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^  -[a-z-]+(?: (\S.*))?$`)
	for cmd, help := range commandHelps(t) {
		lines := flagLine.FindAllStringSubmatch(help, -1)
		require.NotEmpty(t, lines, "%s --help lists no flags:\n%s", cmd, help)
		for _, l := range lines {
			assert.Regexp(t, `^(|[A-Z]+)$`, l[1], "%s --help: %q must name its argument in capitals (FILE, NAME), or take none", cmd, l[0])
		}
		assert.NotRegexp(t, `\(default [^)]*\) \(default `, help, "%s --help says a default twice", cmd)
		assert.NotContains(t, help, "`", "%s --help shows a back-quote", cmd)
	}
}

// TestReadmeCostsAreThePlans recomputes every figure of the Costs table.
func TestReadmeCostsAreThePlans(t *testing.T) {
	_, alice := testKeyPair(t, 41)
	stacks := map[string]string{ // the row's first words -> the stack
		"default (`own`, `dev`":                      "dev",
		"lean (`own-lean`, `lean`)":                  "lean",
		"default with `researchEgress: nat-gateway`": "config:\n  research-lab:keyName: vockey\n  research-lab:researchEgress: nat-gateway\n",
		"default with `vpn: wireguard`": "config:\n  research-lab:keyName: vockey\n  research-lab:vpn: wireguard\n  research-lab:wireguardPrivateKey:\n    secure: AAABAEncrypted\n" +
			"  research-lab:members:\n    - name: alice\n      password:\n        secure: AAABAEncrypted1\n      wireguardPublicKey: " + alice + "\n",
	}
	section := markdownSection(readme(t), "## Costs")
	rows := regexp.MustCompile(`(?m)^\| (.+?) \| \$([\d.]+) \| \$([\d.]+) \| \$([\d.]+) \|$`).FindAllStringSubmatch(section, -1)
	require.Len(t, rows, len(stacks), "the Costs table must have one row per stack, each with three figures")
	for _, row := range rows {
		var stack string
		for prefix, s := range stacks {
			if strings.HasPrefix(row[1], prefix) {
				stack = s
			}
		}
		require.NotEmpty(t, stack, "no stack for the row %q", row[1])
		var always, stopped, at40h float64
		if strings.HasPrefix(stack, "config:") {
			always, stopped, at40h = planTotalsIn(t, stackDir(t, stack), "test")
		} else {
			always, stopped, at40h = planTotalsIn(t, ".", stack)
		}
		got := []string{fmt.Sprintf("%.2f", always), fmt.Sprintf("%.2f", stopped), fmt.Sprintf("%.2f", at40h)}
		assert.Equal(t, got, row[2:], "README's costs of %q", row[1])
	}
}

// TestReadmeCheckRulesAreTheCodes: the closed ports the README lists for the
// default stack are those check probes, from the plan's model.
func TestReadmeCheckRulesAreTheCodes(t *testing.T) {
	reach, _, err := expectedReachability(".", "dev")
	require.NoError(t, err)
	var want []string
	for _, h := range reach.Hosts {
		if !h.PublicIP {
			continue
		}
		var closed []string
		for _, p := range labTCPPorts() {
			if !restricted(reach.Open(sourceInternet, h.Role), p) {
				closed = append(closed, p.label())
			}
		}
		sort.Slice(closed, func(i, j int) bool { return portOrder(closed[i]) < portOrder(closed[j]) })
		want = append(want, "| "+h.Label+" | "+strings.Join(closed, " ")+" |")
	}
	sort.Strings(want)
	m := regexp.MustCompile(`(?s)<!-- closed-ports:start[^>]*-->\n\| public address \| closed \|\n\|---\|---\|\n(.*?)<!-- closed-ports:end -->`).FindStringSubmatch(readme(t))
	require.NotNil(t, m, "README has no closed-ports table")
	assert.Equal(t, strings.Join(want, "\n")+"\n", m[1], "README's closed ports are not what check probes for the dev stack")
}

// TestShippedStacksPlanAndSayWhoTheyAreFor: every committed stack file plans
// cleanly, holds no secret in clear, and is what the README says: own-account
// stacks with a public key and no Academy profile, Academy stacks with vockey
// and LabInstanceProfile.
func TestShippedStacksPlanAndSayWhoTheyAreFor(t *testing.T) {
	files, err := filepath.Glob("Pulumi.*.yaml")
	require.NoError(t, err)
	documented := markdownSection(readme(t), "## Deploy")
	for _, f := range files {
		stack := strings.TrimSuffix(strings.TrimPrefix(f, "Pulumi."), ".yaml")
		t.Run(stack, func(t *testing.T) {
			var out strings.Builder
			require.NoError(t, runPlan([]string{"--stack", stack}, &out), "the shipped stack %s must plan", stack)
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			var file struct{ Config map[string]any }
			require.NoError(t, yaml.Unmarshal(raw, &file))
			for _, k := range configKeys {
				if k.Secret || k.HoldsSecrets {
					assert.NotContains(t, file.Config, projectName+":"+k.Name, "%s must not hold the secret %s", f, k.Name)
				}
			}
			academy := file.Config[projectName+":instanceProfile"] == academyInstanceProfile
			row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(f) + "` \\| ([^|]+) \\|").FindStringSubmatch(documented)
			require.NotNil(t, row, "README's Deploy table must say who %s is for", f)
			if academy {
				assert.Contains(t, row[1], "AWS Academy", "%s is an AWS Academy stack", f)
				assert.Equal(t, "vockey", file.Config[projectName+":keyName"], "%s: the Academy's key pair", f)
			} else {
				assert.Contains(t, row[1], "your own AWS account", "%s is an own-account stack", f)
				assert.NotEmpty(t, file.Config[projectName+":sshPublicKey"], "%s: an own account brings its own public key", f)
			}
			assert.True(t, slices.Contains([]string{"dev", "lean", "own", "own-lean"}, stack), "a new shipped stack %s: add it to the README", stack)
		})
	}
}
