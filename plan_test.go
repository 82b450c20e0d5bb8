package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cell is the matrix entry from a source to an instance.
func cell(t *testing.T, p *planView, from, to string) string {
	t.Helper()
	for _, s := range p.sources() {
		if s.Label != from {
			continue
		}
		for _, h := range p.hosts() {
			if h.Name == to {
				return strings.Join(p.openPorts(s, h), " ")
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
	ingressRules = append(append([]ingressRule(nil), saved...), ingressRule{tierResearch, portJupyter, fromAnywhere})
	p = newPlanView(deploy(t, map[string]string{"researchEgress": "internet-gateway"}))
	assert.Equal(t, "8888/tcp", cell(t, p, "Internet", "HOL02-Jupyter"), "a rule open to the world with a public route must show")
	p = newPlanView(deploy(t, nil))
	assert.Empty(t, cell(t, p, "Internet", "HOL02-Jupyter"), "behind a NAT gateway there is no inbound path, whatever the rule")
}

func TestCostArithmeticOnHandCheckedCases(t *testing.T) {
	cases := []struct {
		name    string
		changes map[string]string
		want    float64
		check   string
	}{
		// 0.0208*730*2 + 0.0416*730 + 0.045*730 + 5*0.045 + 3*0.005*730 + 46*0.08 + 1*0.023
		{"default", nil, 108.46, "15.184+15.184+30.368+32.85+0.225+10.95+3.68+0.023 = 108.464"},
		{"lean", map[string]string{"researchEgress": "internet-gateway", "vpnInstanceType": "t3.micro", "jupyterInstanceType": "t3.small"},
			52.61, "7.592+15.184+15.184+10.95+3.68+0.023 = 52.613"},
		{"no egress", map[string]string{"researchEgress": "none"}, 71.74, "15.184+15.184+30.368+2*3.65+3.68+0.023 = 71.739"},
		{"us-west-2", map[string]string{"aws:region": "us-west-2"}, 108.46, "same prices as us-east-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := deploy(t, c.changes)
			assert.InDelta(t, c.want, run.Infra.Cost.Total(), 0.001, c.check)
			assert.InDelta(t, c.want, run.Outputs["estimatedMonthlyCostUsd"], 0.001, "the stack output is the plan's figure")
		})
	}
}

func TestCostWithoutPricesIsReportedNotGuessed(t *testing.T) {
	run := deploy(t, map[string]string{"jupyterInstanceType": "x9z.huge"})
	assert.False(t, run.Infra.Cost.Complete())
	assert.Contains(t, run.Infra.Cost.Missing(), "x9z.huge")
	assert.NotContains(t, run.Outputs, "estimatedMonthlyCostUsd", "no partial figure may pass for the estimate")

	run = deploy(t, map[string]string{"aws:region": "ap-south-2"})
	assert.Contains(t, run.Infra.Cost.Missing(), "ap-south-2")
}

// TestCostMatchesTheDeclaredResources prices the recorded resources
// independently of billOfMaterials: what is declared is what is billed.
func TestCostMatchesTheDeclaredResources(t *testing.T) {
	for _, mode := range []string{"nat-gateway", "internet-gateway", "none"} {
		t.Run(mode, func(t *testing.T) {
			run := deploy(t, map[string]string{"researchEgress": mode, "voilaInstanceType": "t3a.medium"})
			p := prices.Regions["us-east-1"]
			h := prices.HoursPerMonth
			sum := 0.0
			publicIPv4 := 0
			for _, in := range run.Mocks.ofType(typeInstance) {
				sum += p.InstanceHourly[propString(in.Inputs, "instanceType")] * h
				sum += object(in.Inputs, "rootBlockDevice")["volumeSize"].NumberValue() * p.GP3PerGBMonth
				if propBool(in.Inputs, "associatePublicIpAddress") {
					publicIPv4++
				}
			}
			publicIPv4 += len(run.Mocks.ofType(typeEIP))
			nats := float64(len(run.Mocks.ofType(typeNAT)))
			sum += nats * (p.NATGatewayHourly*h + prices.Assumptions.NATDataGB*p.NATGatewayPerGB)
			sum += float64(publicIPv4) * p.PublicIPv4Hourly * h
			sum += float64(len(run.Mocks.ofType(typeBucket))) * prices.Assumptions.S3StorageGB * p.S3StandardPerGBMonth
			assert.InDelta(t, math.Round(sum*100)/100, run.Infra.Cost.Total(), 0.001)
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
	for _, want := range []string{"HOL02-VPC", "cidr=10.0.0.0/16", "HOL02-Jupyter", "type=t3.medium", "Who can reach what", "8888/tcp"} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, planPlaceholder, "the plan must not print the placeholder secrets")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	assert.Regexp(t, `^Estimated monthly cost: \$\d+\.\d{2} \(us-east-1, on-demand, 730 h/month\)$`, lines[len(lines)-1])
}

func TestPlanRejectsBadConfigurationLikePulumiUp(t *testing.T) {
	dir := t.TempDir()
	project, err := os.ReadFile("Pulumi.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.bad.yaml"), []byte(
		"config:\n  research-lab:keyName: vockey\n  research-lab:vpcCidr: 10.0.0.0/8\n  research-lab:adminCidrs:\n    - 1.2.3.4\n"+
			"  research-lab:vpnAdminPassword:\n    secure: AAABAEncrypted\n"), 0o644))
	var out strings.Builder
	err = runPlan([]string{"--dir", dir, "--stack", "bad"}, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "research-lab:vpcCidr")
	assert.Contains(t, err.Error(), "research-lab:adminCidrs")
	assert.Contains(t, err.Error(), "nothing was declared")

	err = runPlan([]string{"--dir", dir, "--stack", "missing"}, &out)
	assert.ErrorContains(t, err, "Pulumi.missing.yaml")
}

func TestLeanStackIsDocumented(t *testing.T) {
	var out strings.Builder
	require.NoError(t, runPlan([]string{"--stack", "lean"}, &out))
	total := regexp.MustCompile(`Estimated monthly cost: \$[\d.]+ .*`).FindString(out.String())
	require.NotEmpty(t, total)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(readme), total), "README's lean plan must be the current output of `go run . plan --stack lean`, ending %q", total)
	assert.Contains(t, out.String(), "HOL02-Jupyter", "the lean stack keeps every server")
}

func TestReadmeDiagramIsGenerated(t *testing.T) {
	run, err := runPlanDiagram()
	require.NoError(t, err)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)<!-- diagram:start[^>]*-->\n(.*?)<!-- diagram:end -->").FindSubmatch(readme)
	require.NotNil(t, m, "README has no generated diagram block")
	assert.Equal(t, run, string(m[1]), "README's diagram is stale: paste the output of `go run . plan --diagram`")
}

func runPlanDiagram() (string, error) {
	var out strings.Builder
	err := runPlan([]string{"--diagram"}, &out)
	return out.String(), err
}
