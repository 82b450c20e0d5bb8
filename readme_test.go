package main

// The README is the users' contract: these tests keep the parts of it that
// can drift (outputs, flags, costs, check's rules, the shipped stacks) equal
// to what the program does.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"research-lab/internal/vpncli"
)

// Where the parts of the documentation that tests hold to the code live.
const (
	referenceDoc    = "docs/reference.md"
	costsDoc        = "docs/costs.md"
	architectureDoc = "docs/architecture.md"
)

func readme(t *testing.T) string { return doc(t, "README.md") }

// doc is one of the project's documents: the README, or one under docs/.
func doc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// tableKeys lists the backquoted names in the first column of the table
// under a heading ("`a`, `b`" gives both) of a document.
func tableKeys(t *testing.T, name, heading string) []string {
	t.Helper()
	section := markdownSection(doc(t, name), heading)
	require.NotEmpty(t, section, "%s has no section %q", name, heading)
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
	assert.Equal(t, keysOf(all), tableKeys(t, referenceDoc, "## Outputs"), "docs/reference.md's Outputs table must list exactly the outputs the program exports")
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
func documentedFlags(t *testing.T, name, heading string) []string {
	t.Helper()
	var flags []string
	for _, k := range tableKeys(t, name, heading) {
		if name, ok := strings.CutPrefix(k, "--"); ok {
			flags = append(flags, strings.Fields(name)[0])
		}
	}
	return flags
}

// TestReadmeFlagsAreTheCommands: the flag tables of plan and check (in
// docs/reference.md) and of the member's keygen and profile (docs/members.md) list the
// flags their --help prints.
func TestReadmeFlagsAreTheCommands(t *testing.T) {
	helps := commandHelps(t)
	assert.Equal(t, helpFlags(t, helps["plan"]), documentedFlags(t, referenceDoc, "## See a lab, and its cost, before paying: `go run . plan`"), "docs/reference.md's plan flags")
	assert.Equal(t, helpFlags(t, helps["check"]), documentedFlags(t, referenceDoc, "## Check a deployed lab from outside: `go run . check`"), "docs/reference.md's check flags")
	for _, cmd := range []string{"keygen", "profile"} {
		assert.Equal(t, helpFlags(t, helps["vpn "+cmd]), documentedFlags(t, "docs/members.md", "### `"+cmd+"`"), "docs/members.md's %s flags", cmd)
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
	ten, _ := teamOfConfig(t, 10, nil)
	stacks["a team of ten with `vpn: wireguard`"] = "config:\n  research-lab:keyName: vockey\n  research-lab:vpn: wireguard\n  research-lab:wireguardPrivateKey:\n    secure: AAABAEncrypted\n" +
		"  research-lab:members:\n" + membersYAML(t, ten["research-lab:members"])
	section := doc(t, costsDoc)
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
		assert.Equal(t, got, row[2:], "docs/costs.md's costs of %q", row[1])
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
	m := regexp.MustCompile(`(?s)<!-- closed-ports:start[^>]*-->\n\| public address \| closed \|\n\|---\|---\|\n(.*?)<!-- closed-ports:end -->`).FindStringSubmatch(doc(t, referenceDoc))
	require.NotNil(t, m, "docs/reference.md has no closed-ports table")
	assert.Equal(t, strings.Join(want, "\n")+"\n", m[1], "README's closed ports are not what check probes for the dev stack")
}

// exampleStacks are the stack files the project ships, as examples to copy:
// tests read these, never a stack file of the user's beside them.
var exampleStacks = []string{"dev", "lean", "own", "own-lean"}

// exampleStack copies Pulumi.yaml and an example stack file into a folder of
// the test's, with the example SSH key replaced by the test's own, as the
// README's recipe does, and returns the folder.
func exampleStack(t *testing.T, stack string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi." + stack + ".yaml"} {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		text := strings.ReplaceAll(string(raw), "ssh-ed25519 "+exampleSSHKeyBlob+" replace-with-yours", testPublicKey)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644))
	}
	return dir
}

// TestExampleStacksAreTheTrackedOnes: the list the tests read is what the
// repository tracks, so a stack file a user makes beside them is theirs alone.
func TestExampleStacksAreTheTrackedOnes(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "Pulumi.*.yaml").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	var tracked []string
	for _, f := range strings.Fields(string(out)) {
		tracked = append(tracked, strings.TrimSuffix(strings.TrimPrefix(f, "Pulumi."), ".yaml"))
	}
	assert.ElementsMatch(t, exampleStacks, tracked, "exampleStacks must list the stack files the repository tracks")
	for _, f := range []string{"Pulumi.mylab.yaml", "outputs.json", "alice.conf", "wg.key", "alice.png"} {
		out, err := exec.Command("git", "check-ignore", f).CombinedOutput()
		assert.NoError(t, err, ".gitignore must keep %s (a user's own stack file, outputs, keys and profiles) out of the repository: %s", f, out)
	}
}

// TestShippedStacksPlanAndSayWhoTheyAreFor: every example stack file plans
// once its example key is replaced, holds no secret in clear, and is what the
// README says: own-account stacks with a public key and no Academy profile,
// Academy stacks with vockey and LabInstanceProfile.
func TestShippedStacksPlanAndSayWhoTheyAreFor(t *testing.T) {
	documented := markdownSection(readme(t), "## Deploy")
	for _, stack := range exampleStacks {
		f := "Pulumi." + stack + ".yaml"
		t.Run(stack, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			var file struct{ Config map[string]any }
			require.NoError(t, yaml.Unmarshal(raw, &file))
			var out strings.Builder
			err = runPlan([]string{"--stack", stack}, &out)
			academy := file.Config[projectName+":instanceProfile"] == academyInstanceProfile
			if academy {
				require.NoError(t, err, "the Academy stack %s must plan as shipped", stack)
			} else {
				require.Error(t, err, "%s's example key must be refused", f)
				assert.Contains(t, err.Error(), "replace it with your public key (~/.ssh/id_ed25519.pub)")
				require.NoError(t, runPlan([]string{"--dir", exampleStack(t, stack), "--stack", stack}, &out), "%s with a key of its own must plan", f)
			}
			for _, k := range configKeys {
				if k.Secret || k.HoldsSecrets {
					assert.NotContains(t, file.Config, projectName+":"+k.Name, "%s must not hold the secret %s", f, k.Name)
				}
			}
			row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(f) + "` \\| ([^|]+) \\|").FindStringSubmatch(documented)
			require.NotNil(t, row, "README's Deploy table must say who %s is for", f)
			if academy {
				assert.Contains(t, row[1], "AWS Academy", "%s is an AWS Academy stack", f)
				assert.Equal(t, "vockey", file.Config[projectName+":keyName"], "%s: the Academy's key pair", f)
			} else {
				assert.Contains(t, row[1], "your own AWS account", "%s is an own-account stack", f)
				assert.NotEmpty(t, file.Config[projectName+":sshPublicKey"], "%s: an own account brings its own public key", f)
			}
		})
	}
}

// TestDocsLinksResolve: every link from the README or a document under docs/
// to another of them, or to a heading, leads somewhere.
func TestDocsLinksResolve(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	docs = append(docs, "README.md")
	anchors := map[string]map[string]bool{}
	for _, d := range docs {
		anchors[d] = headingAnchors(doc(t, d))
	}
	link := regexp.MustCompile(`\]\(([^)#\s]*)(?:#([^)\s]+))?\)`)
	for _, d := range docs {
		for _, m := range link.FindAllStringSubmatch(doc(t, d), -1) {
			target, anchor := m[1], m[2]
			if strings.Contains(target, "://") {
				continue
			}
			file := d
			if target != "" {
				file = filepath.Clean(filepath.Join(filepath.Dir(d), target))
				if _, err := os.Stat(file); !assert.NoError(t, err, "%s links to %s, which does not exist", d, target) {
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(file, ".md") {
				assert.True(t, anchors[file][anchor], "%s links to %s#%s: no such heading", d, file, anchor)
			}
		}
	}
}

// headingAnchors are the anchors GitHub gives a Markdown document's headings.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && !inCode && strings.HasPrefix(line, "#") {
			a := strings.Map(func(r rune) rune {
				switch {
				case r == ' ':
					return '-'
				case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
					return unicode.ToLower(r)
				}
				return -1
			}, strings.TrimSpace(h))
			anchors[a] = true
		}
	}
	return anchors
}

// TestReadmeGoVersionIsGoMods: the Go the README asks for is go.mod's.
func TestReadmeGoVersionIsGoMods(t *testing.T) {
	mod := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(doc(t, "go.mod"))
	require.NotNil(t, mod, "go.mod names no Go version")
	assert.Contains(t, markdownSection(readme(t), "## Before you start"), "Go "+mod[1]+" or newer (`go.mod`)", "the README's Go must be go.mod's")
}

// TestReadmeSaysMembersMustTrustEachOther: where the README describes a
// team, it says what the plan says (plan.go): members of one lab must trust
// each other, because of one web origin and shared notebooks that are code,
// and links what a hostile member can and cannot do.
func TestReadmeSaysMembersMustTrustEachOther(t *testing.T) {
	team := markdownSection(readme(t), "## Team: one lab for a research team")
	require.NotEmpty(t, team, "the README has no team section")
	for _, says := range []string{"must trust each other", "one web origin", "runs, as whoever opens it", "(docs/security.md)"} {
		assert.Contains(t, team, says, "the README's team section must tell the owner that members trust each other")
	}
}

// TestReadmeSaysTheLargestTeam: the README's team section gives the largest
// team the configuration accepts (maxMembers), why, and what a bigger class
// uses, and so does the error past it.
func TestReadmeSaysTheLargestTeam(t *testing.T) {
	team := markdownSection(readme(t), "## Team: one lab for a research team")
	for _, says := range []string{fmt.Sprintf("at most %d members", maxMembers), "The Littlest JupyterHub", "Zero to JupyterHub on Kubernetes",
		"(docs/team.md#more-than-100-members)"} {
		assert.Contains(t, team, says, "the README's team section must say how large a team may be, why, and what a bigger class uses")
	}
	assert.Contains(t, fmt.Sprintf(tooManyMembers, maxMembers, maxMembers), "The Littlest JupyterHub's range (1 to 100 users)", "the error past the bound must say why")
	assert.Contains(t, doc(t, "docs/team.md"), fmt.Sprintf("## More than %d members", maxMembers), "the error points to this section of docs/team.md")
}

// TestDocsCostFiguresAreThePlans: the default lab's figures quoted in the
// reference's sample plan and in the classroom's table are the plan's.
func TestDocsCostFiguresAreThePlans(t *testing.T) {
	always, stopped, at40h := planTotalsIn(t, ".", "dev")
	ref := doc(t, referenceDoc)
	assert.Contains(t, ref, fmt.Sprintf("Estimated monthly cost: $%.2f (us-east-1", always), "docs/reference.md's sample plan")
	assert.Contains(t, ref, fmt.Sprintf("Estimated monthly cost stopped: $%.2f ", stopped), "docs/reference.md's sample plan")
	assert.Contains(t, ref, fmt.Sprintf("Estimated monthly cost at 40 h/week: $%.2f ", at40h), "docs/reference.md's sample plan")
	class := doc(t, "docs/class.md")
	assert.Contains(t, class, fmt.Sprintf("$%.2f a lab a month always on ($%s for 40)", always, thousands(40*always)), "docs/class.md's class up row")
	assert.Contains(t, class, fmt.Sprintf("$%.2f a lab a month while stopped", stopped), "docs/class.md's class stop row")
	assert.Contains(t, class, fmt.Sprintf("at 40 hours a week, $%.2f a lab a month", at40h), "docs/class.md's class start row")
}

// thousands writes dollars with a comma between thousands: 2,206.00.
func thousands(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	whole, cents, _ := strings.Cut(s, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return whole + "." + cents
}
