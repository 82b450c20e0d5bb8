package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFollowingTheQuickstartKeepsTheTestsGreen: in a copy of the repository,
// the README's quickstart commands run as written (the real Pulumi CLI on a
// local backend, the key and passwords typed in), change no tracked file, and
// the tests that read the project's stack files and documents still pass
// there: they are the tests a user's stack file could break.
func TestFollowingTheQuickstartKeepsTheTestsGreen(t *testing.T) {
	pulumiCLI := requireTool(t, "pulumi")
	repo := copyOfRepository(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "PULUMI_HOME="+filepath.Join(home, ".pulumi"),
		"PULUMI_CONFIG_PASSPHRASE=a passphrase for the test", "PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true")
	run := func(stdin string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env, cmd.Stdin = repo, env, strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
		return string(out)
	}

	steps := quickstartCommands(t)
	require.NotEmpty(t, steps)
	var planned bool
	for _, line := range steps {
		args := shellWords(t, line)
		switch {
		case args[0] == "git":
			continue // the copy stands for the clone
		case args[0] == "cp":
			run("", "cp", args[1:]...)
		case args[0] == "pulumi" && args[1] == "up":
			continue // the engine tests deploy; here the stack file is the point
		case args[0] == "pulumi" && args[1] == "login" && args[2] == "--local":
			// --local is file://~, the home of the user database's entry
			// (not $HOME): the test's own folder stands for it.
			run("", pulumiCLI, "login", "file://"+home)
		case args[0] == "pulumi":
			stdin := ""
			if strings.Contains(line, "--secret") && len(args) == 4 {
				stdin = "a-password-of-the-test\n" // what the prompt reads
			}
			run(stdin, pulumiCLI, args[1:]...)
		case args[0] == "go" && args[1] == "run" && args[3] == "plan":
			var out strings.Builder
			require.NoError(t, runPlan(append([]string{"--dir", repo}, args[4:]...), &out), "the quickstart's plan must pass:\n%s", out.String())
			planned = true
		default:
			t.Fatalf("the quickstart runs %q, which this test does not know how to run", line)
		}
	}
	require.True(t, planned, "the quickstart plans before `pulumi up`")

	stackFile := filepath.Join(repo, "Pulumi.mylab.yaml")
	raw, err := os.ReadFile(stackFile)
	require.NoError(t, err, "the quickstart makes the stack file Pulumi.mylab.yaml")
	assert.Contains(t, string(raw), "secure: v1:", "the quickstart's passwords are stored encrypted")
	assert.NotContains(t, string(raw), "a-password-of-the-test", "no password in clear in the stack file")
	assert.Empty(t, run("", "git", "status", "--porcelain"), "following the quickstart must change no tracked file and leave nothing git would add")

	// The same tests, run in the copy (the work folder is the process's:
	// t.Chdir moves it there for these alone).
	t.Chdir(repo)
	for name, test := range map[string]func(*testing.T){
		"TestExampleStacksAreTheTrackedOnes":       TestExampleStacksAreTheTrackedOnes,
		"TestShippedStacksPlanAndSayWhoTheyAreFor": TestShippedStacksPlanAndSayWhoTheyAreFor,
		"TestConfigKeysAgreeEverywhere":            TestConfigKeysAgreeEverywhere,
		"TestDocsLinksResolve":                     TestDocsLinksResolve,
		"TestReadmeCostsAreThePlans":               TestReadmeCostsAreThePlans,
		"TestLeanStackIsDocumented":                TestLeanStackIsDocumented,
	} {
		t.Run(name, test)
	}
}

// quickstartCommands are the commands of the README's quickstart, one a line,
// without their comments.
func quickstartCommands(t *testing.T) []string {
	t.Helper()
	m := regexp.MustCompile("(?s)## Quickstart\n.*?```sh\n(.*?)```").FindStringSubmatch(readme(t))
	require.NotNil(t, m, "the README's Quickstart has no commands")
	var lines []string
	for _, l := range strings.Split(m[1], "\n") {
		if l = strings.TrimSpace(regexp.MustCompile(`\s+#.*$`).ReplaceAllString(l, "")); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// shellWords splits a quickstart line as the shell would, for the few forms
// it uses: words, quoted words, and the public key read from a file.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	line = strings.ReplaceAll(line, `"$(cat ~/.ssh/id_ed25519.pub)"`, `'`+testPublicKey+`'`)
	var words []string
	for _, m := range regexp.MustCompile(`'([^']*)'|"([^"]*)"|(\S+)`).FindAllStringSubmatch(line, -1) {
		words = append(words, m[1]+m[2]+m[3])
	}
	require.NotContains(t, line, "$(", "a command substitution this test does not know: %s", line)
	return words
}

// copyOfRepository copies the files git tracks (as they are in the work
// tree) into a new repository of the test's: a fresh clone.
func copyOfRepository(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dir := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		info, err := os.Lstat(f)
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755))
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, info.Mode().Perm()))
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-qm", "clone"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	return dir
}
