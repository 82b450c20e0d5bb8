package main

import (
	"fmt"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cell is the matrix entry from a source to an instance (by its logical name).
func cell(t *testing.T, p *planView, from, to string) string {
	t.Helper()
	role := strings.TrimPrefix(to, logicalName(""))
	for _, s := range p.reach.Sources {
		for _, h := range p.reach.Hosts {
			if s.Label == from && h.Role == role {
				return strings.Join(p.reach.Open(from, role), " ")
			}
		}
	}
	t.Fatalf("no matrix cell from %s to %s", from, to)
	return ""
}

func TestReachabilityMatrixShowsEveryRuleOfTheDesign(t *testing.T) {
	p := newPlanView(deploy(t, map[string]string{"adminCidrs": `["203.0.113.7/32"]`}))
	cases := []struct{ from, to, want, rule string }{
		{"Internet", "HOL02-Jupyter", "", "Jupyter is never reachable from the internet"},
		{"Internet", "HOL02-VPN", "22/tcp (203.0.113.7/32) 443/tcp 943/tcp 1194/udp", "OpenVPN ports from anywhere, SSH from adminCidrs"},
		{"Internet", "HOL02-VoilaServer", "80/tcp 443/tcp", "the Voila site is public"},
		{"VPN clients", "HOL02-Jupyter", "22/tcp 8888/tcp", "VPN clients reach Jupyter and its SSH"},
		{"VPN clients", "HOL02-VoilaServer", "22/tcp 80/tcp 443/tcp", "VPN clients may SSH to Voila"},
		{"Production subnet", "HOL02-Jupyter", "", "Voila cannot reach Jupyter"},
		{"Research subnet", "HOL02-VoilaServer", "80/tcp 443/tcp", "Jupyter reaches the public site like anyone"},
		{"Production subnet", "HOL02-VPN", "443/tcp 943/tcp 1194/udp", "SSH to the VPN only from adminCidrs"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, cell(t, p, c.from, c.to), "%s -> %s: %s", c.from, c.to, c.rule)
	}
}

func TestReachabilityMatrixIsComputedFromTheDeclaredRules(t *testing.T) {
	p := newPlanView(deploy(t, map[string]string{"researchEgress": "internet-gateway"}))
	assert.Empty(t, cell(t, p, "Internet", "HOL02-Jupyter"), "a public address alone does not open Jupyter")

	// Open Jupyter to the world: the matrix must show it where a route and a
	// public address make it reachable, and only there.
	saved := ingressRules
	defer func() { ingressRules = saved }()
	ingressRules = append(append([]ingressRule(nil), saved...), ingressRule{tierResearch, portJupyter, fromAnywhere, ""})
	p = newPlanView(deploy(t, map[string]string{"researchEgress": "internet-gateway"}))
	assert.Equal(t, "8888/tcp", cell(t, p, "Internet", "HOL02-Jupyter"), "a rule open to the world with a public route must show")
	p = newPlanView(deploy(t, nil))
	assert.Empty(t, cell(t, p, "Internet", "HOL02-Jupyter"), "behind a NAT gateway there is no inbound path, whatever the rule")
}

func TestCostArithmeticOnHandCheckedCases(t *testing.T) {
	const week40 = 40 * 730.0 / 168 // 173.81 h a month
	cases := []struct {
		name                      string
		changes                   map[string]string
		always, stopped, at40h    float64
		checkAlways, checkStopped string
	}{
		{"default (nat-instance)", nil, 55.15, 11.64,
			// 0.0084*173.81 + 6.132 + 0.0336*173.81 + 0.0042*173.81 + 0.005*173.81 + 7.3 + 4.32 + 0.023
			26.67, "6.132+6.132+24.528+3.066 (NAT) + 2*3.65 (EIPs) + 3.65 (NAT address) + 54*0.08 + 0.023 = 55.151", "7.3+4.32+0.023 = 11.643"},
		{"nat-gateway", map[string]string{"researchEgress": "nat-gateway"}, 84.52, 47.73,
			1.460 + 6.132 + 5.840 + 32.85 + 0.225 + 10.95 + 3.68 + 0.023,
			"6.132+6.132+24.528+32.85+0.225+3*3.65+46*0.08+0.023 = 84.520", "the NAT gateway bills while stopped: 32.85+0.225+10.95+3.68+0.023 = 47.728"},
		{"lean", map[string]string{"researchEgress": "internet-gateway", "voilaInstanceType": "t4g.micro", "jupyterInstanceType": "t4g.small"}, 39.18, 11.00,
			0.0084*week40 + 6.132 + 0.0168*week40 + 0.005*week40 + 7.3 + 3.68 + 0.023,
			"6.132+6.132+12.264+7.3+3.65 (Jupyter's address) +3.68+0.023 = 39.181", "7.3+3.68+0.023 = 11.003"},
		{"no egress", map[string]string{"researchEgress": "none"}, 47.80, 11.00,
			1.460 + 6.132 + 5.840 + 7.3 + 3.68 + 0.023, "6.132+6.132+24.528+7.3+3.68+0.023 = 47.795", "7.3+3.68+0.023"},
		{"us-west-2", map[string]string{"aws:region": "us-west-2"}, 55.15, 11.64, 26.67, "same prices as us-east-1", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := deploy(t, c.changes)
			b, region := billOfMaterials(run.Infra.Config), run.Infra.Region
			assert.InDelta(t, c.always, run.Infra.Cost.Total(), 0.001, c.checkAlways)
			assert.InDelta(t, c.always, run.Outputs["estimatedMonthlyCostUsd"], 0.001, "the stack output is the always-on figure")
			assert.InDelta(t, c.stopped, estimateCost(b, region, allStopped).Total(), 0.001, c.checkStopped)
			assert.InDelta(t, c.at40h, estimateCost(b, region, hoursPerWeek(40)).Total(), 0.006, "40 h a week")
		})
	}
}

func TestCostWithoutPricesIsReportedNotGuessed(t *testing.T) {
	run := deploy(t, map[string]string{"jupyterInstanceType": "x9z.huge"})
	assert.False(t, run.Infra.Cost.Complete())
	assert.Contains(t, run.Infra.Cost.Missing(), "x9z.huge")
	assert.NotContains(t, run.Outputs, "estimatedMonthlyCostUsd", "no partial figure may pass for the estimate")

	run = deploy(t, map[string]string{"aws:region": "ap-south-2"})
	assert.Contains(t, run.Infra.Cost.Missing(), "the plan prices only us-east-1 and us-west-2 (prices.json), not ap-south-2", "the plan must say which regions it can price")
}

// TestCostMatchesTheDeclaredResources prices the recorded resources
// independently of billOfMaterials, always on, stopped and at 40 h a week:
// what is declared is what is billed.
func TestCostMatchesTheDeclaredResources(t *testing.T) {
	p := prices.Regions["us-east-1"]
	h := prices.HoursPerMonth
	for _, mode := range egressModes {
		t.Run(mode, func(t *testing.T) {
			run := deploy(t, map[string]string{"researchEgress": mode, "voilaInstanceType": "t3a.medium"})
			b := billOfMaterials(run.Infra.Config)
			for _, u := range []struct {
				name  string
				hours func(instance string) float64 // hours a month an instance runs
				est   *costEstimate
			}{
				{"always on", func(string) float64 { return h }, estimateCost(b, "us-east-1", alwaysOn)},
				{"stopped", func(string) float64 { return 0 }, estimateCost(b, "us-east-1", allStopped)},
				{"40 h a week", func(name string) float64 {
					if name == "HOL02-VoilaServer" { // the public site stays up
						return h
					}
					return 40 * h / 168
				}, estimateCost(b, "us-east-1", hoursPerWeek(40))},
			} {
				sum := 0.0
				for _, in := range run.Mocks.ofType(typeInstance) {
					run := u.hours(in.Name)
					sum += p.InstanceHourly[propString(in.Inputs, "instanceType")] * run
					sum += object(in.Inputs, "rootBlockDevice")["volumeSize"].NumberValue() * p.GP3PerGBMonth
					if propBool(in.Inputs, "associatePublicIpAddress") {
						sum += p.PublicIPv4Hourly * run // released while stopped
					}
				}
				sum += float64(len(run.Mocks.ofType(typeEIP))) * p.PublicIPv4Hourly * h // billed, attached or not
				nats := float64(len(run.Mocks.ofType(typeNAT)))
				sum += nats * (p.NATGatewayHourly*h + prices.Assumptions.NATDataGB*p.NATGatewayPerGB)
				sum += float64(len(run.Mocks.ofType(typeBucket))) * prices.Assumptions.S3StorageGB * p.S3StandardPerGBMonth
				assert.InDelta(t, sum, u.est.Total(), 0.01+sum*0.0001, "%s: the estimate must price exactly what is declared", u.name)
			}
		})
	}
}

func TestPriceTableNamesItsSourceAndDate(t *testing.T) {
	assert.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, prices.Date)
	assert.Contains(t, prices.Source, "aws.amazon.com")
	for _, r := range []string{"us-east-1", "us-west-2"} {
		p, ok := prices.Regions[r]
		require.True(t, ok, "prices.json must cover %s", r)
		for _, typ := range []string{"t3.micro", "t3.small", "t3.medium"} {
			assert.Positive(t, p.InstanceHourly[typ], "%s %s", r, typ)
		}
	}
}

func TestPlanPrintsResourcesMatrixAndCost(t *testing.T) {
	var out strings.Builder
	require.NoError(t, runPlan([]string{"--stack", "dev"}, &out))
	text := out.String()
	for _, want := range []string{"HOL02-VPC", "cidr=10.0.0.0/16", "HOL02-Jupyter", "type=t4g.medium", "Who can reach what", "8888/tcp"} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, planPlaceholder, "the plan must not print the placeholder secrets")
	for _, total := range []string{
		`(?m)^Estimated monthly cost: \$\d+\.\d{2} \(us-east-1, on-demand, 730 h/month\)$`,
		`(?m)^Estimated monthly cost stopped: \$\d+\.\d{2}$`,
		`(?m)^Estimated monthly cost at 40 h/week: \$\d+\.\d{2}$`,
	} {
		assert.Len(t, regexp.MustCompile(total).FindAllString(text, -1), 1, "the plan must print exactly one line matching %s", total)
	}
	assert.Contains(t, text, "HOL02-Jupyter-State", "the plan shows the power state of each server")
	assert.Contains(t, text, "state=running")

	out.Reset()
	require.NoError(t, runPlan([]string{"--hours-per-week", "10"}, &out))
	assert.Contains(t, out.String(), "Estimated monthly cost at 10 h/week: $")
	for _, bad := range []string{"-1", "169", "lots"} {
		err := runPlan([]string{"--hours-per-week", bad}, &out)
		assert.Error(t, err, "--hours-per-week %s must be refused", bad)
	}
}

// planTotals runs the plan of a stack and returns its three totals, parsed
// from the output as a reader would.
func planTotals(t *testing.T, stack string) (always, stopped, at40h float64) {
	t.Helper()
	return planTotalsIn(t, ".", stack)
}

// planTotalsIn is planTotals for a stack of the project in dir.
func planTotalsIn(t *testing.T, dir, stack string) (always, stopped, at40h float64) {
	t.Helper()
	var out strings.Builder
	require.NoError(t, runPlan([]string{"--dir", dir, "--stack", stack}, &out))
	read := func(re string) float64 {
		m := regexp.MustCompile(re).FindStringSubmatch(out.String())
		require.NotNil(t, m, "no line %s in the plan of %s", re, stack)
		f, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return f
	}
	return read(`(?m)^Estimated monthly cost: \$(\d+\.\d\d) `), read(`(?m)^Estimated monthly cost stopped: \$(\d+\.\d\d)$`),
		read(`(?m)^Estimated monthly cost at 40 h/week: \$(\d+\.\d\d)$`)
}

// TestLabCostsWhatItIsUsed holds the stacks to the figures the lab promises.
func TestLabCostsWhatItIsUsed(t *testing.T) {
	always, stopped, _ := planTotals(t, "dev")
	assert.LessOrEqual(t, always, 65.0, "the default stack always on")
	assert.LessOrEqual(t, stopped, 12.0, "the default stack stopped")
	always, stopped, at40h := planTotals(t, "lean")
	assert.LessOrEqual(t, always, 40.0, "the lean stack always on")
	assert.LessOrEqual(t, stopped, 12.0, "the lean stack stopped")
	assert.LessOrEqual(t, at40h, 25.0, "the lean stack 40 h a week")
}

// planOfStackFile runs the plan on a stack file of its own.
func planOfStackFile(t *testing.T, stackFile string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := runPlan([]string{"--dir", stackDir(t, stackFile), "--stack", "test"}, &out)
	return out.String(), err
}

func TestPlanRejectsBadConfigurationLikePulumiUp(t *testing.T) {
	const secret = "  research-lab:vpnAdminPassword:\n    secure: AAABAEncrypted\n"
	cases := []struct {
		name, file string
		want       []string
	}{
		{"every bad value at once, counted",
			"config:\n  research-lab:keyName: vockey\n  research-lab:vpcCidr: 10.0.0.0/8\n  research-lab:adminCidrs:\n    - 1.2.3.4\n" +
				"  research-lab:labState: paused\n  research-lab:budgetEmail: nobody\n" + secret,
			[]string{"(4 errors)", "research-lab:vpcCidr", "research-lab:adminCidrs", "research-lab:labState", "research-lab:budgetEmail", "nothing was declared"}},
		{"duplicate adminCidrs", "config:\n  research-lab:keyName: vockey\n  research-lab:adminCidrs:\n    - 1.2.3.4/32\n    - 1.2.3.4/32\n",
			[]string{"(1 error)", "research-lab:adminCidrs", "listed twice"}},
		{"a type the project file refuses", "config:\n  research-lab:keyName: vockey\n  research-lab:jupyterIdleStopMinutes: 1.5\n",
			[]string{"jupyterIdleStopMinutes", "must be of type 'integer'"}},
		{"a secret in plain text", "config:\n  research-lab:keyName: vockey\n  research-lab:jupyterPassword: in-clear-text-123\n",
			[]string{"research-lab:jupyterPassword is in plain text", "pulumi config set --secret jupyterPassword"}},
		{"every value of a type the project file refuses, at once, with the fix",
			"config:\n  research-lab:keyName: vockey\n  research-lab:jupyterIdleStopMinutes: ten\n  research-lab:forceDestroyBucket: maybe\n  research-lab:adminCidrs: 1.2.3.4/32\n",
			[]string{"research-lab:adminCidrs must be a list: set its items with `pulumi config set --path 'adminCidrs[0]' <value>`",
				"research-lab:forceDestroyBucket must be true or false: `pulumi config set forceDestroyBucket true`",
				"research-lab:jupyterIdleStopMinutes must be a whole number, for example `pulumi config set jupyterIdleStopMinutes 60`"}},
		{"a stack file that is not YAML", "config:\n  research-lab:keyName: vockey\n   research-lab:vpn: x\n",
			[]string{"is it valid YAML? `pulumi config` writes it for you"}},
		// The CLI's loader reads a key without a namespace as the project's.
		{"a key without a namespace", "config:\n  keyName: vockey\n  vpcCidr: 10.0.0.0/8\n", []string{"(1 error)", "research-lab:vpcCidr"}},
		{"a misspelt key", "config:\n  research-lab:keyName: vockey\n  research-lab:labstate: stopped\n", []string{"research-lab:labstate", "unknown configuration key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := planOfStackFile(t, c.file)
			require.Error(t, err, "the plan must refuse what `pulumi up` refuses")
			for _, want := range c.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "error occurred", "the plan's error is the program's own, not the engine's wrapping")
		})
	}

	var out strings.Builder
	err := runPlan([]string{"--stack", "missing"}, &out)
	assert.ErrorContains(t, err, "Pulumi.missing.yaml")
	assert.NoError(t, runPlan([]string{"--help"}, &out), "plan --help is not an error")
	assert.Contains(t, out.String(), "-hours-per-week")
}

func TestPlanNotesWhatItAssumes(t *testing.T) {
	out, err := planOfStackFile(t, "config:\n  research-lab:keyName: vockey\n  research-lab:researchEgress: none\n")
	require.NoError(t, err)
	assert.Contains(t, out, "note: aws:region is not set: the plan assumes us-east-1")
	assert.Contains(t, out, "warning: researchEgress is none: Jupyter cannot install")
	assert.Contains(t, out, "note: research-lab:jupyterPassword is not set")
	out, err = planOfStackFile(t, "config:\n  aws:region: us-west-2\n  research-lab:keyName: vockey\n")
	require.NoError(t, err)
	assert.NotContains(t, out, "aws:region is not set")
	assert.Equal(t, 1, strings.Count(out, "warning:"), "a default stack's only warning is about adminCidrs:\n%s", out)
	assert.Contains(t, out, "warning: research-lab:adminCidrs lets anyone on the internet try SSH on the VPN instance (with your key only); narrow it to your address: `pulumi config set --path 'adminCidrs[0]' \"$(curl -s https://checkip.amazonaws.com)/32\"`")
	out, err = planOfStackFile(t, "config:\n  research-lab:keyName: vockey\n  research-lab:adminCidrs: [\"203.0.113.7/32\"]\n")
	require.NoError(t, err)
	assert.NotContains(t, out, "warning:", "SSH from one address only: nothing to warn about")
}

func TestLeanStackIsDocumented(t *testing.T) {
	var out strings.Builder
	require.NoError(t, runPlan([]string{"--stack", "lean"}, &out))
	tail := out.String()[strings.Index(out.String(), "Who can reach what"):]
	assert.Contains(t, doc(t, costsDoc), "```text\n"+tail+"```\n", "docs/costs.md's lean plan must be the end of the current output of `go run . plan --stack lean`, from its matrix on")
	assert.Contains(t, out.String(), "HOL02-Jupyter", "the lean stack keeps every server")
}

func TestReadmeDiagramIsGenerated(t *testing.T) {
	run, err := runPlanDiagram()
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- diagram:start[^>]*-->\n(.*?)<!-- diagram:end -->").FindStringSubmatch(doc(t, architectureDoc))
	require.NotNil(t, m, "docs/architecture.md has no generated diagram block")
	assert.Equal(t, run, m[1], "docs/architecture.md's diagram is stale: paste the output of `go run . plan --diagram`")
}

func runPlanDiagram() (string, error) {
	var out strings.Builder
	err := runPlan([]string{"--diagram"}, &out)
	return out.String(), err
}

// TestPlanReadsStackNamesAsPulumiDoes: names the CLI refuses are refused;
// a fully qualified name reads the file of its last part.
func TestPlanReadsStackNamesAsPulumiDoes(t *testing.T) {
	var out strings.Builder
	for arg, want := range map[string]string{
		"my lab":              "a stack name may only contain alphanumeric, hyphens, underscores, or periods",
		"Lab_ÄÖ!":             "a stack name may only contain alphanumeric, hyphens, underscores, or periods",
		"":                    "a stack name may not be empty",
		"org/other-proj/dev":  `that stack belongs to project "other-proj", not research-lab`,
		"a/b/c/d":             "a stack is NAME, org/NAME or org/project/NAME",
		"org/research-lab/zz": "Pulumi.zz.yaml",
	} {
		err := runPlan([]string{"--stack", arg}, &out)
		require.Error(t, err, "--stack %q", arg)
		assert.Contains(t, err.Error(), want, "--stack %q", arg)
	}
	out.Reset()
	require.NoError(t, runPlan([]string{"--stack", "my-org/research-lab/dev"}, &out), "a fully qualified name reads Pulumi.dev.yaml")
	assert.Contains(t, out.String(), "Stack dev:")
	assert.ErrorIs(t, runPlan([]string{"--no-such-flag"}, &out), errUsage, "a flag error is printed once, by the flag package")
}

// TestPlanShowsTheTeam: members, their VPN addresses and folders, the VPN,
// and what WireGuard saves.
func TestPlanShowsTheTeam(t *testing.T) {
	_, alice := testKeyPair(t, 31)
	_, bob := testKeyPair(t, 32)
	team := "config:\n  research-lab:keyName: vockey\n  research-lab:vpn: wireguard\n" +
		"  research-lab:wireguardPrivateKey:\n    secure: AAABAEncrypted\n  research-lab:members:\n" +
		"    - name: alice\n      password:\n        secure: AAABAEncrypted1\n      wireguardPublicKey: " + alice + "\n" +
		"    - name: bob\n      password:\n        secure: AAABAEncrypted2\n      wireguardPublicKey: " + bob + "\n"
	out, err := planOfStackFile(t, team)
	require.NoError(t, err)
	assert.Contains(t, out, "Team of 2 on WireGuard (no limit of connections); JupyterHub, a login, Unix user and folder each")
	assert.Regexp(t, `(?m)^  alice +VPN address `+regexp.QuoteMeta(memberAddress("alice").String())+` +s3://notebooks-1a2b3c4/hol02/alice/$`, out)
	assert.Contains(t, out, "Members must trust each other", "the plan says what a team's members can do to each other")
	assert.Contains(t, out, "note: the plan does not decrypt secrets, so only `pulumi up` checks their values")
	assert.NotContains(t, out, planPlaceholder)
	wireguardCost := regexp.MustCompile(`Estimated monthly cost: \$([\d.]+)`).FindStringSubmatch(out)
	require.NotNil(t, wireguardCost)

	plain := strings.Replace(team, "  research-lab:members:\n"+team[strings.Index(team, "    - name: alice"):], "", 1)
	plain = strings.Replace(plain, "research-lab:vpn: wireguard", "research-lab:vpn: openvpn-as", 1)
	plain = strings.Replace(plain, "  research-lab:wireguardPrivateKey:\n    secure: AAABAEncrypted\n", "", 1)
	out, err = planOfStackFile(t, plain)
	require.NoError(t, err)
	assert.Contains(t, out, "One researcher (no members): OpenVPN Access Server, Jupyter with one password")
	openvpnCost := regexp.MustCompile(`Estimated monthly cost: \$([\d.]+)`).FindStringSubmatch(out)
	require.NotNil(t, openvpnCost)
	w, _ := strconv.ParseFloat(wireguardCost[1], 64)
	o, _ := strconv.ParseFloat(openvpnCost[1], 64)
	assert.Less(t, w, o, "the WireGuard lab must cost less than the OpenVPN one")

	plaintext := strings.Replace(team, "      password:\n        secure: AAABAEncrypted2\n", "      password: bob-in-clear-text\n", 1)
	_, err = planOfStackFile(t, plaintext)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "research-lab:members[1].password is in plain text: set it with `pulumi config set --secret --path 'members[1].password'`")
	assert.NotContains(t, err.Error(), "bob-in-clear-text")
}

// TestCommandsSayWhatIsWrong: an unknown command is named as such, with the
// usage; a flag error is printed once (by the flag package), with status 2.
func TestCommandsSayWhatIsWrong(t *testing.T) {
	var out, errOut strings.Builder
	assert.Equal(t, 2, runCommand([]string{"deploy"}, &out, &errOut))
	assert.True(t, strings.HasPrefix(errOut.String(), "research-lab: unknown command \"deploy\"\n\n"), "got %q", errOut.String())
	assert.Contains(t, errOut.String(), "go run . plan")
	errOut.Reset()
	assert.Equal(t, 2, runCommand(nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "pulumi up")
	out.Reset()
	assert.Equal(t, 0, runCommand([]string{"--help"}, &out, &errOut))
	assert.Contains(t, out.String(), "go run . check")
	out.Reset()
	errOut.Reset()
	assert.Equal(t, 2, runCommand([]string{"plan", "--bogus"}, &out, &errOut))
	assert.Equal(t, 1, strings.Count(out.String()+errOut.String(), "flag provided but not defined: -bogus"), "the flag error must be printed once")
	assert.Equal(t, 1, runCommand([]string{"plan", "--stack", "nope"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "research-lab plan: reading Pulumi.nope.yaml")
}

// TestPlanNeedsNoToolchain: the plan (and check's model) build nothing: the
// certificate client only `pulumi up` uploads is not compiled, so neither the
// network nor a Go toolchain is needed (no `go` on the PATH here).
func TestPlanNeedsNoToolchain(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var out strings.Builder
	dir := exampleStack(t, "own")
	require.NoError(t, runPlan([]string{"--dir", dir, "--stack", "own"}, &out), "the plan must not run the go command")
	assert.Contains(t, out.String(), "Estimated monthly cost:")
	_, _, err := expectedReachability(dir, "own")
	assert.NoError(t, err, "check's model must not run the go command")
	assert.Equal(t, "buildACME", funcName(acmeClient), "after the plan, the program builds the client again")
}

func funcName(f any) string {
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return name[strings.LastIndex(name, ".")+1:]
}

// TestPlanSaysWhatThePublicSiteHolds: the plan names the live views the
// Voila server's memory holds (voilaLiveBound), and that every reader gets
// the static page.
func TestPlanSaysWhatThePublicSiteHolds(t *testing.T) {
	for _, typ := range []string{"t4g.micro", "t4g.small"} {
		var out strings.Builder
		require.NoError(t, runPlan([]string{"--dir", stackDir(t, checkedStackFile+"  research-lab:voilaInstanceType: "+typ+"\n"), "--stack", "test"}, &out))
		l := voilaLiveBound(&labConfig{VoilaType: typ})
		assert.Contains(t, out.String(), fmt.Sprintf("Public site on a %s (%d MiB): every reader gets a notebook's static page from Nginx; %d live (Voila) views at once", typ, instanceMemoryMiB[typ], l.MaxKernels),
			"the plan of a %s site", typ)
	}
}
