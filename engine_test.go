package main

// The lab under the real Pulumi engine: the CLI (on PATH; .ci/run builds
// it), a file backend with passphrase secrets, the program as an Automation
// API inline program, and the AWS stand-in (internal/awsstandin) as the
// provider. Stacks are made with the README's own commands. docs/engine.md
// says how to run these tests alone and what the stand-in models.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// standin is the AWS stand-in, built once for the engine tests.
var standin struct {
	once sync.Once
	dir  string // holds pulumi-resource-aws
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if standin.dir != "" {
		os.RemoveAll(standin.dir)
	}
	os.Exit(code)
}

// standinDir builds the stand-in as pulumi-resource-aws, the name under
// which the engine takes a plugin on PATH for the AWS provider.
func standinDir(t testing.TB) string {
	t.Helper()
	standin.once.Do(func() {
		if standin.dir, standin.err = os.MkdirTemp("", "research-lab-standin-"); standin.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(standin.dir, "pulumi-resource-aws"), "./internal/awsstandin").CombinedOutput()
		if err != nil {
			standin.err = fmt.Errorf("building the AWS stand-in: %w\n%s", err, out)
		}
	})
	require.NoError(t, standin.err)
	return standin.dir
}

// engineLab is one stack of the lab under the real engine.
type engineLab struct {
	t      testing.TB
	name   string
	root   string // backend, Pulumi home, the stand-in's cloud
	dir    string // the project folder: Pulumi.yaml and the stack file
	env    map[string]string
	stack  auto.Stack
	keys   []string        // the stack's configuration keys, for withStackKeys
	infra  *infrastructure // what the last run declared
	events []string        // the engine's event log, as JSON lines
	output []string        // what the CLI printed
}

const enginePassphrase = "correct horse battery staple"

// newEngineLab makes a stack with `pulumi stack init`, as the README does,
// in a project folder holding the repository's own Pulumi.yaml.
func newEngineLab(t testing.TB, stack string) *engineLab {
	t.Helper()
	return newEngineLabFrom(t, stack, ".", nil)
}

// newEngineLabFrom is newEngineLab with the project of the repository
// checked out in tree (see checkout) and a stack file to start from (a
// shipped one), or none.
func newEngineLabFrom(t testing.TB, stack, tree string, stackFile []byte) *engineLab {
	t.Helper()
	requireTool(t, "pulumi")
	root := t.TempDir()
	l := &engineLab{t: t, name: stack, root: root, dir: filepath.Join(root, "project")}
	for _, d := range []string{l.dir, filepath.Join(root, "state"), filepath.Join(root, "home"), filepath.Join(root, "cloud")} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	l.checkout(tree)
	l.env = map[string]string{
		"PULUMI_BACKEND_URL":       "file://" + filepath.Join(root, "state"),
		"PULUMI_CONFIG_PASSPHRASE": enginePassphrase,
		"PULUMI_HOME":              filepath.Join(root, "home"),
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		"RESEARCH_LAB_STANDIN":     filepath.Join(root, "cloud"),
		"PATH":                     standinDir(t) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	if stackFile != nil {
		require.NoError(t, os.WriteFile(filepath.Join(l.dir, "Pulumi."+stack+".yaml"), stackFile, 0o600))
	}
	l.cli("", "stack", "init", stack)
	if stackFile == nil {
		l.set("aws:region", "us-east-1") // the README's first `pulumi config set`
	}
	ws, err := auto.NewLocalWorkspace(context.Background(), auto.WorkDir(l.dir), auto.EnvVars(l.env), auto.Program(l.program))
	require.NoError(t, err)
	l.stack, err = auto.SelectStack(context.Background(), stack, ws)
	require.NoError(t, err)
	return l
}

// checkout puts into the project folder what the program of the
// repository checked out in tree reads there, as `git pull` would:
// Pulumi.yaml, the acme/ module it builds and the hub proxy's package files
// it uploads (those of them the tree has).
func (l *engineLab) checkout(tree string) {
	l.t.Helper()
	project, err := os.ReadFile(filepath.Join(tree, "Pulumi.yaml"))
	require.NoError(l.t, err)
	require.NoError(l.t, os.WriteFile(filepath.Join(l.dir, "Pulumi.yaml"), project, 0o600))
	for _, d := range []string{acmeModuleDir, "hub-proxy"} {
		link := filepath.Join(l.dir, d)
		require.NoError(l.t, os.RemoveAll(link)) // the link, not what it points to
		abs, err := filepath.Abs(filepath.Join(tree, d))
		require.NoError(l.t, err)
		if _, err := os.Stat(abs); os.IsNotExist(err) {
			continue
		}
		require.NoError(l.t, os.Symlink(abs, link))
	}
}

// program is the lab as an inline program: the configuration comes on the
// context, and its keys from the stack, as the classroom hands them over.
func (l *engineLab) program(ctx *pulumi.Context) error {
	infra, err := createInfrastructure(withStackKeys(ctx, l.keys))
	l.infra = infra
	return err
}

// cli runs the Pulumi CLI in the project folder; stdin answers its prompt
// (a secret is never on the command line).
func (l *engineLab) cli(stdin string, args ...string) {
	l.t.Helper()
	cmd := exec.Command("pulumi", args...)
	cmd.Dir, cmd.Stdin = l.dir, strings.NewReader(stdin)
	cmd.Env = os.Environ()
	for k, v := range l.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	l.output = append(l.output, string(out))
	require.NoError(l.t, err, "pulumi %s:\n%s", strings.Join(args, " "), out)
}

// set is `pulumi config set KEY VALUE`; setSecret `--secret`, its value
// typed at the prompt; both take `--path` keys such as members[0].name.
func (l *engineLab) set(key, value string) {
	l.t.Helper()
	l.cli("", "config", "set", "--path", key, value)
}

func (l *engineLab) setSecret(key, value string) {
	l.t.Helper()
	l.cli(value+"\n", "config", "set", "--secret", "--path", key)
}

// refreshKeys reads the stack's configuration keys before a run.
func (l *engineLab) refreshKeys() {
	l.t.Helper()
	all, err := l.stack.GetAllConfig(context.Background())
	require.NoError(l.t, err)
	l.keys = slices.Collect(maps.Keys(all))
}

// collect drains an event stream into the lab's event log and notes each
// resource step as "<op> <type> <name>".
func (l *engineLab) collect() (chan<- events.EngineEvent, func() []string) {
	ch := make(chan events.EngineEvent)
	var steps []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			b, err := json.Marshal(e)
			if err == nil {
				l.events = append(l.events, string(b))
			}
			if e.ResourcePreEvent != nil {
				m := e.ResourcePreEvent.Metadata
				urn := resource.URN(m.URN)
				steps = append(steps, fmt.Sprintf("%s %s %s", m.Op, urn.Type(), urn.Name()))
			}
		}
	}()
	return ch, func() []string { <-done; return steps }
}

// up is `pulumi up`, refreshing first as Pulumi.yaml asks; it returns the
// steps that changed something.
func (l *engineLab) up() []string {
	l.t.Helper()
	l.refreshKeys()
	ch, steps := l.collect()
	res, err := l.stack.Up(context.Background(), optup.EventStreams(ch))
	require.NoError(l.t, err, "pulumi up")
	l.output = append(l.output, res.StdOut, res.StdErr)
	return changed(steps())
}

// changed are the steps that are not "same" (nor a refresh's read).
func changed(steps []string) []string {
	var out []string
	for _, s := range steps {
		if !strings.HasPrefix(s, "same ") && !strings.HasPrefix(s, "refresh ") && !strings.HasPrefix(s, "read ") {
			out = append(out, s)
		}
	}
	return out
}

// steady is `pulumi preview --expect-no-changes`.
func (l *engineLab) steady(situation string) {
	l.t.Helper()
	l.refreshKeys()
	ch, steps := l.collect()
	res, err := l.stack.Preview(context.Background(), optpreview.ExpectNoChanges(), optpreview.EventStreams(ch))
	assert.NoError(l.t, err, "%s: `pulumi preview --expect-no-changes` plans changes: %v", situation, changed(steps()))
	l.output = append(l.output, res.StdOut, res.StdErr)
}

// noReplacement fails unless steps only update in place.
func noReplacement(t testing.TB, situation string, steps []string) {
	t.Helper()
	others := slices.DeleteFunc(slices.Clone(steps), func(s string) bool { return strings.HasPrefix(s, "update ") })
	assert.Empty(t, others, "%s: `pulumi up` must only update in place", situation)
}

// calls are the stand-in's Create, Update and Delete calls, in order, as
// "<method> <type> <name>".
func (l *engineLab) calls() []string {
	l.t.Helper()
	f, err := os.Open(filepath.Join(l.root, "cloud", "calls.log"))
	require.NoError(l.t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		out = append(out, strings.Join(fields[:3], " "))
	}
	require.NoError(l.t, sc.Err())
	return out
}

// stateResource is a resource in the stack's state.
type stateResource struct {
	URN     resource.URN   `json:"urn"`
	ID      string         `json:"id"`
	Outputs map[string]any `json:"outputs"`
}

// state is the resources of the stack's state (`pulumi stack export`).
func (l *engineLab) state() []stateResource {
	l.t.Helper()
	state, err := l.stack.Export(context.Background())
	require.NoError(l.t, err)
	var deployment struct {
		Resources []stateResource `json:"resources"`
	}
	require.NoError(l.t, json.Unmarshal(state.Deployment, &deployment))
	return deployment.Resources
}

// stopOutside stops an instance as an AWS Academy session end does.
func (l *engineLab) stopOutside(logical string) {
	l.t.Helper()
	for _, r := range l.state() {
		if urn := r.URN; urn.Type() == typeInstance && urn.Name() == logical {
			cmd := exec.Command(filepath.Join(standinDir(l.t), "pulumi-resource-aws"), "stop", r.ID)
			cmd.Env = append(os.Environ(), "RESEARCH_LAB_STANDIN="+l.env["RESEARCH_LAB_STANDIN"])
			out, err := cmd.CombinedOutput()
			require.NoError(l.t, err, "stopping %s: %s", logical, out)
			return
		}
	}
	l.t.Fatalf("no instance %s in the state", logical)
}

// noSecretOnDisk fails if a secret is in plain text in the backend's files,
// the stack file, the engine's event log or what the CLI printed.
func (l *engineLab) noSecretOnDisk(secrets map[string]string) {
	l.t.Helper()
	places := map[string]string{
		"event log":  strings.Join(l.events, "\n"),
		"CLI output": strings.Join(l.output, "\n"),
	}
	stackFile := filepath.Join(l.dir, "Pulumi."+l.name+".yaml")
	for _, root := range []string{filepath.Join(l.root, "state"), stackFile} {
		require.NoError(l.t, filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			places[path] = string(b)
			return err
		}))
	}
	require.Contains(l.t, places, stackFile)
	for what, secret := range secrets {
		require.NotEmpty(l.t, secret, what)
		for place, text := range places {
			assert.NotContains(l.t, text, secret, "%s holds %s in plain text", place, what)
		}
	}
}

// TestEngineSingleResearcher: a single researcher's lab, made with the
// README's commands, through the situations of the lifecycle contract: all
// of them with the default egress, the stops and starts with Jupyter's own
// public address (internet-gateway), a first up and a steady state with the
// others.
func TestEngineSingleResearcher(t *testing.T) {
	for _, mode := range egressModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel() // labs are independent: several stacks in one process, as the classroom runs them
			l := newSingleLab(t)
			l.set("adminCidrs[0]", "203.0.113.7/32")
			l.set("researchEgress", mode)
			mock, err := runUnderMocks("own", stackConfig(map[string]string{"adminCidrs": `["203.0.113.7/32"]`, "researchEgress": mode}), secretKeys)
			require.NoError(t, err)
			l.upAsDeclared(mock)

			noReplacement(t, "Elastic IPs associated", l.up())
			assert.Contains(t, l.calls(), "Read "+typeInstance+" "+logicalName("VPN"), "`pulumi up` must refresh first, as Pulumi.yaml asks")
			l.steady("Elastic IPs associated")
			if mode != egressNATInstance && mode != egressIGW {
				return
			}
			l.stopsAndStarts()
			if mode != egressNATInstance {
				return
			}

			l.set("namePrefix", "Bio7")
			noReplacement(t, "a new namePrefix", l.up())
			l.steady("a new namePrefix")

			// A new Jupyter configuration replaces the server: the old one is
			// deleted (its last push lands) before its successor is created.
			l.set("jupyterIdleStopMinutes", "60")
			assert.Contains(t, l.up(), "replace "+typeInstance+" "+logicalName("Jupyter"), "a new idle stop replaces Jupyter")
			calls, jupyter := l.calls(), typeInstance+" "+logicalName("Jupyter")
			deleted, successor := slices.Index(calls, "Delete "+jupyter), lastIndex(calls, "Create "+jupyter)
			assert.True(t, deleted >= 0 && deleted < successor, "Jupyter's successor must be created after the old server is deleted: %v",
				slices.DeleteFunc(calls, func(c string) bool { return !strings.HasSuffix(c, " "+jupyter) || strings.HasPrefix(c, "Read ") }))

			l.noSecretOnDisk(map[string]string{
				"the VPN admin password": testVPNPassword,
				"the Jupyter password":   testJupyterPass,
				"the Jupyter password hash": jupyterPasswordHash(testJupyterPass, projectName+"/own/"+
					l.outputString("bucketName")),
			})
			l.destroy()
			assert.False(t, slices.Contains(l.calls(), "Delete "+typeBucket+" notebooks"), "destroy must keep the notebook bucket without forceDestroyBucket")
		})
	}
}

// upAsDeclared is the first `pulumi up`: it creates every resource the
// program declares under the mocks, once, and every output.
func (l *engineLab) upAsDeclared(mock *mockRun) {
	l.t.Helper()
	var declared []string
	for _, r := range mock.Mocks.all() {
		declared = append(declared, fmt.Sprintf("create %s %s", r.Type, r.Name))
	}
	created := slices.DeleteFunc(l.up(), func(s string) bool { return strings.HasPrefix(s, "create pulumi:") }) // the stack, the provider
	assert.ElementsMatch(l.t, declared, created, "the engine must create every resource the program declares, once")
	outputs, err := l.stack.Outputs(context.Background())
	require.NoError(l.t, err)
	assert.ElementsMatch(l.t, keysOf(mock.Outputs), keysOf(outputs), "the stack's outputs")
	for k, o := range outputs {
		assert.NotEmpty(l.t, o.Value, "output %s", k)
	}
}

// stopsAndStarts stops and starts the lab by labState, then stops Jupyter
// outside Pulumi: no `pulumi up` replaces anything, each leaves a steady state.
func (l *engineLab) stopsAndStarts() {
	l.t.Helper()
	l.set("labState", labStopped)
	noReplacement(l.t, "labState stopped", l.up())
	l.steady("labState stopped")
	l.set("labState", labRunning)
	noReplacement(l.t, "labState started again", l.up())
	l.steady("labState started again")

	l.stopOutside(logicalName("Jupyter"))
	steps := l.up()
	noReplacement(l.t, "Jupyter stopped outside Pulumi", steps)
	assert.Contains(l.t, steps, "update "+typeState+" "+logicalName("Jupyter-State"), "`pulumi up` must start Jupyter again")
	l.steady("Jupyter started again")
}

// destroy is `pulumi destroy`.
func (l *engineLab) destroy() {
	l.t.Helper()
	ch, _ := l.collect()
	_, err := l.stack.Destroy(context.Background(), optdestroy.EventStreams(ch))
	require.NoError(l.t, err, "pulumi destroy")
}

// TestEngineTeam: a team on each VPN, made with the README's commands
// (`--path 'members[N]...'`, passwords `--secret`): a member comes and
// goes without a replacement, and no member's secret reaches the disk.
func TestEngineTeam(t *testing.T) {
	for _, vpn := range []vpnKind{vpnOpenVPNAS, vpnWireGuard} {
		t.Run(string(vpn), func(t *testing.T) {
			t.Parallel()
			l := newEngineLab(t, "team")
			l.set("sshPublicKey", testPublicKey)
			l.set("vpn", string(vpn))
			secrets := map[string]string{}
			addMember := func(i int, name, password string) {
				l.set(fmt.Sprintf("members[%d].name", i), name)
				l.setSecret(fmt.Sprintf("members[%d].password", i), password)
				if vpn == vpnWireGuard {
					_, public := testMemberKeyPair(t, i, name)
					l.set(fmt.Sprintf("members[%d].wireguardPublicKey", i), public)
				}
				secrets[name+"'s password"] = password
			}
			if vpn == vpnWireGuard {
				private, _ := testKeyPair(t, 7)
				l.setSecret("wireguardPrivateKey", private)
				secrets["the WireGuard server's private key"] = private
				// This lab's notebooks go with it.
				l.set("forceDestroyBucket", "true")
			} else {
				l.setSecret("vpnAdminPassword", testVPNPassword)
				secrets["the VPN admin password"] = testVPNPassword
			}
			addMember(0, "alice", testAlicePassword)
			assert.Contains(t, l.up(), "create "+typeInstance+" "+logicalName("Jupyter"))
			noReplacement(t, "a team's lab, Elastic IPs associated", l.up())
			l.steady("a team's lab")

			addMember(1, "bob", testBobPassword)
			noReplacement(t, "a member added", l.up())
			l.steady("a member added")
			hashes, err := jupyterMembers(l.infra.Config, projectName+"/team/"+l.outputString("bucketName"))
			require.NoError(t, err)
			var team struct {
				Members []struct{ Name, PasswordHash string }
			}
			require.NoError(t, json.Unmarshal([]byte(hashes), &team))
			require.Len(t, team.Members, 2)
			for _, m := range team.Members {
				secrets[m.Name+"'s password hash"] = m.PasswordHash
			}
			l.cli("", "config", "rm", "--path", "members[1]")
			noReplacement(t, "a member removed", l.up())
			l.steady("a member removed")
			require.Len(t, l.infra.Config.Members, 1)

			l.noSecretOnDisk(secrets)
			l.destroy()
			deletedBucket := slices.Contains(l.calls(), "Delete "+typeBucket+" notebooks")
			assert.Equal(t, vpn == vpnWireGuard, deletedBucket, "destroy deletes the notebook bucket only with forceDestroyBucket")
		})
	}
}

func (l *engineLab) outputString(key string) string {
	l.t.Helper()
	out, err := l.stack.Outputs(context.Background())
	require.NoError(l.t, err)
	s, _ := out[key].Value.(string)
	return s
}

func lastIndex(s []string, v string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == v {
			return i
		}
	}
	return -1
}

// releasedNames are the logical names of the fixture, each "<type> <name>":
// what the release declared, with the default prefix.
func releasedNames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(releasedNamesFile)
	require.NoError(t, err)
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			require.Len(t, strings.Fields(line), 2, "bad fixture line %q", line)
			names = append(names, line)
		}
	}
	require.NoError(t, sc.Err())
	return names
}

// engineDoc is the reference of the engine tests.
const engineDoc = "docs/engine.md"

// upgradeSection is where docs/engine.md lists what upgrading a stack of
// the previous release changes, other than updates in place.
const upgradeSection = "## Upgrading a stack of the previous release"

// upgradeChange is what an upgrade does to one resource.
type upgradeChange struct {
	Op          string // replace, create or delete
	DeleteFirst bool   // a replacement that deletes the old resource before it creates its successor
}

// upgradeVerbs say in docs/engine.md's table what the upgrade does to a
// resource: upgradeChanges, in the same order.
var (
	upgradeVerbs   = [...]string{"replaces it, deleting first", "replaces it", "creates it", "deletes it", "leaves it or updates it in place"}
	upgradeChanges = [...]upgradeChange{{"replace", true}, {"replace", false}, {"create", false}, {"delete", false}, {}}
)

func (c upgradeChange) String() string {
	if i := slices.Index(upgradeChanges[:], c); i >= 0 {
		return upgradeVerbs[i]
	}
	return "does " + c.Op // a step the table has no verb for
}

// documentedUpgrade is docs/engine.md's table of the upgrade's changes, by
// "<type> <name>".
func documentedUpgrade(t *testing.T) map[string]upgradeChange {
	t.Helper()
	section := markdownSection(doc(t, engineDoc), upgradeSection)
	require.NotEmpty(t, section, "%s has no section %q", engineDoc, upgradeSection)
	want := map[string]upgradeChange{}
	for _, row := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([^|]+) \\|").FindAllStringSubmatch(section, -1) {
		i := slices.Index(upgradeVerbs[:], strings.TrimSpace(row[2]))
		require.True(t, i >= 0, "%s: %q says none of %q", engineDoc, row[0], upgradeVerbs)
		want[row[1]] = upgradeChanges[i]
	}
	require.NotEmpty(t, want, "%s's %q lists no resource", engineDoc, upgradeSection)
	return want
}

// TestEngineUpgradesTheReleasedStack: a researcher's stack made with the
// previous release's README (the commit testdata/released-logical-names.txt
// records) and a namePrefix of its own, brought up by that release's own
// program, then `git pull` and `pulumi up` with this one. Besides updates in
// place, the upgrade replaces, creates and deletes exactly what
// docs/engine.md's table says (README.md's "Upgrading a lab made by an
// earlier version" names the servers it replaces), in the order it says,
// deletes no notebook, and leaves a steady state.
func TestEngineUpgradesTheReleasedStack(t *testing.T) {
	rel := buildRelease(t)
	want := documentedUpgrade(t)
	l := newEngineLabFrom(t, "mylab", rel.tree, nil)
	// The release's README, quickstart with your own account, and a prefix.
	l.set("sshPublicKey", testPublicKey)
	l.setSecret("vpnAdminPassword", testVPNPassword)
	l.setSecret("jupyterPassword", testJupyterPass)
	// The release named a misspelt key from the configuration the language
	// host put in its environment: the driver hands it over the same way.
	l.set("nameprefix", "Bio7")
	require.ErrorContains(t, l.upRelease(rel), "research-lab:nameprefix: unknown configuration key",
		"the release must see its stack's configuration as the Go language host gave it")
	l.cli("", "config", "rm", "nameprefix")
	const prefix = "Bio7-"
	l.set("namePrefix", strings.TrimSuffix(prefix, "-"))
	require.NoError(t, l.upRelease(rel))

	// The release named its resources after the prefix: the fixture's names.
	var released, held []string
	for _, n := range releasedNames(t) {
		released = append(released, strings.Replace(n, " "+logicalName(""), " "+prefix, 1))
	}
	for _, r := range l.state() {
		if !strings.HasPrefix(string(r.URN.Type()), "pulumi:") {
			held = append(held, fmt.Sprintf("%s %s", r.URN.Type(), r.URN.Name()))
		}
	}
	assert.Subset(t, released, held, "the release's stack must hold the names of %s", releasedNamesFile)
	require.Contains(t, held, typeInstance+" "+prefix+"Jupyter", "the release must name its resources after namePrefix")

	l.checkout(".") // git pull
	before := len(l.calls())
	steps := l.up()
	got := map[string]upgradeChange{}
	for _, s := range steps {
		op, res, _ := strings.Cut(s, " ")
		switch op {
		case "update", "create-replacement", "delete-replaced": // in place; the halves of a replacement
		default:
			got[res] = upgradeChange{Op: op}
		}
	}
	calls := l.calls()[before:]
	for res, change := range want {
		if change.Op != "replace" || got[res].Op != "replace" {
			continue
		}
		typ, name, _ := strings.Cut(res, " ")
		old := typ + " " + strings.Replace(name, logicalName(""), prefix, 1)
		deleted, created := slices.Index(calls, "Delete "+old), slices.Index(calls, "Create "+res)
		require.True(t, deleted >= 0 && created >= 0, "the stand-in saw no Delete of %s or no Create of %s", old, res)
		got[res] = upgradeChange{Op: "replace", DeleteFirst: deleted < created}
	}
	resources := slices.Collect(maps.Keys(want))
	for r := range got {
		if _, ok := want[r]; !ok {
			resources = append(resources, r)
		}
	}
	slices.Sort(resources)
	var wrong []string
	for _, r := range resources {
		if want[r] != got[r] {
			wrong = append(wrong, fmt.Sprintf("%s: the upgrade %s; %s says: %s", r, got[r], engineDoc, want[r]))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("upgrading a stack of %s must replace, create and delete exactly what %s's %q says (updates in place aside):\n%s",
			rel.commit, engineDoc, upgradeSection, strings.Join(wrong, "\n"))
	}
	for _, c := range calls {
		assert.False(t, strings.HasPrefix(c, "Delete "+typeBucket+" "), "the upgrade must keep the notebook bucket: %s", c)
		assert.NotEqual(t, "Delete aws:s3/bucketObjectv2:BucketObjectv2 sample-notebook", c, "the upgrade must keep the sample notebook")
	}
	l.steady("upgraded from the release")

	// README.md's upgrade section names every server the upgrade replaces.
	section := markdownSection(readme(t), "### Upgrading a lab made by an earlier version")
	for role, called := range map[string]string{"VPN": "the VPN", "Jupyter": "Jupyter", "VoilaServer": "Voila", "NAT": "the NAT instance"} {
		if want[typeInstance+" "+logicalName(role)].Op == "replace" {
			assert.True(t, strings.Contains(section, called), "README.md's upgrade section must say the upgrade replaces %s", called)
		}
	}
	// ... and what goes with them.
	for res, change := range want {
		typ, _, _ := strings.Cut(res, " ")
		for withType, called := range map[string]string{
			"aws:ec2transitgateway/instanceState:InstanceState": "power state",
			"aws:ec2/eipAssociation:EipAssociation":             "Elastic IP associations",
		} {
			if typ == withType && change.Op == "replace" {
				assert.True(t, strings.Contains(section, called), "README.md's upgrade section must name %q: the upgrade replaces %s", called, res)
			}
		}
	}
}

// TestEngineShippedStacksPassTheCLI: each shipped stack file, with the
// secrets its comments ask for set by `pulumi config set --secret`, passes
// the CLI's validation of the configuration against Pulumi.yaml and
// previews under the engine.
func TestEngineShippedStacksPassTheCLI(t *testing.T) {
	for _, stack := range exampleStacks {
		f := "Pulumi." + stack + ".yaml"
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			file, err := os.ReadFile(f)
			require.NoError(t, err)
			l := newEngineLabFrom(t, stack, ".", file)
			if strings.Contains(string(file), exampleSSHKeyBlob) {
				l.set("sshPublicKey", testPublicKey) // the README's recipe: your key for the example's
			}
			l.setSecret("vpnAdminPassword", testVPNPassword)
			l.setSecret("jupyterPassword", testJupyterPass)
			l.refreshKeys()
			_, err = l.stack.Preview(context.Background())
			require.NoError(t, err, "the shipped stack %s must pass the Pulumi CLI and preview", f)
		})
	}
}

// TestEngineChosenZoneStaysTheLabs: once the program chose a zone, a later
// `pulumi up` that would choose another (a type no longer offered there)
// replaces nothing; setting availabilityZone moves the lab on purpose.
func TestEngineChosenZoneStaysTheLabs(t *testing.T) {
	l := newSingleLab(t)
	l.up()
	require.Equal(t, "us-east-1a", l.infra.Zone)

	l.stack.Workspace().SetEnvVar("RESEARCH_LAB_STANDIN_NOT_OFFERED", "us-east-1a/t4g.medium")
	noReplacement(t, "a zone that no longer offers Jupyter's type", l.up())
	require.Equal(t, "us-east-1b", l.infra.Zone, "the program would now choose another zone")

	l.set("availabilityZone", "us-east-1c")
	assert.Contains(t, l.up(), "replace "+typeSubnet+" "+logicalName("DMZ"), "an availabilityZone set by the owner moves the lab")
}

// TestEngineNamesAMisspeltKey: as an inline program, whose configuration
// comes on the context only, the program still names a misspelt key.
func TestEngineNamesAMisspeltKey(t *testing.T) {
	l := newSingleLab(t)
	l.set("labstate", labStopped)
	l.refreshKeys()
	_, err := l.stack.Preview(context.Background())
	require.Error(t, err, "a misspelt key must be refused")
	assert.Contains(t, err.Error(), "research-lab:labstate: unknown configuration key: did you mean research-lab:labState?")
}

// BenchmarkEngine measures the engine's own time for one single-researcher
// lab under the stand-in (the provider answers at once): what the classroom
// multiplies by its stacks. Run with
// `go test -run '^$' -bench BenchmarkEngine -benchtime 3x .`
func BenchmarkEngineUp(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		l := newSingleLab(b)
		b.StartTimer()
		l.up()
	}
}

// BenchmarkEngineSteadyUp is a `pulumi up` that finds nothing to do: the
// refresh (Pulumi.yaml asks for it) and the update.
func BenchmarkEngineSteadyUp(b *testing.B) {
	l := newSingleLab(b)
	l.up()
	for b.Loop() {
		l.up()
	}
}

func BenchmarkEngineRefresh(b *testing.B) {
	l := newSingleLab(b)
	l.up()
	for b.Loop() {
		_, err := l.stack.Refresh(context.Background())
		require.NoError(b, err)
	}
}

func BenchmarkEnginePreview(b *testing.B) {
	l := newSingleLab(b)
	l.up()
	for b.Loop() {
		_, err := l.stack.Preview(context.Background())
		require.NoError(b, err)
	}
}

// newSingleLab is a single researcher's lab, configured as the README says.
func newSingleLab(t testing.TB) *engineLab {
	t.Helper()
	l := newEngineLab(t, "own")
	l.set("sshPublicKey", testPublicKey)
	l.setSecret("vpnAdminPassword", testVPNPassword)
	l.setSecret("jupyterPassword", testJupyterPass)
	return l
}
