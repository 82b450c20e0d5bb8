package main

// Every service the servers write is scored by systemd's own sandboxing
// analysis, offline: `systemd-analyze security --offline=yes` rates what a
// unit's processes may do from 0 (locked down) to 10 (fully exposed). The
// scores live in a baseline; a unit may only get better.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exposureBaseline holds "<unit> <score>" lines, one per unit name (a unit
// several servers write, or a variant changes, is held to its worst score).
const exposureBaseline = "testdata/unit-exposure.txt"

// updateExposure rewrites the baseline with the current scores: after
// hardening a unit, run
//
//	RESEARCH_LAB_UPDATE_EXPOSURE=1 go test -run TestUnitExposureNeverWorsens .
//
// and commit the file with the change.
const updateExposure = "RESEARCH_LAB_UPDATE_EXPOSURE"

var exposureRe = regexp.MustCompile(`Overall exposure level for (\S+): (\d+\.\d+)`)

func TestUnitExposureNeverWorsens(t *testing.T) {
	tool := requireTool(t, "systemd-analyze")
	scores := map[string]float64{}
	where := map[string][]string{}
	for server, units := range serversUnits(t) {
		root, names := unitRoot(t, units)
		for _, unit := range names {
			if !strings.HasSuffix(unit, ".service") {
				continue // timers run nothing themselves
			}
			out, err := exec.Command(tool, "security", "--offline=yes", "--root="+root, unit).CombinedOutput()
			require.NoError(t, err, "systemd-analyze security %s (%s):\n%s", unit, server, out)
			m := exposureRe.FindStringSubmatch(string(out))
			require.NotNil(t, m, "systemd-analyze security gave no exposure for %s (%s):\n%s", unit, server, out)
			score, err := strconv.ParseFloat(m[2], 64)
			require.NoError(t, err)
			scores[unit] = max(scores[unit], score)
			where[unit] = append(where[unit], server)
		}
	}

	if os.Getenv(updateExposure) == "1" {
		writeExposureBaseline(t, scores)
		t.Logf("wrote %s", exposureBaseline)
		return
	}
	baseline := readExposureBaseline(t)
	how := fmt.Sprintf("update it with %s=1 go test -run TestUnitExposureNeverWorsens . and commit it", updateExposure)
	for unit, score := range scores {
		sort.Strings(where[unit])
		was, ok := baseline[unit]
		if !ok {
			t.Errorf("%s (%s) has no exposure baseline in %s: it scores %.1f; %s", unit, strings.Join(where[unit], ", "), exposureBaseline, score, how)
			continue
		}
		assert.LessOrEqual(t, score, was+0.001, "%s (%s) is more exposed than its baseline in %s: %.1f, was %.1f; "+
			"see `systemd-analyze security --offline=yes <unit file>` for what it lost", unit, strings.Join(where[unit], ", "), exposureBaseline, score, was)
		if score < was-0.001 {
			t.Logf("%s scores %.1f, better than its baseline %.1f: %s", unit, score, was, how)
		}
	}
	for unit := range baseline {
		if _, ok := scores[unit]; !ok {
			t.Errorf("%s names %s, which no server writes any more: %s", exposureBaseline, unit, how)
		}
	}
}

func readExposureBaseline(t *testing.T) map[string]float64 {
	t.Helper()
	f, err := os.Open(exposureBaseline)
	require.NoError(t, err, "the exposure baseline is missing: create it with %s=1", updateExposure)
	defer f.Close()
	out := map[string]float64{}
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		require.Len(t, fields, 2, "%s: not \"<unit> <score>\": %q", exposureBaseline, line)
		score, err := strconv.ParseFloat(fields[1], 64)
		require.NoError(t, err, "%s: %q", exposureBaseline, line)
		_, dup := out[fields[0]]
		require.False(t, dup, "%s names %s twice", exposureBaseline, fields[0])
		out[fields[0]] = score
	}
	require.NoError(t, lines.Err())
	return out
}

func writeExposureBaseline(t *testing.T, scores map[string]float64) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# Exposure of every service the servers write, by systemd 252's
# systemd-analyze security --offline=yes (0 locked down, 10 fully exposed).
# TestUnitExposureNeverWorsens fails when a unit scores higher than here; a
# lower score passes. After hardening a unit, lower its line with
#   ` + updateExposure + `=1 go test -run TestUnitExposureNeverWorsens .
`)
	units := make([]string, 0, len(scores))
	for u := range scores {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		fmt.Fprintf(&b, "%s %.1f\n", u, scores[u])
	}
	require.NoError(t, os.WriteFile(exposureBaseline, []byte(b.String()), 0o644))
}
