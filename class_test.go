package main

// The classroom under the real engine: the CLI, a file backend, the program
// inline, the AWS stand-in (see engine_test.go), each student's stack in a
// workspace of its own and a stand-in cloud of its own (their account).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"research-lab/internal/roster"
)

// classTemplate is the instructor's class template.
const classTemplate = `config:
  aws:region: us-east-1
  research-lab:sshPublicKey: ` + testPublicKey + `
  research-lab:adminCidrs:
    - 203.0.113.7/32
`

// testClass is a class of labs on the stand-in.
type testClass struct {
	t    *testing.T
	root string
	out  *syncBuffer
	opts classOptions
	// refused is a student whose cloud the stand-in cannot use: its
	// folder is a file, so the provider fails to configure.
	refused string
}

// syncBuffer is the class's output, written by every lab's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// roomyQuotas are an account whose quotas fit any test class.
var roomyQuotas = map[string]int{roster.VPCs.Code: 1000, roster.ElasticIPs.Code: 1000, roster.InternetGateways.Code: 1000, roster.StandardVCPUs.Code: 1000}

// newTestClass writes a roster of n students (s01, s02, ...) and the
// template; accounts gives some students an account of their own.
func newTestClass(t *testing.T, n, parallel int, accounts map[string]string) *testClass {
	t.Helper()
	requireTool(t, "pulumi")
	root := t.TempDir()
	csv := "id,name,email,account\n"
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("s%02d", i)
		csv += fmt.Sprintf("%s,Student %d,%s@example.edu,%s\n", id, i, id, accounts[id])
	}
	for name, text := range map[string]string{"roster.csv": csv, "Pulumi.class.yaml": classTemplate} {
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(text), 0o600))
	}
	for _, d := range []string{"state", "home", "cloud"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o700))
	}
	return &testClass{t: t, root: root, out: &syncBuffer{}, opts: classOptions{
		Roster: filepath.Join(root, "roster.csv"), Template: filepath.Join(root, "Pulumi.class.yaml"),
		Dir: filepath.Join(root, "class"), Handouts: filepath.Join(root, "handouts"), Role: "OrganizationAccountAccessRole",
		Parallel: parallel, HoursPerWeek: 40, Quotas: roomyQuotas,
	}}
}

// class reads the roster and the status file afresh, as a new run of the
// command does.
func (tc *testClass) class(only ...string) *class {
	tc.t.Helper()
	opts := tc.opts
	opts.Only = only
	c, err := newClass(opts, tc.out)
	require.NoError(tc.t, err)
	standin := standinDir(tc.t)
	c.env = func(s roster.Student) map[string]string {
		cloud := filepath.Join(tc.root, "cloud", s.ID)
		if s.ID == tc.refused {
			require.NoError(tc.t, os.WriteFile(cloud, nil, 0o600))
		} else {
			require.NoError(tc.t, os.MkdirAll(cloud, 0o700))
		}
		return map[string]string{
			"PULUMI_BACKEND_URL":       "file://" + filepath.Join(tc.root, "state"),
			"PULUMI_CONFIG_PASSPHRASE": enginePassphrase,
			"PULUMI_HOME":              filepath.Join(tc.root, "home"),
			"PULUMI_SKIP_UPDATE_CHECK": "true",
			"RESEARCH_LAB_STANDIN":     cloud,
			"PATH":                     standin + string(os.PathListSeparator) + os.Getenv("PATH"),
		}
	}
	return c
}

// world is a student's stand-in cloud.
func (tc *testClass) world(id string) (w struct {
	Instances map[string]struct{ Running bool }
}) {
	tc.t.Helper()
	b, err := os.ReadFile(filepath.Join(tc.root, "cloud", id, "world.json"))
	require.NoError(tc.t, err)
	require.NoError(tc.t, json.Unmarshal(b, &w))
	return w
}

func (tc *testClass) calls(id string) string {
	tc.t.Helper()
	b, err := os.ReadFile(filepath.Join(tc.root, "cloud", id, "calls.log"))
	require.NoError(tc.t, err)
	return string(b)
}

// states are the labs' states in the status file.
func (tc *testClass) states(c *class) map[string]string {
	out := map[string]string{}
	for _, s := range c.students {
		out[s.ID] = c.status.lab(s.ID).State
	}
	return out
}

func ids(n int, except ...string) []string {
	var out []string
	for i := 1; i <= n; i++ {
		if id := fmt.Sprintf("s%02d", i); !strings.Contains(strings.Join(except, " "), id) {
			out = append(out, id)
		}
	}
	return out
}

// classSize is the class the engine tests bring up: 40 labs under the
// engine take longer than a test should on a small machine, so the test
// class is smaller and BenchmarkClass measures 40.
const classSize = 6

// TestClassUpStopStartDestroy: a class comes up at parallel 4, one student
// whose lab the stand-in refuses ends failed while the others are up, the
// two students with accounts of their own deploy through their own assumed
// role; stop stops every instance, start starts them, destroy keeps every
// notebook bucket.
func TestClassUpStopStartDestroy(t *testing.T) {
	tc := newTestClass(t, classSize, 4, map[string]string{"s01": "111111111111", "s02": "222222222222"})
	tc.refused = "s03"
	c := tc.class()
	err := c.run(context.Background(), "up")
	require.Error(t, err, "a failed lab makes the run fail")
	assert.Contains(t, err.Error(), fmt.Sprintf("1 of %d labs failed", classSize))
	assert.Regexp(t, regexp.MustCompile(`(?m)^FAILED +WHY\ns03 +\S`), tc.out.String(), "the table names who failed and why")
	want := map[string]string{}
	for _, id := range ids(classSize) {
		want[id] = stateUp
	}
	want["s03"] = stateFailed
	assert.Equal(t, want, tc.states(c), "one refused lab stops no other")
	assert.Contains(t, tc.out.String(), fmt.Sprintf("%d/%d up, 1 failed", classSize-1, classSize), "the running count")

	for id, account := range map[string]string{"s01": "111111111111", "s02": "222222222222"} {
		l, err := c.labStack(context.Background(), roster.Student{ID: id, Account: account})
		require.NoError(t, err)
		role, err := l.GetConfig(context.Background(), "aws:assumeRole")
		require.NoError(t, err)
		assert.JSONEq(t, fmt.Sprintf(`{"roleArn": "arn:aws:iam::%s:role/OrganizationAccountAccessRole"}`, account), role.Value, "%s's stack assumes the role in their account", id)
	}
	l, err := c.labStack(context.Background(), roster.Student{ID: "s04"})
	require.NoError(t, err)
	_, err = l.GetConfig(context.Background(), "aws:assumeRole")
	assert.Error(t, err, "a student without an account deploys into the instructor's, with no role to assume")

	rest := ids(classSize, "s03")
	for _, step := range []struct {
		verb    string
		running bool
	}{{"stop", false}, {"start", true}} {
		c := tc.class(rest...)
		require.NoError(t, c.run(context.Background(), step.verb), "class %s", step.verb)
		for _, id := range rest {
			w := tc.world(id)
			require.Len(t, w.Instances, 4, "%s: the lab's instances", id)
			for inst, s := range w.Instances {
				assert.Equal(t, step.running, s.Running, "%s: after class %s, instance %s", id, step.verb, inst)
			}
		}
	}

	c = tc.class(rest...)
	require.NoError(t, c.run(context.Background(), "destroy"))
	for _, id := range rest {
		assert.Equal(t, stateDestroyed, c.status.lab(id).State)
		calls := tc.calls(id)
		assert.Contains(t, calls, "Delete "+typeInstance, "%s: destroy deletes the servers", id)
		assert.NotContains(t, calls, "Delete "+typeBucket, "%s: destroy keeps the notebook bucket", id)
	}
}
