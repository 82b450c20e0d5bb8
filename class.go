package main

// The classroom: `go run . class <verb> --roster FILE` drives one stack per
// student through the Automation API, as pulumi/automation-api-examples'
// go/multi_stack_orchestration does: the program passed as a function, one
// workspace per stack (stacks in one workspace race: pulumi#8186), one
// goroutine per lab under a semaphore, a status file out. docs/class.md is
// the instructor's guide.

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"research-lab/internal/roster"
	"research-lab/internal/wgkey"
)

// Lab states in the class's status file.
const (
	statePending   = "pending"
	stateUp        = "up"
	stateStopped   = "stopped"
	stateDestroyed = "destroyed"
	stateFailed    = "failed"
)

// classVerbs are the verbs, in the order an instructor uses them.
var classVerbs = []string{"plan", "up", "stop", "start", "status", "check", "handouts", "destroy"}

// classUsage is the command's usage.
const classUsage = `usage: go run . class VERB --roster FILE [flags]
verbs: plan, up, stop, start, status, check, handouts, destroy (see docs/class.md)
`

type classOptions struct {
	Roster       string
	Template     string // the class template: a stack file
	Dir          string // the class folder: the status file, the stacks' folders
	Handouts     string
	Role         string
	Parallel     int
	Only         []string
	HoursPerWeek float64
	Quotas       map[string]int // applied quota values by code
}

// class is one run of a verb over the roster.
type class struct {
	opts     classOptions
	students []roster.Student
	template []byte // the template stack file
	project  []byte // Pulumi.yaml
	repo     string // the repository (the project folder), absolute
	out      io.Writer
	status   *classStatus
	// env adds to a student's workspace environment (the tests' stand-in
	// cloud); nil in use, where the instructor's environment is inherited.
	env func(roster.Student) map[string]string
	// accountEnv adds to the environment of the quota lookup in the
	// instructor's account (the tests' stand-in cloud); nil in use.
	accountEnv map[string]string
	// changed, when set, is told every state change (the tests).
	changed func(id, state string)
}

// runClass is `go run . class VERB ...`; it returns the exit status.
func runClass(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || !slices.Contains(classVerbs, args[0]) {
		fmt.Fprint(stderr, classUsage)
		return 2
	}
	verb := args[0]
	opts, err := parseClassFlags(verb, args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(stderr, "research-lab class:", err)
		}
		return 2
	}
	c, err := newClass(opts, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "research-lab class:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := c.run(ctx, verb); err != nil {
		fmt.Fprintln(stderr, "research-lab class:", err)
		return 1
	}
	return 0
}

// quotaFlag is --quota CODE=N, repeated.
type quotaFlag map[string]int

func (q quotaFlag) String() string { return "" }

func (q quotaFlag) Set(v string) error {
	code, n, ok := strings.Cut(v, "=")
	value, err := strconv.Atoi(n)
	if !ok || err != nil || value < 0 {
		return fmt.Errorf("%q: want CODE=N, for example L-F678F1CE=20", v)
	}
	q[code] = value
	return nil
}

func parseClassFlags(verb string, args []string, stderr io.Writer) (classOptions, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return classOptions{}, fmt.Errorf("finding the home folder: %w", err)
	}
	opts := classOptions{Quotas: map[string]int{}}
	fs := flag.NewFlagSet("class "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.Roster, "roster", "", "the roster `FILE` (CSV: id,name,email[,account][,region])")
	fs.StringVar(&opts.Template, "template", "Pulumi.class.yaml", "the class template: a stack `FILE` every student's stack starts from")
	fs.StringVar(&opts.Dir, "dir", filepath.Join(home, "research-lab-class"), "the class `FOLDER`: status file, the students' stacks")
	fs.StringVar(&opts.Handouts, "handouts", "", "the handouts' `FOLDER`, outside the repository (default: the class folder's handouts)")
	fs.StringVar(&opts.Role, "role", "OrganizationAccountAccessRole", "the `ROLE` assumed in a student's account (the account column)")
	fs.IntVar(&opts.Parallel, "parallel", 4, "`N` labs at a time")
	only := fs.String("only", "", "only the students with these `IDS` (comma-separated)")
	fs.Float64Var(&opts.HoursPerWeek, "hours-per-week", 40, "`HOURS` a week the labs run, for plan's part-time cost")
	fs.Var(quotaFlag(opts.Quotas), "quota", "an applied quota `CODE=N` for the preflight (repeat; default: read from Service Quotas, else AWS's defaults)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, err
		}
		return opts, errUsage
	}
	switch {
	case fs.NArg() > 0:
		return opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case opts.Roster == "":
		return opts, errors.New("--roster FILE is required")
	case opts.Parallel < 1:
		return opts, fmt.Errorf("--parallel %d: at least 1", opts.Parallel)
	case !(opts.HoursPerWeek >= 0 && opts.HoursPerWeek <= hoursInWeek):
		return opts, fmt.Errorf("--hours-per-week %g: must be between 0 and %d", opts.HoursPerWeek, hoursInWeek)
	}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	if opts.Handouts == "" {
		opts.Handouts = filepath.Join(opts.Dir, "handouts")
	}
	return opts, nil
}

// newClass reads the roster, the template and Pulumi.yaml (from the
// current folder, the repository) and the class's status file.
func newClass(opts classOptions, out io.Writer) (*class, error) {
	f, err := os.Open(opts.Roster)
	if err != nil {
		return nil, fmt.Errorf("reading the roster: %w", err)
	}
	defer f.Close()
	students, err := roster.Parse(f, opts.Roster, checkRegion)
	if err != nil {
		return nil, err
	}
	for _, id := range opts.Only {
		if !slices.ContainsFunc(students, func(s roster.Student) bool { return s.ID == id }) {
			return nil, fmt.Errorf("--only %s: no such id in %s", id, opts.Roster)
		}
	}
	if len(opts.Only) > 0 {
		students = slices.DeleteFunc(students, func(s roster.Student) bool { return !slices.Contains(opts.Only, s.ID) })
	}
	c := &class{opts: opts, students: students, out: out}
	if c.repo, err = filepath.Abs("."); err != nil {
		return nil, err
	}
	if c.project, err = os.ReadFile("Pulumi.yaml"); err != nil {
		return nil, fmt.Errorf("run the classroom in the repository, beside Pulumi.yaml: %w", err)
	}
	if c.template, err = os.ReadFile(opts.Template); err != nil {
		return nil, fmt.Errorf("reading the class template: %w", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("making the class folder: %w", err)
	}
	if c.status, err = loadClassStatus(filepath.Join(opts.Dir, "status.json")); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *class) run(ctx context.Context, verb string) error {
	switch verb {
	case "plan":
		return c.plan(ctx)
	case "status":
		return c.report()
	case "check":
		return c.check(ctx)
	case "handouts":
		return c.handouts(ctx)
	case "up":
		if err := c.preflight(ctx); err != nil {
			return err
		}
	}
	return c.orchestrate(ctx, verb)
}

// studentDir is a student's project folder: Pulumi.yaml, their stack file,
// and links to what the program reads relative to the project folder.
func (c *class) studentDir(s roster.Student) (string, error) {
	dir := filepath.Join(c.opts.Dir, "stacks", s.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), c.project, 0o600); err != nil {
		return "", err
	}
	for _, d := range []string{acmeModuleDir, "hub-proxy"} {
		// Made afresh: a class folder kept elsewhere (a CI checkout) must
		// not link to another machine's repository.
		link := filepath.Join(dir, d)
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if err := os.Symlink(filepath.Join(c.repo, d), link); err != nil {
			return "", err
		}
	}
	file := filepath.Join(dir, "Pulumi."+s.ID+".yaml")
	current, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	merged, err := stackFileFor(c.template, current)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return dir, os.WriteFile(file, merged, 0o600)
}

// stackFileFor is a student's stack file at each run: the template's
// configuration as it is now, and from the student's file what is theirs
// alone (keys the template does not set: their assumed role, their
// generated secrets) and the settings that encrypt those secrets.
func stackFileFor(template, current []byte) ([]byte, error) {
	var tmpl, cur map[string]any
	if err := yaml.Unmarshal(template, &tmpl); err != nil {
		return nil, fmt.Errorf("reading the class template: %w", err)
	}
	if err := yaml.Unmarshal(current, &cur); err != nil {
		return nil, fmt.Errorf("reading the student's stack file: %w", err)
	}
	if cur == nil {
		return template, nil
	}
	out := map[string]any{}
	for k, v := range tmpl {
		out[k] = v
	}
	config, _ := tmpl["config"].(map[string]any)
	merged := map[string]any{}
	for k, v := range config {
		merged[k] = v
	}
	own, _ := cur["config"].(map[string]any)
	for k, v := range own {
		if _, set := config[k]; !set {
			merged[k] = v
		}
	}
	out["config"] = merged
	for _, k := range []string{"encryptionsalt", "secretsprovider", "encryptedkey"} {
		v, ok := cur[k]
		if !ok {
			continue
		}
		if t, ok := tmpl[k]; ok && t != v && holdsSecure(config) {
			return nil, fmt.Errorf("the class template's secrets are encrypted with another %s than the student's: "+
				"set them in the template before the first run, or on each student's stack", k)
		}
		out[k] = v
	}
	return yaml.Marshal(out)
}

// holdsSecure says whether a stack file's value holds an encrypted one.
func holdsSecure(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["secure"]; ok && len(v) == 1 {
			return true
		}
		for _, e := range v {
			if holdsSecure(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(v, holdsSecure)
	}
	return false
}

// labStack is a student's stack in a workspace of its own, with the
// program inline.
type labStack struct {
	auto.Stack
	dir   string
	keys  []string        // the stack's configuration keys, read before each run
	infra *infrastructure // what the last run declared
}

func (c *class) labStack(ctx context.Context, s roster.Student) (*labStack, error) {
	dir, err := c.studentDir(s)
	if err != nil {
		return nil, fmt.Errorf("the student's folder: %w", err)
	}
	l := &labStack{dir: dir}
	program := func(ctx *pulumi.Context) error {
		infra, err := createInfrastructure(withStackKeys(ctx, l.keys))
		l.infra = infra
		return err
	}
	opts := []auto.LocalWorkspaceOption{auto.WorkDir(dir), auto.Program(program)}
	if c.env != nil {
		opts = append(opts, auto.EnvVars(c.env(s)))
	}
	ws, err := auto.NewLocalWorkspace(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if l.Stack, err = auto.UpsertStack(ctx, s.ID, ws); err != nil {
		return nil, err
	}
	return l, c.configure(ctx, l, s)
}

// configure sets a student's own values on their stack: region, assumed
// role, and every secret the template leaves unset, generated once.
func (c *class) configure(ctx context.Context, l *labStack, s roster.Student) error {
	all, err := l.GetAllConfig(ctx)
	if err != nil {
		return err
	}
	if s.Region != "" && all["aws:region"].Value != s.Region {
		if err := l.SetConfig(ctx, "aws:region", auto.ConfigValue{Value: s.Region}); err != nil {
			return err
		}
	}
	if s.Account != "" {
		arn := fmt.Sprintf("arn:aws:iam::%s:role/%s", s.Account, c.opts.Role)
		if err := l.SetConfigWithOptions(ctx, "aws:assumeRole.roleArn", auto.ConfigValue{Value: arn}, &auto.ConfigOptions{Path: true}); err != nil {
			return err
		}
	}
	value := func(key string) string {
		if v, ok := all[projectName+":"+key]; ok {
			return v.Value
		}
		return configDefault(key)
	}
	for _, k := range configKeys {
		if all[projectName+":"+k.Name].Value != "" || !k.Secret || k.Needed == nil || !k.Needed(value) {
			continue
		}
		v, err := generateSecret(k.Name)
		if err != nil {
			return err
		}
		if err := l.setSecret(ctx, projectName+":"+k.Name, v); err != nil {
			return err
		}
	}
	l.keys, err = configKeysOf(ctx, l)
	return err
}

// setSecret sets a stack secret through the CLI's standard input, as
// `pulumi config set --secret KEY` reads it: the Automation API's SetConfig
// would put the value on the command line, where any process can read it.
func (l *labStack) setSecret(ctx context.Context, key, value string) error {
	cmd := exec.CommandContext(ctx, "pulumi", "config", "set", "--secret", "--stack", l.Name(), key)
	cmd.Dir, cmd.Stdin = l.dir, strings.NewReader(value+"\n")
	cmd.Env = os.Environ()
	for k, v := range l.Workspace().GetEnvVars() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pulumi config set --secret %s: %w: %s", key, err, out)
	}
	return nil
}

func configKeysOf(ctx context.Context, l *labStack) ([]string, error) {
	all, err := l.GetAllConfig(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// generateSecret is a student's own value for a secret the template leaves
// unset: 128 random bits (crypto/rand), as a password or a WireGuard key.
func generateSecret(key string) (string, error) {
	if key == "wireguardPrivateKey" {
		private, _, err := wgkey.New()
		return private, err
	}
	return rand.Text(), nil
}

// orchestrate runs an engine verb over the class: up, stop, start, destroy.
// An interrupted run of the same verb resumes: the students it finished are
// not done again.
func (c *class) orchestrate(ctx context.Context, verb string) error {
	resuming := c.status.begin(verb, c.students)
	if resuming {
		fmt.Fprintf(c.out, "resuming the interrupted `class %s`: %s\n", verb, c.status.count(c.students))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.opts.Parallel)
	for _, s := range c.students {
		lab := c.status.lab(s.ID)
		if lab.Done {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			c.apply(ctx, verb, s, lab.Doing)
		}()
	}
	c.waitWithHeartbeat(&wg)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted (%s): run the same command again to resume", c.status.count(c.students))
	}
	var failed [][2]string
	for _, s := range c.students {
		if l := c.status.lab(s.ID); !l.Done {
			failed = append(failed, [2]string{s.ID, l.Error})
		}
	}
	if len(failed) == 0 {
		c.status.finish()
		fmt.Fprintf(c.out, "class %s done: %s\n", verb, c.status.count(c.students))
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAILED\tWHY")
	for _, f := range failed {
		fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return fmt.Errorf("%d of %d labs failed (the same command retries them; logs in %s)", len(failed), len(c.students), filepath.Join(c.opts.Dir, "logs"))
}

// heartbeat is how often a long run says who it is still working on.
const heartbeat = 30 * time.Second

func (c *class) waitWithHeartbeat(wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			fmt.Fprintf(c.out, "still working on %s (%s)\n", strings.Join(c.status.working(), ", "), c.status.count(c.students))
		}
	}
}

// apply runs verb on one student's lab and records the outcome; a failure
// is the student's alone.
func (c *class) apply(ctx context.Context, verb string, s roster.Student, interrupted string) {
	c.setState(s, func(l *labStatus) { l.Doing = verb }, "working ("+verb+")")
	state, err := c.applyLab(ctx, verb, s, interrupted)
	if err != nil && ctx.Err() != nil {
		return // interrupted: Doing stays set, and the next run clears the lock
	}
	if err != nil {
		why := firstLine(err)
		c.setState(s, func(l *labStatus) { l.Doing, l.State, l.Error = "", stateFailed, why }, stateFailed+": "+why)
		return
	}
	c.setState(s, func(l *labStatus) {
		l.Doing, l.Done, l.Error = "", true, ""
		l.State = state.State
		l.VoilaURL, l.MonthlyUSD = state.VoilaURL, state.MonthlyUSD
	}, state.State)
}

func (c *class) applyLab(ctx context.Context, verb string, s roster.Student, interrupted string) (labStatus, error) {
	l, err := c.labStack(ctx, s)
	if err != nil {
		return labStatus{}, err
	}
	if interrupted != "" {
		if err := c.clearInterrupted(ctx, l, s, interrupted); err != nil {
			return labStatus{}, err
		}
	}
	logFile, err := c.logFile(s)
	if err != nil {
		return labStatus{}, err
	}
	defer logFile.Close()
	if verb == "destroy" {
		err := withThrottlingRetries(ctx, func() error {
			_, err := l.Destroy(ctx, optdestroy.ProgressStreams(logFile))
			return err
		})
		return labStatus{State: stateDestroyed}, err
	}
	state, want := labRunning, stateUp
	if verb == "stop" {
		state, want = labStopped, stateStopped
	}
	if err := l.SetConfig(ctx, projectName+":labState", auto.ConfigValue{Value: state}); err != nil {
		return labStatus{}, err
	}
	if l.keys, err = configKeysOf(ctx, l); err != nil {
		return labStatus{}, err
	}
	var res auto.UpResult
	err = withThrottlingRetries(ctx, func() error {
		var err error
		res, err = l.Up(ctx, optup.ProgressStreams(logFile))
		return err
	})
	if err != nil {
		return labStatus{}, err
	}
	out := labStatus{State: want}
	out.VoilaURL, _ = res.Outputs["voilaUrl"].Value.(string)
	if c := l.infra.Config; state == labStopped {
		out.MonthlyUSD = estimateCost(billOfMaterials(c), l.infra.Region, allStopped).Total()
	} else {
		out.MonthlyUSD = l.infra.Cost.Total()
	}
	return out, nil
}

// logFile is a student's engine log in the class folder; the engine prints
// secrets masked.
func (c *class) logFile(s roster.Student) (*os.File, error) {
	dir := filepath.Join(c.opts.Dir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, s.ID+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
}

// clearInterrupted clears what a killed run leaves on a stack: its lock
// (`pulumi cancel`) and the operations the engine had under way.
func (c *class) clearInterrupted(ctx context.Context, l *labStack, s roster.Student, verb string) error {
	fmt.Fprintf(c.out, "%s: the last run stopped during its %s: clearing the stack's lock and pending operations\n", s.ID, verb)
	if err := l.Cancel(ctx); err != nil {
		return fmt.Errorf("clearing the lock left by the interrupted run: %w", err)
	}
	state, err := l.Export(ctx)
	if err != nil {
		return fmt.Errorf("reading the state: %w", err)
	}
	var deployment map[string]json.RawMessage
	if err := json.Unmarshal(state.Deployment, &deployment); err != nil {
		return fmt.Errorf("reading the state: %w", err)
	}
	var pending []json.RawMessage
	if raw, ok := deployment["pending_operations"]; ok {
		if err := json.Unmarshal(raw, &pending); err != nil {
			return fmt.Errorf("reading the pending operations: %w", err)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	delete(deployment, "pending_operations")
	if state.Deployment, err = json.Marshal(deployment); err != nil {
		return err
	}
	if err := l.Import(ctx, state); err != nil {
		return fmt.Errorf("clearing the pending operations: %w", err)
	}
	fmt.Fprintf(c.out, "%s: cleared %d pending operations: a resource being created when the run stopped may exist in AWS outside the state (look for it by the lab's tag)\n", s.ID, len(pending))
	return nil
}

// throttlingErrors are AWS's throttling error codes, as the provider
// prints them.
var throttlingErrors = []string{"Throttling", "RequestLimitExceeded", "TooManyRequestsException", "Rate exceeded", "SlowDown", "RequestThrottled"}

// throttled says whether err is AWS refusing for the rate of calls.
func throttled(err error) bool {
	return slices.ContainsFunc(throttlingErrors, func(code string) bool { return strings.Contains(err.Error(), code) })
}

// throttlingBackoff is the wait before each retry of a throttled run.
var throttlingBackoff = []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute}

// withThrottlingRetries runs f again after a wait while AWS throttles it.
func withThrottlingRetries(ctx context.Context, f func() error) error {
	for i := 0; ; i++ {
		err := f()
		if err == nil || !throttled(err) || i == len(throttlingBackoff) {
			return err
		}
		select {
		case <-time.After(throttlingBackoff[i]):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}

// firstLine is the first line of why a run failed: the engine's first
// error ("* ..." under "1 error occurred:"), not the CLI's wrapping of it.
func firstLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for _, prefix := range []string{"* ", "error: "} {
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, prefix) && !strings.HasSuffix(l, "occurred:") && !strings.Contains(l, "update failed") {
				return strings.TrimPrefix(l, prefix)
			}
		}
	}
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "unknown error"
}

func (c *class) setState(s roster.Student, f func(*labStatus), what string) {
	if err := c.status.update(s.ID, f); err != nil {
		fmt.Fprintf(c.out, "%s: writing the status file: %v\n", s.ID, err)
	}
	fmt.Fprintf(c.out, "%s: %s (%s)\n", s.ID, what, c.status.count(c.students))
	if c.changed != nil {
		c.changed(s.ID, c.status.lab(s.ID).State)
	}
}

// classStatus is the status file: what each lab is, and which run of
// which verb is under way.
type classStatus struct {
	mu   sync.Mutex
	path string
	Run  struct {
		Verb     string `json:"verb"`
		Complete bool   `json:"complete"`
	} `json:"run"`
	Labs map[string]*labStatus `json:"labs"`
}

type labStatus struct {
	State      string    `json:"state"`
	Doing      string    `json:"doing,omitempty"` // the verb under way; still set at start, the run was interrupted
	Done       bool      `json:"done"`            // in the current run
	Error      string    `json:"error,omitempty"`
	VoilaURL   string    `json:"voilaUrl,omitempty"`
	MonthlyUSD float64   `json:"monthlyUsd,omitempty"`
	Updated    time.Time `json:"updated"`
}

func loadClassStatus(path string) (*classStatus, error) {
	st := &classStatus{path: path, Labs: map[string]*labStatus{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return st, nil
}

// begin starts a run of verb, or resumes the unfinished one of the same
// verb (it says which).
func (st *classStatus) begin(verb string, students []roster.Student) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	resuming := st.Run.Verb == verb && !st.Run.Complete
	st.Run.Verb, st.Run.Complete = verb, false
	for _, l := range st.Labs {
		// A new run starts every lab afresh, those it leaves out too: a
		// later run of the whole class must not take them for done.
		l.Done = l.Done && resuming
	}
	for _, s := range students {
		if st.Labs[s.ID] == nil {
			st.Labs[s.ID] = &labStatus{State: statePending}
		}
	}
	return resuming
}

func (st *classStatus) finish() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.Run.Complete = true
	if err := st.save(); err != nil {
		fmt.Fprintln(os.Stderr, "writing the status file:", err)
	}
}

func (st *classStatus) lab(id string) labStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	if l := st.Labs[id]; l != nil {
		return *l
	}
	return labStatus{State: statePending}
}

func (st *classStatus) update(id string, f func(*labStatus)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.Labs[id]
	if l == nil {
		l = &labStatus{State: statePending}
		st.Labs[id] = l
	}
	f(l)
	l.Updated = time.Now().UTC()
	return st.save()
}

// save writes the file whole, then renames it: a killed run leaves the
// last complete one.
func (st *classStatus) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := st.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, st.path)
}

// count is the running count: "12/40 up, 1 failed".
func (st *classStatus) count(students []roster.Student) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := map[string]int{}
	for _, s := range students {
		if l := st.Labs[s.ID]; l != nil {
			n[l.State]++
		}
	}
	parts := []string{fmt.Sprintf("%d/%d %s", n[stateUp], len(students), stateUp)}
	for _, state := range []string{stateStopped, stateDestroyed, stateFailed} {
		if n[state] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[state], state))
		}
	}
	return strings.Join(parts, ", ")
}

func (st *classStatus) working() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var ids []string
	for id, l := range st.Labs {
		if l.Doing != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// labPlan is one student's lab under the offline plan.
type labPlan struct {
	Student roster.Student
	Run     *mockRun
	Region  string
	Needs   roster.Usage
}

// planLabs runs the offline plan for every student: the template with
// their region, under the recording mock.
func (c *class) planLabs() ([]labPlan, error) {
	var plans []labPlan
	var errs []error
	for _, s := range c.students {
		dir, err := c.studentDir(s)
		if err != nil {
			return nil, err
		}
		config, secrets, _, err := readStackConfig(dir, s.ID)
		if err != nil {
			return nil, err
		}
		if s.Region != "" {
			config["aws:region"] = s.Region
		}
		run, err := runOffline(s.ID, config, secrets)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.ID, err))
			continue
		}
		plans = append(plans, labPlan{Student: s, Run: run, Region: run.Infra.Region, Needs: labNeeds(run)})
	}
	return plans, errors.Join(errs...)
}

// labNeeds counts what a lab uses of each quota the preflight knows.
func labNeeds(run *mockRun) roster.Usage {
	u := roster.Usage{}
	for _, r := range run.Mocks.resources {
		switch r.Type {
		case typeVPC:
			u[roster.VPCs.Code]++
		case typeEIP:
			u[roster.ElasticIPs.Code]++
		case typeIGW:
			u[roster.InternetGateways.Code]++
		case typeInstance:
			n, _ := roster.VCPUs(propString(r.Inputs, "instanceType"))
			u[roster.StandardVCPUs.Code] += n
		}
	}
	return u
}

// preflight refuses a class that does not fit the instructor's account's
// quotas before the first lab is up; labs in students' accounts count
// against theirs.
func (c *class) preflight(ctx context.Context) error {
	plans, err := c.planLabs()
	if err != nil {
		return err
	}
	return c.quotaShortfalls(ctx, plans)
}

// quotaShortfalls counts what the labs in the instructor's account need
// against its quotas (not what the account already uses): it prints what
// it cannot know, and refuses what does not fit.
func (c *class) quotaShortfalls(ctx context.Context, plans []labPlan) error {
	need := map[string]roster.Usage{}
	for _, p := range plans {
		if p.Student.Account != "" {
			continue
		}
		if need[p.Region] == nil {
			need[p.Region] = roster.Usage{}
		}
		need[p.Region].Add(p.Needs)
	}
	if len(need) == 0 {
		return nil
	}
	short, warn := roster.Preflight(need, c.knownQuotas(ctx, slices.Sorted(maps.Keys(need))))
	for _, w := range warn {
		fmt.Fprintln(c.out, "quotas: warning:", w)
	}
	if len(short) == 0 {
		return nil
	}
	lines := make([]string, len(short))
	for i, s := range short {
		lines[i] = "  " + s.String()
	}
	return fmt.Errorf("the class does not fit the account's quotas (counting what the class needs, not what the account already uses); nothing was deployed:\n%s",
		strings.Join(lines, "\n"))
}

// plan is `class plan`: every lab's plan in one table, the class's monthly
// cost, and the quota preflight.
func (c *class) plan(ctx context.Context) error {
	plans, err := c.planLabs()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "ID\tREGION\tACCOUNT\tVPN\tEGRESS\tRESOURCES\tALWAYS ON\tSTOPPED\tAT %gH/WEEK\t\n", c.opts.HoursPerWeek)
	var sum [3]float64
	for _, p := range plans {
		cfg, account := p.Run.Infra.Config, p.Student.Account
		if account == "" {
			account = "instructor's"
		}
		b := billOfMaterials(cfg)
		costs := [3]float64{p.Run.Infra.Cost.Total(), estimateCost(b, p.Region, allStopped).Total(), estimateCost(b, p.Region, hoursPerWeek(c.opts.HoursPerWeek)).Total()}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n", p.Student.ID, p.Region, account, cfg.VPN, cfg.ResearchEgress, len(p.Run.Mocks.resources), usd(costs[0]), usd(costs[1]), usd(costs[2]))
		for i := range sum {
			sum[i] += costs[i]
		}
	}
	fmt.Fprintf(tw, "class (%d labs)\t\t\t\t\t\t%s\t%s\t%s\t\n", len(plans), usd(sum[0]), usd(sum[1]), usd(sum[2]))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.out, "monthly, on-demand prices (see `go run . plan` for one lab's lines)")
	if err := c.quotaShortfalls(ctx, plans); err != nil {
		return err
	}
	fmt.Fprintln(c.out, "quotas: the labs in the instructor's account fit")
	return nil
}

func usd(v float64) string { return fmt.Sprintf("$%.2f", math.Round(v*100)/100) }

// statusRow is one line of `class status`.
type statusRow struct {
	ID, Name, State, VoilaURL, Monthly, Error string
}

func (c *class) statusRows() []statusRow {
	rows := make([]statusRow, 0, len(c.students))
	for _, s := range c.students {
		l := c.status.lab(s.ID)
		state := l.State
		if l.Doing != "" {
			state += " (" + l.Doing + " interrupted)"
		}
		monthly := ""
		if l.State == stateUp || l.State == stateStopped {
			monthly = usd(l.MonthlyUSD)
		}
		rows = append(rows, statusRow{s.ID, s.Name, state, l.VoilaURL, monthly, l.Error})
	}
	return rows
}

var statusHeader = []string{"id", "name", "state", "voila url", "monthly usd (as it is now)", "last error"}

// report is `class status`: the table, and the same as CSV and HTML in the
// class folder.
func (c *class) report() error {
	rows := c.statusRows()
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(statusHeader, "\t")))
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.State, r.VoilaURL, r.Monthly, r.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.out, c.status.count(c.students))
	csvPath, htmlPath := filepath.Join(c.opts.Dir, "status.csv"), filepath.Join(c.opts.Dir, "status.html")
	f, err := os.OpenFile(csvPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	records := [][]string{statusHeader}
	for _, r := range rows {
		records = append(records, []string{r.ID, r.Name, r.State, r.VoilaURL, r.Monthly, r.Error})
	}
	if err := errors.Join(w.WriteAll(records), f.Close()); err != nil {
		return fmt.Errorf("writing %s: %w", csvPath, err)
	}
	h, err := os.OpenFile(htmlPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = statusPage.Execute(h, map[string]any{"Header": statusHeader, "Rows": rows, "Count": c.status.count(c.students)})
	if err := errors.Join(err, h.Close()); err != nil {
		return fmt.Errorf("writing %s: %w", htmlPath, err)
	}
	fmt.Fprintf(c.out, "written: %s, %s\n", csvPath, htmlPath)
	return nil
}

var statusPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>research-lab class status</title>
<style>body{font-family:sans-serif}td,th{padding:.2em .6em;text-align:left}tr:nth-child(even){background:#f3f3f3}</style></head>
<body><h1>Class status</h1><p>{{.Count}}</p>
<table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.State}}</td><td>{{if .VoilaURL}}<a href="{{.VoilaURL}}">{{.VoilaURL}}</a>{{end}}</td><td>{{.Monthly}}</td><td>{{.Error}}</td></tr>
{{end}}</table></body></html>
`))

// check is `class check`: the lab's own check for each lab, one verdict
// row per student. The checks run one after the other: each probes the
// lab from here, and the offline model they compare with is one at a time.
func (c *class) check(ctx context.Context) error {
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tVERDICT\tDETAIL")
	failed, skipped := 0, 0
	for _, s := range c.students {
		verdict, detail := c.checkLab(ctx, s)
		switch verdict {
		case "PASS":
		case "SKIP":
			skipped++
		default:
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Name, verdict, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var why []string
	if failed > 0 {
		why = append(why, fmt.Sprintf("%d of %d labs do not pass their check", failed, len(c.students)))
	}
	if skipped > 0 {
		why = append(why, fmt.Sprintf("%d of %d are not up, so not checked", skipped, len(c.students)))
	}
	if len(why) > 0 {
		return errors.New(strings.Join(why, "; "))
	}
	return nil
}

func (c *class) checkLab(ctx context.Context, s roster.Student) (verdict, detail string) {
	if st := c.status.lab(s.ID).State; st != stateUp {
		return "SKIP", "the lab is " + st
	}
	l, err := c.labStack(ctx, s)
	if err != nil {
		return "ERROR", firstLine(err)
	}
	outputs, err := l.Outputs(ctx)
	if err != nil {
		return "ERROR", firstLine(err)
	}
	values := map[string]any{}
	for k, v := range outputs {
		values[k] = v.Value
	}
	b, err := json.Marshal(values)
	if err != nil {
		return "ERROR", err.Error()
	}
	file := filepath.Join(l.dir, "outputs.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return "ERROR", err.Error()
	}
	var out strings.Builder
	code := runCheck([]string{"--stack", s.ID, "--dir", l.dir, "--outputs", file}, &out, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	summary := lines[len(lines)-1]
	switch code {
	case checkPassed:
		return "PASS", summary
	case checkViolated:
		for _, line := range lines {
			if strings.HasPrefix(line, "FAIL") {
				return "FAIL", summary + "; first: " + line
			}
		}
		return "FAIL", summary
	default:
		return "ERROR", summary
	}
}
