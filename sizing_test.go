package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"research-lab/internal/wgkey"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// teamOfConfig is a WireGuard team of n members (m001, m002, ...), each
// with a password and a key of their own.
func teamOfConfig(t *testing.T, n int, changes map[string]string) (map[string]string, []string) {
	t.Helper()
	var members []map[string]string
	for i := range n {
		name := fmt.Sprintf("m%03d", i+1)
		sum := sha256.Sum256([]byte("research-lab test member " + name))
		_, pub, err := wgkey.FromBytes(sum[:])
		require.NoError(t, err)
		members = append(members, map[string]string{"name": name, "password": "pass-of-" + name + "-ok", "wireguardPublicKey": pub})
	}
	b, err := json.Marshal(members)
	require.NoError(t, err)
	all := map[string]string{"vpn": "wireguard", "members": string(b), "jupyterPassword": "-", "vpnAdminPassword": "-"}
	all["wireguardPrivateKey"], _ = testKeyPair(t, 7)
	for k, v := range changes {
		all[k] = v
	}
	return stackConfig(all), append([]string{"research-lab:members", "research-lab:wireguardPrivateKey"}, secretKeys...)
}

// sizedFor is the sizing of a team of n with the configuration's defaults.
func sizedFor(t *testing.T, n int, changes map[string]string) *hubSizing {
	t.Helper()
	c := &labConfig{Members: make([]member, n), MemberMemoryMiB: defaultMemberMemoryMiB}
	for k, v := range changes {
		require.NoError(t, configKeyNamed(t, k).Parse(c, v))
	}
	s, err := sizeHub(c)
	require.NoError(t, err)
	return s
}

func configKeyNamed(t *testing.T, name string) configKey {
	for _, k := range configKeys {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no configuration key %s", name)
	return configKey{}
}

// TestTeamServerIsSizedForTheTeam: teams of 1, 10, 40 and 100 each get a
// server that holds their members at work at once with their cap and the
// server's own memory, the cheapest that does (every cheaper type the lab
// chooses from would not), and a disk that grows with the team.
func TestTeamServerIsSizedForTheTeam(t *testing.T) {
	types := map[string]int{}
	lastDisk := 0
	for _, n := range []int{1, 10, 40, 100} {
		s := sizedFor(t, n, nil)
		require.True(t, s.Chosen)
		assert.GreaterOrEqual(t, s.TypeMiB, s.Active*defaultMemberMemoryMiB+hubOverheadMiB, "a team of %d on %s: %d active members of %d MiB must fit", n, s.Type, s.Active, defaultMemberMemoryMiB)
		for _, cheaper := range jupyterTypes {
			if cheaper == s.Type {
				break
			}
			assert.Less(t, instanceMemoryMiB[cheaper], s.NeedMiB, "a team of %d: %s is cheaper than %s and would hold it", n, cheaper, s.Type)
		}
		assert.Greater(t, s.RootGB, lastDisk, "a team of %d must get more disk than a smaller one", n)
		assert.GreaterOrEqual(t, s.RootGB, jupyterRootGB+n*memberDiskGB, "a team of %d: the system's disk and %d GB per member", n, memberDiskGB)
		lastDisk = s.RootGB
		types[s.Type]++
	}
	assert.Len(t, types, 4, "teams of 1, 10, 40 and 100 must get four different servers: %v", types)
	assert.Equal(t, 1, sizedFor(t, 1, nil).Active, "a member alone is at work whenever the server is")
	assert.Equal(t, 5, sizedFor(t, 5, nil).Active, "a small team is all at work at once")
	assert.Less(t, sizedFor(t, 100, nil).Active, 50, "a hundred members are not all at work at once")
	assert.Equal(t, 100, sizedFor(t, 100, map[string]string{"activeMembers": "100"}).Active, "activeMembers says how many are")
	assert.Equal(t, "t4g.xlarge", sizedFor(t, 10, map[string]string{"memberMemoryMiB": "2048"}).Type, "7 members of 2 GiB and the server's 1 GiB need 15 GiB")
}

// TestJupyterTypesClimbInPriceAndMemory: the types a team's server is chosen
// from are each dearer and larger than the one before, in every region the
// plan prices, so that the first that fits is the cheapest that does.
func TestJupyterTypesClimbInPriceAndMemory(t *testing.T) {
	for region, p := range prices.Regions {
		for i, typ := range jupyterTypes {
			require.Contains(t, instanceMemoryMiB, typ, "%s: its memory must be known", typ)
			require.Contains(t, p.InstanceHourly, typ, "%s: prices.json must price it in %s", typ, region)
			if i > 0 {
				prev := jupyterTypes[i-1]
				assert.Greater(t, p.InstanceHourly[typ], p.InstanceHourly[prev], "%s must cost more than %s in %s", typ, prev, region)
				assert.Greater(t, instanceMemoryMiB[typ], instanceMemoryMiB[prev], "%s must have more memory than %s", typ, prev)
			}
		}
	}
}

// TestTeamTooBigForAnyTypeIsRefused: a team no type holds is refused before
// anything is declared, with what to change.
func TestTeamTooBigForAnyTypeIsRefused(t *testing.T) {
	cfg, secrets := teamOfConfig(t, 12, map[string]string{"memberMemoryMiB": "65536", "activeMembers": "12"})
	_, err := runUnderMocks("dev", cfg, secrets)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "12 active members of 65536 MiB each")
	assert.Contains(t, err.Error(), "lower memberMemoryMiB or activeMembers, or set jupyterInstanceType")
}

// TestTooSmallJupyterTypeWarns: a type the owner chose that cannot hold the
// team is kept, with a warning that names the type that fits.
func TestTooSmallJupyterTypeWarns(t *testing.T) {
	cfg, secrets := teamOfConfig(t, 10, map[string]string{"jupyterInstanceType": "t4g.medium"})
	run, err := runUnderMocks("dev", cfg, secrets)
	require.NoError(t, err)
	assert.Equal(t, "t4g.medium", propString(one(t, run, typeInstance, "HOL02-Jupyter").Inputs, "instanceType"), "the owner's type is the one deployed")
	warned := strings.Join(run.Infra.Config.Warnings, "\n")
	assert.Contains(t, warned, "jupyterInstanceType t4g.medium has 4096 MiB, and 7 active members of 1024 MiB each with the server's 1024 MiB need 8192 MiB")
	assert.Contains(t, warned, "t4g.large (8192 MiB) fits")

	single, err := runUnderMocks("dev", stackConfig(map[string]string{"memberMemoryMiB": "2048"}), secretKeys)
	require.NoError(t, err)
	assert.Equal(t, defaultJupyterType, single.Infra.Config.JupyterType, "a single researcher keeps the default type")
	assert.Contains(t, strings.Join(single.Infra.Config.Warnings, "\n"), "memberMemoryMiB is set but not used by this lab")
}

// TestAGrowingTeamChangesNoUserData: a member who takes the team to a larger
// server changes its type (in place) and its disk, never a server's
// userdata, so no server is replaced.
func TestAGrowingTeamChangesNoUserData(t *testing.T) {
	deploy := func(n int) *mockRun {
		cfg, secrets := teamOfConfig(t, n, nil)
		run, err := runUnderMocks("dev", cfg, secrets)
		require.NoError(t, err)
		return run
	}
	before, after := deploy(11), deploy(12)
	jupyter := func(run *mockRun) recordedResource { return one(t, run, typeInstance, "HOL02-Jupyter") }
	require.NotEqual(t, propString(jupyter(before).Inputs, "instanceType"), propString(jupyter(after).Inputs, "instanceType"),
		"the twelfth member must take the team to a larger server (the test's premise)")
	for _, in := range before.Mocks.ofType(typeInstance) {
		assert.Equal(t, userDataOf(t, in), userDataOf(t, one(t, after, typeInstance, in.Name)), "%s's userdata must not change when a member joins", in.Name)
	}
}

// TestDocsTeamSizingIsThePlans: docs/team.md's sizing table is what the
// program chooses for teams of 1, 10, 40 and 100.
func TestDocsTeamSizingIsThePlans(t *testing.T) {
	var want strings.Builder
	for _, n := range []int{1, 10, 40, 100} {
		s := sizedFor(t, n, nil)
		fmt.Fprintf(&want, "| %d | %d | %d MiB | `%s` (%d GiB) | %d MiB | %d GB |\n", n, s.Active, s.NeedMiB, s.Type, s.TypeMiB/1024, (s.TypeMiB-hubOverheadMiB)/s.Active, s.RootGB)
	}
	m := regexp.MustCompile(`(?s)<!-- team-sizing:start[^>]*-->\n\|[^\n]*\n\|[-|]+\n(.*?)<!-- team-sizing:end -->`).FindStringSubmatch(doc(t, "docs/team.md"))
	require.NotNil(t, m, "docs/team.md has no team-sizing table")
	assert.Equal(t, want.String(), m[1], "docs/team.md's team sizes are not the program's")
}

// membersYAML writes a members list (JSON, as the configuration holds it)
// as a stack file does, each password a secret.
func membersYAML(t *testing.T, list string) string {
	var members []map[string]string
	require.NoError(t, json.Unmarshal([]byte(list), &members))
	var b strings.Builder
	for i, m := range members {
		fmt.Fprintf(&b, "    - name: %s\n      password:\n        secure: AAABAEncrypted%d\n", m["name"], i)
		if k := m["wireguardPublicKey"]; k != "" {
			fmt.Fprintf(&b, "      wireguardPublicKey: %s\n", k)
		}
	}
	return b.String()
}

// TestPlanSizesTeams: the plan of a team of 1, 10, 40 or 100 names the
// server it chose, why, and what each member at work gets.
func TestPlanSizesTeams(t *testing.T) {
	for _, n := range []int{1, 10, 40, 100} {
		cfg, _ := teamOfConfig(t, n, nil)
		stack := "config:\n  research-lab:keyName: vockey\n  research-lab:vpn: wireguard\n  research-lab:wireguardPrivateKey:\n    secure: AAABAEncrypted\n" +
			"  research-lab:members:\n" + membersYAML(t, cfg["research-lab:members"])
		var out strings.Builder
		require.NoError(t, runPlan([]string{"--dir", stackDir(t, stack), "--stack", "test"}, &out), "a team of %d must plan", n)
		s := sizedFor(t, n, nil)
		assert.Contains(t, out.String(), fmt.Sprintf("Jupyter server for %d members: %s, the cheapest that holds them\n", n, s.Type), "the plan of a team of %d", n)
		assert.Contains(t, out.String(), fmt.Sprintf("needs %d MiB (%d x %d + %d for the server itself); %s has %d MiB", s.NeedMiB, s.Active, defaultMemberMemoryMiB, hubOverheadMiB, s.Type, s.TypeMiB), "the plan of a team of %d", n)
		assert.Contains(t, out.String(), fmt.Sprintf("EC2 %s (Jupyter)", s.Type), "the plan of a team of %d prices the server it chose", n)
	}
}
