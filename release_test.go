package main

// The previous release, built from its archive in testdata and run under
// the real engine, so that the upgrade test upgrades a stack the release
// itself made (TestEngineUpgradesTheReleasedStack, engine_test.go).

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// releasedNamesFile records the previous release's commit and the logical
// names it declared.
const releasedNamesFile = "testdata/released-logical-names.txt"

var releasedCommitRe = regexp.MustCompile(`\(main at ([0-9a-f]{7,40})\)`)

// release is the previous release, ready to run.
type release struct {
	commit string
	tree   string // its files, as `git archive` gives them: the project a user had checked out
	driver string // its program with testdata/release/driver.go, built
}

// buildRelease builds the release releasedNamesFile records to run under
// the engine. Its files are testdata/release/<commit>.tar.gz, `git archive`
// of that commit, so that a clone without the history (CI's is shallow)
// still has them; where the history has the commit, the archive must be its
// tree. No Go language host can be installed here (pulumi-language-go is
// not served by the module proxy), so its func main is renamed and
// testdata/release/driver.go runs its createInfrastructure as an Automation
// API inline program, with the environment the language host gave it. The
// release is built with its own go.mod; go.sum gains this module's sums for
// what the driver imports.
func buildRelease(t *testing.T) release {
	t.Helper()
	requireTool(t, "tar")
	fixture, err := os.ReadFile(releasedNamesFile)
	require.NoError(t, err)
	m := releasedCommitRe.FindSubmatch(fixture)
	require.NotNil(t, m, "%s must record the release as (main at COMMIT)", releasedNamesFile)
	rel := release{commit: string(m[1])}

	dir := t.TempDir()
	rel.tree, rel.driver = filepath.Join(dir, "tree"), filepath.Join(dir, "release-driver")
	require.NoError(t, os.Mkdir(rel.tree, 0o700))
	archive, err := filepath.Abs(filepath.Join("testdata", "release", rel.commit+".tar.gz"))
	require.NoError(t, err)
	run(t, rel.tree, "tar", "-xzf", archive)
	if exec.Command("git", "cat-file", "-e", rel.commit+"^{commit}").Run() == nil {
		fromHistory := filepath.Join(dir, "history")
		require.NoError(t, os.Mkdir(fromHistory, 0o700))
		run(t, ".", "git", "archive", "--output="+filepath.Join(dir, "history.tar"), rel.commit)
		run(t, fromHistory, "tar", "-xf", filepath.Join(dir, "history.tar"))
		assert.Equal(t, treeFiles(t, fromHistory), treeFiles(t, rel.tree), "%s must be `git archive %s`", archive, rel.commit)
	}
	renameMain(t, rel.tree, "releasedMain")
	driver, err := os.ReadFile("testdata/release/driver.go")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(rel.tree, "zz_release_driver.go"), driver, 0o600))
	mergeGoSum(t, filepath.Join(rel.tree, "go.sum"), "go.sum")

	start := time.Now()
	build := exec.Command("go", "build", "-mod=mod", "-o", rel.driver, ".")
	build.Dir, build.Env = rel.tree, append(os.Environ(), "GOWORK=off")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building the release %s with its own go.mod:\n%s", rel.commit, out)
	t.Logf("built the release %s in %s", rel.commit, time.Since(start).Round(time.Second))
	return rel
}

// treeFiles is every file under dir, by its path, with its content's digest.
func treeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	}))
	return files
}

// run runs a command in dir and fails the test if it fails.
func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
}

// renameMain renames the package main's func main in dir to name.
func renameMain(t *testing.T, dir, name string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	renamed := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		require.NoError(t, err)
		found := false
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "main" {
				fn.Name.Name = name
				found = true
				renamed++
			}
		}
		if !found {
			continue
		}
		var buf bytes.Buffer
		require.NoError(t, format.Node(&buf, fset, f))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	}
	require.Equal(t, 1, renamed, "the release must have one func main")
}

// mergeGoSum adds to the go.sum at dst the lines of src it lacks.
func mergeGoSum(t *testing.T, dst, src string) {
	t.Helper()
	a, err := os.ReadFile(dst)
	require.NoError(t, err)
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(a)+"\n"+string(b)), "\n")
	slices.Sort(lines)
	require.NoError(t, os.WriteFile(dst, []byte(strings.Join(slices.Compact(lines), "\n")+"\n"), 0o600))
}

// upRelease is `pulumi up` by the release, in the lab's project folder; the
// error holds what it printed.
func (l *engineLab) upRelease(rel release) error {
	cmd := exec.Command(rel.driver, l.name)
	cmd.Dir, cmd.Env = l.dir, os.Environ()
	for k, v := range l.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	l.output = append(l.output, string(out))
	if err != nil {
		return fmt.Errorf("the release %s: pulumi up: %w\n%s", rel.commit, err, out)
	}
	return nil
}
