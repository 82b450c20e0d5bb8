package main

// The classroom under the real engine: the CLI, a file backend, the program
// inline, the AWS stand-in (see engine_test.go), each student's stack in a
// workspace of its own and a stand-in cloud of its own (their account).

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	t    testing.TB
	root string
	out  *syncBuffer
	opts classOptions
	// refused is a student whose cloud the stand-in cannot use: its
	// folder is a file, so the provider fails to configure.
	refused string
	// serviceQuotas are the applied quotas the stand-in's Service Quotas
	// answers in the instructor's account ("CODE=N ..."); nil, the
	// instructor has no credentials.
	serviceQuotas *string
}

// roomyQuotas are an account whose quotas fit any test class.
var roomyQuotas = map[string]int{roster.VPCs.Code: 1000, roster.ElasticIPs.Code: 1000, roster.InternetGateways.Code: 1000, roster.StandardVCPUs.Code: 1000}

// newTestClass writes a roster of n students (s01, s02, ...) and the
// template; accounts gives some students an account of their own.
func newTestClass(t testing.TB, n, parallel int, accounts map[string]string) *testClass {
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
	c.env = func(s roster.Student) map[string]string {
		cloud := filepath.Join(tc.root, "cloud", s.ID)
		if s.ID == tc.refused {
			require.NoError(tc.t, os.WriteFile(cloud, nil, 0o600))
		} else {
			require.NoError(tc.t, os.MkdirAll(cloud, 0o700))
		}
		return tc.cloudEnv(cloud)
	}
	cloud := filepath.Join(tc.root, "cloud", "instructor")
	require.NoError(tc.t, os.MkdirAll(cloud, 0o700))
	c.accountEnv = tc.cloudEnv(cloud)
	if tc.serviceQuotas != nil {
		c.accountEnv["RESEARCH_LAB_STANDIN_QUOTAS"] = *tc.serviceQuotas
	}
	return c
}

// cloudEnv is the environment of a workspace on the stand-in cloud in
// folder cloud.
func (tc *testClass) cloudEnv(cloud string) map[string]string {
	return map[string]string{
		"PULUMI_BACKEND_URL":       "file://" + filepath.Join(tc.root, "state"),
		"PULUMI_CONFIG_PASSPHRASE": enginePassphrase,
		"PULUMI_HOME":              filepath.Join(tc.root, "home"),
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		"RESEARCH_LAB_STANDIN":     cloud,
		"PATH":                     standinDir(tc.t) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
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

// classSize is the class the engine test brings up: the 40.
const classSize = 40

// TestClassOfForty: a class of 40 at parallel 4, s01 and s02 in accounts
// of their own, s03's lab refused by the stand-in. The first `up` is
// killed (its context cancelled, as Ctrl-C does) once 10 labs are up; the
// same command again resumes: the interrupted stacks cleared with a
// message, every lab brought up once over both runs, s03 failed and the 39
// others up, the run failing with a table of who failed and why. s01 and
// s02 deploy through their own assumed role, s04 through none. status and
// handouts cover the class; stop stops every instance, start starts them,
// destroy keeps every notebook bucket.
func TestClassOfForty(t *testing.T) {
	tc := newTestClass(t, classSize, 4, map[string]string{"s01": "111111111111", "s02": "222222222222"})
	tc.refused = "s03"
	began := time.Now()
	c := tc.class()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	up := 0
	c.changed = func(_, state string) {
		mu.Lock()
		defer mu.Unlock()
		if state == stateUp {
			if up++; up == 10 {
				cancel()
			}
		}
	}
	err := c.run(ctx, "up")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "interrupted", "a cancelled run says it was interrupted")
	first := tc.out.String()
	require.Less(t, strings.Count(first, ": up ("), classSize-1, "the first run must stop before the class is up")

	c = tc.class()
	err = c.run(context.Background(), "up")
	t.Logf("class up of %d at parallel 4, killed and resumed: %s", classSize, time.Since(began).Round(time.Second))
	require.Error(t, err, "a failed lab makes the run fail")
	assert.Contains(t, err.Error(), fmt.Sprintf("1 of %d labs failed", classSize))
	out := tc.out.String()
	assert.Contains(t, out[len(first):], "resuming the interrupted `class up`")
	assert.Regexp(t, regexp.MustCompile(`(?m)^FAILED +WHY\ns03 +\S`), out[len(first):], "the table names who failed and why")
	want := map[string]string{}
	for _, id := range ids(classSize) {
		want[id] = stateUp
		if id != "s03" {
			assert.Equal(t, 1, strings.Count(out, id+": up ("), "%s must be brought up exactly once over both runs:\n%s", id, out)
		}
	}
	want["s03"] = stateFailed
	assert.Equal(t, want, tc.states(c), "one refused lab stops no other")
	assert.Contains(t, out, fmt.Sprintf("%d/%d up, 1 failed", classSize-1, classSize), "the running count")
	interrupted := regexp.MustCompile(`(?m)^(s\d+): the last run stopped during its up`).FindAllStringSubmatch(out, -1)
	assert.NotEmpty(t, interrupted, "the labs under way when the run was killed are cleared, with a message:\n%s", out)
	for _, m := range interrupted {
		assert.NotContains(t, first, m[1]+": up (", "%s was up before the kill, so it is not interrupted", m[1])
	}

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

	checkStatusAndHandouts(t, tc, c)

	// stop, start and destroy on part of the class (--only): eight labs,
	// those in accounts of their own and the last among them, the rest
	// left as they are. The engine's work per lab is what a class of 40
	// repeats; 40 of each would add some four minutes to the suite
	// (docs/class.md, Measured).
	part := []string{"s01", "s02", "s04", "s05", "s06", "s07", "s08", fmt.Sprintf("s%02d", classSize)}
	for _, step := range []struct {
		verb    string
		running bool
	}{{"stop", false}, {"start", true}} {
		began := time.Now()
		c := tc.class(part...)
		require.NoError(t, c.run(context.Background(), step.verb), "class %s", step.verb)
		t.Logf("class %s of %d: %s", step.verb, len(part), time.Since(began).Round(time.Second))
		for _, id := range append(part, "s09") {
			w := tc.world(id)
			require.Len(t, w.Instances, 4, "%s: the lab's instances", id)
			for inst, s := range w.Instances {
				assert.Equal(t, step.running || id == "s09", s.Running, "%s: after class %s --only %s, instance %s", id, step.verb, strings.Join(part, ","), inst)
			}
		}
	}

	began = time.Now()
	c = tc.class(part...)
	require.NoError(t, c.run(context.Background(), "destroy"))
	t.Logf("class destroy of %d: %s", len(part), time.Since(began).Round(time.Second))
	for _, id := range part {
		assert.Equal(t, stateDestroyed, c.status.lab(id).State)
		calls := tc.calls(id)
		assert.Contains(t, calls, "Delete "+typeInstance, "%s: destroy deletes the servers", id)
		assert.NotContains(t, calls, "Delete "+typeBucket, "%s: destroy keeps the notebook bucket", id)
	}
	assert.NotContains(t, tc.calls("s09"), "Delete "+typeInstance, "destroy --only leaves the others' labs")
}

// checkStatusAndHandouts: status prints the table and writes it as CSV and
// HTML; handouts writes each up student's files, 0600, outside the
// repository, with their own Jupyter password, which nothing prints.
func checkStatusAndHandouts(t *testing.T, tc *testClass, c *class) {
	t.Helper()
	began := time.Now()
	defer func() { t.Logf("class status and handouts of %d: %s", classSize, time.Since(began).Round(time.Second)) }()
	require.NoError(t, c.run(context.Background(), "status"))
	assert.Regexp(t, `(?m)^s04 +Student 4 +up +https://203\.0\.113\.\d+/ +\$\d+\.\d\d`, tc.out.String(), "the status table: id, name, state, Voila URL, monthly cost")
	assert.Regexp(t, `(?m)^s03 +Student 3 +failed +\S`, tc.out.String(), "the status table: the last error")
	csv, err := os.ReadFile(filepath.Join(tc.opts.Dir, "status.csv"))
	require.NoError(t, err)
	assert.Contains(t, string(csv), "s04,Student 4,up,https://203.0.113.", "status.csv")
	page, err := os.ReadFile(filepath.Join(tc.opts.Dir, "status.html"))
	require.NoError(t, err)
	assert.Contains(t, string(page), "<td>s04</td><td>Student 4</td><td>up</td>", "status.html")

	require.NoError(t, c.run(context.Background(), "handouts"))
	for _, id := range ids(classSize, "s03") {
		for _, ext := range []string{".md", ".html"} {
			info, err := os.Stat(filepath.Join(tc.opts.Handouts, id+ext))
			require.NoError(t, err, "%s's handout", id)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "%s's handout is the student's alone", id)
		}
	}
	// What each handout holds, and what nothing else does: for a few
	// students (reading a stack's secrets takes the CLI a while).
	for _, id := range []string{"s01", "s04", fmt.Sprintf("s%02d", classSize)} {
		l, err := c.labStack(context.Background(), roster.Student{ID: id})
		require.NoError(t, err)
		password, err := l.GetConfig(context.Background(), projectName+":jupyterPassword")
		require.NoError(t, err)
		require.True(t, password.Secret, "%s: the generated password is a stack secret", id)
		require.GreaterOrEqual(t, len(password.Value), minPasswordLength, "%s: a generated password the program accepts", id)
		for _, ext := range []string{".md", ".html"} {
			path := filepath.Join(tc.opts.Handouts, id+ext)
			info, err := os.Stat(path)
			require.NoError(t, err, "%s's handout", id)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "%s is the student's alone", path)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Contains(t, string(b), password.Value, "%s holds the student's Jupyter password", path)
			assert.Contains(t, string(b), "https://203.0.113.", "%s holds the Voila URL", path)
		}
		assert.NotContains(t, tc.out.String(), password.Value, "the classroom never prints a password")
		logs, err := os.ReadFile(filepath.Join(tc.opts.Dir, "logs", id+".log"))
		require.NoError(t, err)
		assert.NotContains(t, string(logs), password.Value, "the engine's log holds no password")
		stackFile, err := os.ReadFile(filepath.Join(tc.opts.Dir, "stacks", id, "Pulumi."+id+".yaml"))
		require.NoError(t, err)
		assert.NotContains(t, string(stackFile), password.Value, "the stack file holds the password encrypted only")
	}
	_, err = os.Stat(filepath.Join(tc.opts.Handouts, "s03.md"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no handout for a lab that is not up")
}

// TestClassPreflightRefusesSixLabsInOneAccount: offline (no credentials
// for Service Quotas), six labs in the instructor's account exceed AWS's
// default VPC and Elastic IP quotas: `up` refuses before any stack is
// made, naming each quota, and `plan` shows the class's plan and the same
// refusal. The vCPU quota, unknown offline, is warned of, not refused.
func TestClassPreflightRefusesSixLabsInOneAccount(t *testing.T) {
	tc := newTestClass(t, 6, 4, nil)
	tc.opts.Quotas = map[string]int{}
	c := tc.class()
	err := c.run(context.Background(), "up")
	require.Error(t, err)
	for _, want := range []string{"nothing was deployed", "VPCs per Region (L-F678F1CE): the class needs 6, the quota is 5 (AWS's default)",
		"EC2-VPC Elastic IPs (L-0263D0A3): the class needs 12, the quota is 5", "--desired-value 12", "not what the account already uses"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), roster.StandardVCPUs.Code, "offline, the vCPU quota is unknown: no refusal for it")
	assert.Contains(t, tc.out.String(), "quotas: us-east-1: could not read L-F678F1CE, L-0263D0A3, L-A4707A72, L-1216C47A from Service Quotas (",
		"the fallback to AWS's defaults is said")
	assert.Contains(t, tc.out.String(), "No valid credential sources found", "and why")
	assert.Regexp(t, fmt.Sprintf(`(?m)^quotas: warning: us-east-1: .*\(L-1216C47A\): the class needs %d; the account's quota is unknown here .*`+
		`aws service-quotas get-service-quota --region us-east-1 --service-code ec2 --quota-code L-1216C47A`, 6*labVCPUs(t, c)), tc.out.String(),
		"the vCPU need, and how to check the quota")
	entries, err := os.ReadDir(filepath.Join(tc.root, "state"))
	require.NoError(t, err)
	assert.Empty(t, entries, "no stack may be made before the preflight passes")

	err = c.run(context.Background(), "plan")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "L-F678F1CE")
	assert.Regexp(t, `(?m)^ +s06 +us-east-1 +instructor's +openvpn-as +nat-instance +\d+ +\$\d+\.\d\d +\$\d+\.\d\d +\$\d+\.\d\d$`, tc.out.String(), "a plan row per lab")
	assert.Regexp(t, `(?m)^ *class \(6 labs\) +\$330\.90 +\$69\.84 +\$160\.02$`, tc.out.String(), "the class's monthly cost: six times one lab's")

	tc.opts.Quotas = roomyQuotas
	require.NoError(t, tc.class().run(context.Background(), "plan"), "with the quotas raised, the class fits")

	one := newTestClass(t, 1, 4, nil)
	one.opts.Quotas = map[string]int{}
	require.NoError(t, one.class().run(context.Background(), "plan"), "offline, one lab fits AWS's defaults:\n%s", one.out.String())
	assert.Contains(t, one.out.String(), "quotas: warning: us-east-1: ", "with a warning of the unknown vCPU quota")
}

// labVCPUs is the vCPUs one lab of the class's template runs.
func labVCPUs(t *testing.T, c *class) int {
	t.Helper()
	plans, err := c.planLabs()
	require.NoError(t, err)
	n := plans[0].Needs[roster.StandardVCPUs.Code]
	require.Positive(t, n)
	return n
}

// TestClassPreflightReadsServiceQuotas: with credentials, the preflight
// reads the instructor's account's quotas from Service Quotas through the
// provider: at 50 VPCs and Elastic IPs a class of six fits where AWS's
// defaults refuse it; at 5 it is refused, each quota named with its need
// and the increase to ask for, the vCPUs too once their quota is known.
func TestClassPreflightReadsServiceQuotas(t *testing.T) {
	tc := newTestClass(t, 6, 4, nil)
	tc.opts.Quotas = map[string]int{}
	roomy := "L-F678F1CE=50 L-0263D0A3=50 L-A4707A72=50 L-1216C47A=1000"
	tc.serviceQuotas = &roomy
	require.NoError(t, tc.class().run(context.Background(), "plan"), "six labs fit quotas of 50:\n%s", tc.out.String())
	assert.NotContains(t, tc.out.String(), "could not read", "every quota read from Service Quotas")
	assert.NotContains(t, tc.out.String(), "quotas: warning", "the vCPU quota known")
	assert.Contains(t, tc.out.String(), "quotas: the labs in the instructor's account fit")

	tight := newTestClass(t, 6, 4, nil)
	tight.opts.Quotas = map[string]int{}
	five := "L-F678F1CE=5 L-0263D0A3=5 L-A4707A72=5 L-1216C47A=5"
	tight.serviceQuotas = &five
	c := tight.class()
	err := c.run(context.Background(), "up")
	require.Error(t, err, "six labs do not fit quotas of 5")
	vcpus := 6 * labVCPUs(t, c)
	for _, want := range []string{
		"us-east-1: VPCs per Region (L-F678F1CE): the class needs 6, the quota is 5 (Service Quotas); ask AWS for 6: " +
			"aws service-quotas request-service-quota-increase --region us-east-1 --service-code vpc --quota-code L-F678F1CE --desired-value 6",
		"us-east-1: EC2-VPC Elastic IPs (L-0263D0A3): the class needs 12, the quota is 5 (Service Quotas); ask AWS for 12: " +
			"aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-0263D0A3 --desired-value 12",
		"us-east-1: Internet gateways per Region (L-A4707A72): the class needs 6, the quota is 5 (Service Quotas)",
		fmt.Sprintf("(L-1216C47A): the class needs %d, the quota is 5 (Service Quotas); ask AWS for %d", vcpus, vcpus),
	} {
		assert.Contains(t, err.Error(), want)
	}
	entries, err := os.ReadDir(filepath.Join(tight.root, "state"))
	require.NoError(t, err)
	assert.Empty(t, entries, "no stack may be made before the preflight passes")
}

// TestClassRefusesABadRoster: the command refuses a bad roster before
// anything else, each problem with its line.
func TestClassRefusesABadRoster(t *testing.T) {
	dir := t.TempDir()
	rosterFile := filepath.Join(dir, "roster.csv")
	require.NoError(t, os.WriteFile(rosterFile, []byte("id,email,region\nada,ada@example.edu,us-east-1\nada,not-an-email,mars-1\n"), 0o600))
	var stdout, stderr strings.Builder
	code := runCommand([]string{"class", "up", "--roster", rosterFile, "--dir", filepath.Join(dir, "class")}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	for _, want := range []string{"roster.csv:3: id \"ada\" again (first on line 2)", "roster.csv:3: email \"not-an-email\"", "roster.csv:3: region \"mars-1\""} {
		assert.Contains(t, stderr.String(), want)
	}
	_, err := os.Stat(filepath.Join(dir, "class"))
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing is made for a refused roster")
}

func TestClassRetriesThrottling(t *testing.T) {
	saved := throttlingBackoff
	throttlingBackoff = []time.Duration{time.Millisecond, time.Millisecond}
	t.Cleanup(func() { throttlingBackoff = saved })
	calls := 0
	err := withThrottlingRetries(context.Background(), func() error {
		if calls++; calls < 3 {
			return errors.New("creating EC2 Instance: operation error EC2: RunInstances, api error RequestLimitExceeded: Request limit exceeded.")
		}
		return nil
	})
	assert.NoError(t, err, "a throttled run is retried")
	assert.Equal(t, 3, calls)
	calls = 0
	err = withThrottlingRetries(context.Background(), func() error { calls++; return errors.New("InvalidAMIID.NotFound") })
	assert.Error(t, err)
	assert.Equal(t, 1, calls, "any other error is not retried")
}

func TestClassFirstLineOfWhy(t *testing.T) {
	err := errors.New("failed to run update: exit status 1\ncode: 1\nstdout: Updating (s01):\n" +
		"    error: an unhandled error occurred: 1 error occurred:\n    \t* invalid configuration of stack \"s01\" (2 errors), nothing was declared:\n")
	assert.Equal(t, `invalid configuration of stack "s01" (2 errors), nothing was declared:`, firstLine(err))
}

// BenchmarkClass brings a class up on the stand-in at parallel 1, 4 and 8:
// the wall time per class, and the orchestrator's peak resident memory
// (the engine's and the providers' processes are its children, not
// counted). RESEARCH_LAB_CLASS_SIZE sets the class (default 40).
func BenchmarkClass(b *testing.B) {
	size := 40
	if v := os.Getenv("RESEARCH_LAB_CLASS_SIZE"); v != "" {
		var err error
		size, err = strconv.Atoi(v)
		require.NoError(b, err, "RESEARCH_LAB_CLASS_SIZE")
	}
	for _, parallel := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("labs=%d/parallel=%d", size, parallel), func(b *testing.B) {
			peak := 0.0
			for b.Loop() {
				b.StopTimer()
				tc := newTestClass(b, size, parallel, nil)
				c := tc.class()
				resetPeakRSS(b)
				b.StartTimer()
				require.NoError(b, c.run(context.Background(), "up"), tc.out.String())
				b.StopTimer()
				peak = max(peak, peakRSSMiB(b))
				b.StartTimer()
			}
			b.ReportMetric(peak, "peak-MiB")
		})
	}
}

// resetPeakRSS starts the process's peak resident set size afresh (Linux:
// proc(5), /proc/PID/clear_refs, 5).
func resetPeakRSS(b *testing.B) {
	b.Helper()
	require.NoError(b, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o200), "resetting the peak RSS")
}

// peakRSSMiB is VmHWM of /proc/self/status, in MiB.
func peakRSSMiB(b *testing.B) float64 {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(status)
	require.NotNil(b, m, "VmHWM in /proc/self/status")
	kb, err := strconv.Atoi(string(m[1]))
	require.NoError(b, err)
	return float64(kb) / 1024
}

func TestClassUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"no verb":      {"class"},
		"unknown verb": {"class", "teach", "--roster", "roster.csv"},
		"no roster":    {"class", "up"},
		"parallel 0":   {"class", "up", "--roster", "roster.csv", "--parallel", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			assert.Equal(t, 2, runCommand(args, &stdout, &stderr), "a usage error exits 2")
			assert.NotEmpty(t, stderr.String(), "and says what is wrong")
		})
	}
}

// TestClassStackFileFollowsTheTemplate: a student's stack file takes the
// template as it is now, and keeps what is the student's alone.
func TestClassStackFileFollowsTheTemplate(t *testing.T) {
	student := []byte(`encryptionsalt: v1:student-salt
config:
  aws:region: us-east-1
  aws:assumeRole:
    roleArn: arn:aws:iam::111122223333:role/OrganizationAccountAccessRole
  research-lab:adminCidrs:
    - 203.0.113.7/32
  research-lab:jupyterPassword:
    secure: v1:student-ciphertext
`)
	template := []byte(`config:
  aws:region: us-east-1
  research-lab:adminCidrs:
    - 198.51.100.0/24
`)
	b, err := stackFileFor(template, student)
	require.NoError(t, err)
	assert.YAMLEq(t, `encryptionsalt: v1:student-salt
config:
  aws:region: us-east-1
  aws:assumeRole:
    roleArn: arn:aws:iam::111122223333:role/OrganizationAccountAccessRole
  research-lab:adminCidrs:
    - 198.51.100.0/24
  research-lab:jupyterPassword:
    secure: v1:student-ciphertext
`, string(b), "the template's new adminCidrs, the student's role, password and salt")

	first, err := stackFileFor(template, nil)
	require.NoError(t, err)
	assert.Equal(t, string(template), string(first), "a new student's stack file is the template")

	_, err = stackFileFor([]byte("encryptionsalt: v1:template-salt\nconfig:\n  research-lab:vpnAdminPassword:\n    secure: v1:x\n"), student)
	assert.ErrorContains(t, err, "encrypted with another encryptionsalt", "a template secret the student's stack could not decrypt")
}

// TestClassCheck runs `class check` over a class on the engine, inside a
// network namespace of its own where the stand-in's public addresses are
// the test's (TestClassCheckInNamespace).
func TestClassCheck(t *testing.T) {
	requireTool(t, "ip")
	requireTool(t, "pulumi")
	ns := newNetns(t, "cls")
	cmd := ns.cmd(os.Args[0], "-test.run=^TestClassCheckInNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "RESEARCH_LAB_CLASS_CHECK=1")
	out, _ := cmd.CombinedOutput()
	require.Contains(t, string(out), "--- PASS: TestClassCheckInNamespace", "the class check in the namespace:\n%s", out)
}

// TestClassCheckInNamespace: three students, s01's lab healthy, s02's
// Voila server answering SSH on its public address, s03's lab refused by
// the stand-in: `class check` prints one verdict row per student (PASS,
// FAIL with its first failure, SKIP) and exits 1; for s01 alone it exits 0.
// Run by TestClassCheck; on its own it does nothing.
func TestClassCheckInNamespace(t *testing.T) {
	if os.Getenv("RESEARCH_LAB_CLASS_CHECK") == "" {
		t.Skip("runs inside TestClassCheck's network namespace")
	}
	tc := newTestClass(t, 3, 3, nil)
	tc.refused = "s03"
	// Each student's stand-in cloud hands out addresses of its own.
	require.NoError(t, os.MkdirAll(filepath.Join(tc.root, "cloud", "s02"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(tc.root, "cloud", "s02", "world.json"), []byte(`{"Serial": 120}`), 0o600))
	c := tc.class()
	require.Error(t, c.run(context.Background(), "up"), "s03's lab is refused")
	require.Equal(t, map[string]string{"s01": stateUp, "s02": stateUp, "s03": stateFailed}, tc.states(c), tc.out.String())

	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<ul><li><a href="/voila/render/%s">%s</a></li></ul>`, sampleNotebookName, sampleNotebookName)
	})
	listen := func(addr string) net.Listener {
		l, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	}
	serve := func(l net.Listener, h http.Handler) {
		// The check's TLS probes trust no certificate: quiet the
		// handshake errors they cause.
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	for _, id := range []string{"s01", "s02"} {
		l, err := c.labStack(context.Background(), roster.Student{ID: id})
		require.NoError(t, err)
		outputs, err := l.Outputs(context.Background())
		require.NoError(t, err)
		ip := func(key string) string {
			v, _ := outputs[key].Value.(string)
			require.NotNil(t, net.ParseIP(v), "%s's %s: %q", id, key, v)
			out, err := exec.Command("ip", "addr", "add", v+"/32", "dev", "lo").CombinedOutput()
			require.NoError(t, err, "ip addr add %s: %s", v, out)
			return v
		}
		vpn, voila := ip("vpnPublicIp"), ip("voilaPublicIp")
		ip("natPublicIp")
		cert, _ := testCertificate(t, vpn, voila)
		serve(tls.NewListener(listen(vpn+":943"), &tls.Config{Certificates: []tls.Certificate{cert}}), site)
		listen(vpn + ":22") // SSH on the VPN server is the admins'
		serve(tls.NewListener(listen(voila+":443"), &tls.Config{Certificates: []tls.Certificate{cert}}), site)
		serve(listen(voila+":80"), site)
		if id == "s02" {
			listen(voila + ":22")
		}
	}

	for name, value := range tc.cloudEnv(filepath.Join(tc.root, "cloud", "instructor")) {
		t.Setenv(name, value)
	}
	args := []string{"class", "check", "--roster", tc.opts.Roster, "--template", tc.opts.Template, "--dir", tc.opts.Dir}
	var stdout, stderr strings.Builder
	code := runCommand(args, &stdout, &stderr)
	t.Logf("class check:\n%s%s", stdout.String(), stderr.String())
	assert.Equal(t, 1, code, "a lab that fails its check fails the run")
	assert.Contains(t, stderr.String(), "1 of 3 labs do not pass their check; 1 of 3 are not up, so not checked")
	rows := regexp.MustCompile(`(?m)^(s\d\d) +Student \d +(\S+) +(.*)$`).FindAllStringSubmatch(stdout.String(), -1)
	require.Len(t, rows, 3, "one verdict row per student:\n%s", stdout.String())
	assert.Equal(t, []string{"s01", "PASS"}, rows[0][1:3])
	assert.Regexp(t, `^\d+ of \d+ rules hold`, rows[0][3])
	assert.Equal(t, []string{"s02", "FAIL"}, rows[1][1:3])
	assert.Regexp(t, `first: FAIL +22/tcp \(SSH\) is closed on [^']*Voila[^']*'s public address 203\.0\.113\.\d+: it answers`, rows[1][3], "the first failure")
	assert.Equal(t, []string{"s03", "SKIP", "the lab is failed"}, rows[2][1:4])

	stdout.Reset()
	stderr.Reset()
	assert.Equal(t, 0, runCommand(append(args, "--only", "s01"), &stdout, &stderr), "the healthy lab alone passes:\n%s%s", stdout.String(), stderr.String())
}
