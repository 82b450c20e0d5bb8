package roster

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkRegion stands in for the program's region list.
func checkRegion(r string) error {
	if r == "us-east-1" || r == "eu-west-1" {
		return nil
	}
	return errors.New("not an AWS region")
}

func TestParseReadsEveryColumn(t *testing.T) {
	students, err := Parse(strings.NewReader("id,name,email,account,region\n"+
		"ada,Ada Lovelace,ada@example.edu,111122223333,eu-west-1\n"+
		"\n"+
		" alan , Alan Turing ,alan@example.edu,,\n"), "roster.csv", checkRegion)
	require.NoError(t, err)
	assert.Equal(t, []Student{
		{Line: 2, ID: "ada", Name: "Ada Lovelace", Email: "ada@example.edu", Account: "111122223333", Region: "eu-west-1"},
		{Line: 4, ID: "alan", Name: "Alan Turing", Email: "alan@example.edu"},
	}, students, "every column read, blanks trimmed, lines counted past an empty line")
}

func TestParseColumnsInAnyOrder(t *testing.T) {
	students, err := Parse(strings.NewReader("email,ID\nada@example.edu,ada\n"), "roster.csv", checkRegion)
	require.NoError(t, err)
	assert.Equal(t, []Student{{Line: 2, ID: "ada", Email: "ada@example.edu"}}, students)
}

// A bad roster is refused whole, every problem on its line.
func TestParseRefusesABadRosterWhole(t *testing.T) {
	_, err := Parse(strings.NewReader("id,name,email,account,region\n"+
		"ada,Ada,ada@example.edu,111122223333,us-east-1\n"+ // fine
		",Nobody,nobody@example.edu,,\n"+ // 3: no id
		"ada,Ada again,ada2@example.edu,,\n"+ // 4: duplicate
		"bad name!,Bad,bad@example.edu,,\n"+ // 5: not a stack name
		"bob,Bob,bob-at-example.edu,,\n"+ // 6: bad email
		"carol,Carol,carol@example.edu,12345,\n"+ // 7: account
		"dan,Dan,dan@example.edu,,us-east-9\n"+ // 8: region
		"erin,Erin,erin@example.edu,,,extra\n"), "roster.csv", checkRegion) // 9: too many fields
	var probs *Problems
	require.ErrorAs(t, err, &probs, "a bad roster must be refused with its problems")
	want := map[int]string{3: "no id", 4: `id "ada" again (first on line 2)`, 5: "not a Pulumi stack name",
		6: "not an email address", 7: "not an AWS account id (12 digits)", 8: `region "us-east-9"`, 9: "6 fields, the header has 5"}
	got := map[int]string{}
	for _, p := range probs.Lines {
		got[p.Line] += p.Msg
	}
	require.Len(t, got, len(want), "one problem per bad line, none for line 2: %v", err)
	for line, msg := range want {
		assert.Contains(t, got[line], msg, "line %d", line)
		assert.Contains(t, err.Error(), fmt.Sprintf("roster.csv:%d: ", line), "the message names the line")
	}
}

func TestParseRefusesABadHeader(t *testing.T) {
	for name, c := range map[string]struct{ csv, want string }{
		"empty":       {"", "the roster is empty"},
		"no id":       {"name,email\nAda,ada@example.edu\n", "no id column"},
		"unknown":     {"id,nickname\nada,Ada\n", `unknown column "nickname"`},
		"twice":       {"id,name,name\nada,Ada,Ada\n", `column "name" twice`},
		"no students": {"id,name\n", "no students"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.csv), "roster.csv", checkRegion)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// Six labs of 1 VPC, 2 Elastic IPs and 8 vCPUs each in one region exceed
// the VPC, Elastic IP and internet gateway defaults, three labs the Elastic
// IPs', and the message says what to ask.
func TestPreflightNamesEveryQuotaExceeded(t *testing.T) {
	lab := Usage{VPCs.Code: 1, InternetGateways.Code: 1, ElasticIPs.Code: 2, StandardVCPUs.Code: 8}
	need := map[string]Usage{"us-east-1": {}, "eu-west-1": {}}
	for range 6 {
		need["us-east-1"].Add(lab)
	}
	for range 3 {
		need["eu-west-1"].Add(lab)
	}
	given := Known{64, "as given with --quota"}
	short, warn := Preflight(need, map[string]map[string]Known{"us-east-1": {StandardVCPUs.Code: given}, "eu-west-1": {StandardVCPUs.Code: given}})
	var got []string
	for _, s := range short {
		got = append(got, s.Region+" "+s.Quota.Code)
	}
	assert.Equal(t, []string{"eu-west-1 L-0263D0A3", "us-east-1 L-F678F1CE", "us-east-1 L-0263D0A3", "us-east-1 L-A4707A72"}, got,
		"every quota exceeded, per region; vCPUs within the applied 64")
	assert.Empty(t, warn, "vCPUs within the applied 64")
	assert.Equal(t, "us-east-1: VPCs per Region (L-F678F1CE): the class needs 6, the quota is 5 (AWS's default); ask AWS for 6: "+
		"aws service-quotas request-service-quota-increase --region us-east-1 --service-code vpc --quota-code L-F678F1CE --desired-value 6",
		short[1].String())
	short, warn = Preflight(map[string]Usage{"us-east-1": lab}, map[string]map[string]Known{"us-east-1": {StandardVCPUs.Code: {8, "Service Quotas"}}})
	assert.Empty(t, short, "one lab fits")
	assert.Empty(t, warn, "one lab fits")
}

// Offline, AWS's vCPU default (5) says nothing of an account in use: a
// lab beyond it is warned of, with how to check, not refused; a known
// value of 5 refuses.
func TestPreflightWarnsOfAnUnknownVCPUQuota(t *testing.T) {
	lab := Usage{VPCs.Code: 1, InternetGateways.Code: 1, ElasticIPs.Code: 2, StandardVCPUs.Code: 8}
	short, warn := Preflight(map[string]Usage{"us-east-1": lab}, nil)
	assert.Empty(t, short, "offline, one lab is not refused for its vCPUs")
	require.Len(t, warn, 1)
	assert.Equal(t, "us-east-1: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (vCPUs) (L-1216C47A): the class needs 8; "+
		"the account's quota is unknown here (AWS's default is 5, accounts in use often have more): "+
		"check it with aws service-quotas get-service-quota --region us-east-1 --service-code ec2 --quota-code L-1216C47A, and if it is less than 8: "+
		"aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-1216C47A --desired-value 8", warn[0].String())
	short, warn = Preflight(map[string]Usage{"us-east-1": lab}, map[string]map[string]Known{"us-east-1": {StandardVCPUs.Code: {5, "Service Quotas"}}})
	assert.Empty(t, warn)
	require.Len(t, short, 1, "a known vCPU quota of 5 refuses a lab of 8")
	assert.Contains(t, short[0].String(), "the class needs 8, the quota is 5 (Service Quotas); ask AWS for 8")
}

func TestVCPUs(t *testing.T) {
	for typ, want := range map[string]int{"t4g.nano": 2, "t3.large": 2, "t3.xlarge": 4, "m7g.medium": 1, "c7g.large": 2, "m6i.4xlarge": 16} {
		n, ok := VCPUs(typ)
		assert.True(t, ok, typ)
		assert.Equal(t, want, n, typ)
	}
	_, ok := VCPUs("m7g.metal")
	assert.False(t, ok, "metal sizes are not guessed")
}
