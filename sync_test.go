package main

// The notebook sync proven with the real script and the real aws CLI
// (Debian's awscli) against an S3-compatible server on loopback (gofakes3,
// versioned). Only the CLI's endpoint is changed, by a wrapper on PATH.

import (
	"bytes"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const syncBucket = "lab-notebooks"

// syncRig is a bucket on loopback and the servers that sync with it.
type syncRig struct {
	t        *testing.T
	backend  *s3mem.Backend
	bin      string // the aws wrapper
	endpoint string
}

func newSyncRig(t *testing.T) *syncRig {
	t.Helper()
	aws := "/usr/bin/aws" // Debian's awscli; the aws first on PATH may be another
	if _, err := os.Stat(aws); err != nil {
		if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
			t.Fatal("Debian's awscli is not installed: run .ci/install-tools")
		}
		t.Skip("Debian's awscli is not installed")
	}
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(syncBucket))
	require.NoError(t, backend.SetVersioningConfiguration(syncBucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}))
	server := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(server.Close)
	bin := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s --endpoint-url %s \"$@\"\n", aws, server.URL)
	require.NoError(t, os.WriteFile(filepath.Join(bin, "aws"), []byte(wrapper), 0o755))
	return &syncRig{t: t, backend: backend, bin: bin, endpoint: server.URL}
}

// syncServer is one server's notebook folder and sync script.
type syncServer struct {
	rig    *syncRig
	dir    string // the notebook folder
	state  string // STATE_DIRECTORY
	script string
}

// server renders a server's userdata and lays out its sync script, helpers
// and environment; only the notebook folder moves into the test's own.
func (r *syncRig) server(name string, changes map[string]string) *syncServer {
	r.t.Helper()
	changes["bucketName"] = syncBucket
	return r.serverOf(name, deploy(r.t, changes))
}

// serverOf is server for a lab already deployed (a team's), whose bucket
// must be the rig's.
func (r *syncRig) serverOf(name string, run *mockRun) *syncServer {
	t := r.t
	t.Helper()
	ud := userDataOf(t, one(t, run, typeInstance, name))
	root := t.TempDir()
	s := &syncServer{rig: r, dir: filepath.Join(root, "notebooks"), state: filepath.Join(root, "state"), script: filepath.Join(root, "notebook-sync")}
	require.NoError(t, os.MkdirAll(s.dir, 0o755))
	require.NoError(t, os.MkdirAll(s.state, 0o755))
	common, env := filepath.Join(root, "common.sh"), filepath.Join(root, "notebooks.env")
	require.NoError(t, os.WriteFile(common, []byte(writtenFile(t, ud, "/usr/local/lib/research-lab/common.sh")), 0o644))
	require.NoError(t, os.WriteFile(env, []byte(writtenFile(t, ud, "/etc/research-lab/notebooks.env")+"NOTEBOOK_DIR="+shellQuote(s.dir)+"\n"), 0o644))
	script := writtenFile(t, ud, "/usr/local/bin/notebook-sync")
	script = strings.ReplaceAll(script, "/usr/local/lib/research-lab/common.sh", common)
	script = strings.ReplaceAll(script, "/etc/research-lab/notebooks.env", env)
	require.NoError(t, os.WriteFile(s.script, []byte(script), 0o755))
	return s
}

func (s *syncServer) command(action string) *exec.Cmd {
	cmd := exec.Command("/bin/bash", s.script, action)
	cmd.Env = []string{"PATH=" + s.rig.bin + ":/usr/bin:/bin", "HOME=" + s.state, "STATE_DIRECTORY=" + s.state, "RETRY_MAX=1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true"}
	return cmd
}

func (s *syncServer) run(action string) string {
	s.rig.t.Helper()
	out, err := s.command(action).CombinedOutput()
	require.NoError(s.rig.t, err, "notebook-sync %s:\n%s", action, out)
	return string(out)
}

func (s *syncServer) write(name, content string) {
	s.rig.t.Helper()
	path := filepath.Join(s.dir, name)
	require.NoError(s.rig.t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(s.rig.t, os.WriteFile(path, []byte(content), 0o644))
}

func (s *syncServer) read(name string) string {
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return "(absent)"
	}
	return string(b)
}

// files lists the server's notebook folder.
func (s *syncServer) files() []string {
	var out []string
	require.NoError(s.rig.t, filepath.WalkDir(s.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(s.dir, path)
			out = append(out, rel)
		}
		return err
	}))
	sort.Strings(out)
	return out
}

func (r *syncRig) put(key, content string) {
	_, err := r.backend.PutObject(syncBucket, key, map[string]string{}, bytes.NewReader([]byte(content)), int64(len(content)), nil)
	require.NoError(r.t, err)
}

func (r *syncRig) get(key string) string {
	obj, err := r.backend.GetObject(syncBucket, key, nil)
	if err != nil {
		return "(absent)"
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	require.NoError(r.t, err)
	return string(b)
}

// keys lists the bucket's current objects.
func (r *syncRig) keys() []string {
	list, err := r.backend.ListBucket(syncBucket, nil, gofakes3.ListBucketPage{})
	require.NoError(r.t, err)
	var out []string
	for _, c := range list.Contents {
		out = append(out, c.Key)
	}
	sort.Strings(out)
	return out
}

// versions counts the stored versions of a key, delete markers apart.
func (r *syncRig) versions(key string) int {
	res, err := r.backend.ListBucketVersions(syncBucket, &gofakes3.Prefix{HasPrefix: true, Prefix: key}, &gofakes3.ListBucketVersionsPage{})
	require.NoError(r.t, err)
	n := 0
	for _, v := range res.Versions {
		if ver, ok := v.(*gofakes3.Version); ok && ver.Key == key {
			n++
		}
	}
	return n
}

func TestNotebookSyncRestorePushPublishUnpublish(t *testing.T) {
	rig := newSyncRig(t)
	rig.put("hol02/published/hol02-app.ipynb", "sample")
	rig.put("hol02/analysis.ipynb", "bucket copy")
	rig.put("other-lab/secret.ipynb", "not ours")

	jupyter := rig.server("HOL02-Jupyter", map[string]string{})
	jupyter.write("analysis.ipynb", "newer work on the server")
	jupyter.run("restore")
	assert.Equal(t, "newer work on the server", jupyter.read("analysis.ipynb"), "restore must never overwrite a file already on the server")
	assert.Equal(t, "sample", jupyter.read("published/hol02-app.ipynb"), "restore brings the bucket's notebooks")
	assert.Equal(t, "(absent)", jupyter.read("../other-lab/secret.ipynb"))

	rig.put("hol02/late.ipynb", "arrived after the first boot")
	jupyter.run("restore")
	assert.Equal(t, "(absent)", jupyter.read("late.ipynb"), "restore runs once per server")

	// Push: drafts stay private in the bucket, the publish folder is mirrored.
	jupyter.write("draft.ipynb", "private draft")
	jupyter.write("published/results.ipynb", "to publish")
	jupyter.run("push")
	assert.Equal(t, "private draft", rig.get("hol02/draft.ipynb"))
	assert.Equal(t, "to publish", rig.get("hol02/published/results.ipynb"))
	assert.Equal(t, "newer work on the server", rig.get("hol02/analysis.ipynb"), "push sends the server's work")

	voila := rig.server("HOL02-VoilaServer", map[string]string{})
	voila.run("pull")
	assert.Equal(t, []string{"hol02-app.ipynb", "results.ipynb"}, voila.files(), "Voila gets the publish folder and nothing else")

	// Unpublish one notebook by moving it out, delete a draft.
	require.NoError(t, os.Rename(filepath.Join(jupyter.dir, "published/hol02-app.ipynb"), filepath.Join(jupyter.dir, "hol02-app.ipynb")))
	require.NoError(t, os.Remove(filepath.Join(jupyter.dir, "draft.ipynb")))
	jupyter.run("push")
	assert.Equal(t, "(absent)", rig.get("hol02/published/hol02-app.ipynb"), "moving a notebook out of the publish folder unpublishes it")
	assert.Equal(t, 1, rig.versions("hol02/published/hol02-app.ipynb"), "versioning keeps the unpublished notebook's version")
	assert.Equal(t, "sample", rig.get("hol02/hol02-app.ipynb"))
	assert.Equal(t, "private draft", rig.get("hol02/draft.ipynb"), "push never deletes outside the publish folder")
	assert.Equal(t, "not ours", rig.get("other-lab/secret.ipynb"))

	voila.run("pull")
	assert.Equal(t, []string{"results.ipynb"}, voila.files(), "pull mirrors deletions: the unpublished notebook leaves the site")
}

func TestNotebookSyncPublishEverything(t *testing.T) {
	rig := newSyncRig(t)
	rig.put("hol02/hol02-app.ipynb", "sample")
	jupyter := rig.server("HOL02-Jupyter", map[string]string{"publishFolder": ""})
	jupyter.run("restore")
	jupyter.write("draft.ipynb", "draft")
	require.NoError(t, os.Remove(filepath.Join(jupyter.dir, "hol02-app.ipynb")))
	jupyter.run("push")
	assert.Equal(t, []string{"hol02/draft.ipynb", "hol02/hol02-app.ipynb"}, rig.keys(), "publishing everything, the push never deletes")
	voila := rig.server("HOL02-VoilaServer", map[string]string{"publishFolder": ""})
	voila.run("pull")
	assert.Equal(t, []string{"draft.ipynb", "hol02-app.ipynb"}, voila.files(), "Voila publishes every notebook")
}

func TestNotebookSyncPushNeverRacesTheRestore(t *testing.T) {
	rig := newSyncRig(t)
	rig.put("hol02/published/hol02-app.ipynb", "sample")
	jupyter := rig.server("HOL02-Jupyter", map[string]string{})

	// A new server whose push timer fires before the restore: its empty
	// folder must not unpublish anything.
	out := jupyter.run("push")
	assert.Contains(t, out, "not restored yet")
	assert.Equal(t, []string{"hol02/published/hol02-app.ipynb"}, rig.keys(), "a push before the restore must change nothing in the bucket")

	// Two runs at once: the second waits for the first's lock.
	jupyter.run("restore")
	jupyter.write("published/new.ipynb", "new")
	lock, err := os.Open(filepath.Join(jupyter.state, "lock"))
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	push := jupyter.command("push")
	var logs bytes.Buffer
	push.Stdout, push.Stderr = &logs, &logs
	require.NoError(t, push.Start())
	waitForChild(t, push.Process.Pid, "flock")
	assert.Equal(t, "(absent)", rig.get("hol02/published/new.ipynb"), "a push must wait while another transfer holds the lock")
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_UN))
	require.NoError(t, push.Wait(), "%s", logs.String())
	assert.Equal(t, "new", rig.get("hol02/published/new.ipynb"), "the waiting push runs once the lock is free")
}

// waitForChild waits until process pid has a child running command: the
// point where the script blocks. It polls /proc, bounded, never sleeping
// for time itself to pass.
func waitForChild(t *testing.T, pid int, command string) {
	t.Helper()
	require.True(t, eventually(loadedMachine, func() bool {
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, c := range strings.Fields(string(children)) {
			if comm, _ := os.ReadFile("/proc/" + c + "/comm"); strings.TrimSpace(string(comm)) == command {
				return true
			}
		}
		return false
	}), "process %d never ran %s", pid, command)
}

// TestTeamNotebooksTravelPerMember: in a team lab each member's folder goes
// to and from <prefix>/<member>/ and the shared folder to and from
// <prefix>/shared/, each publish folder mirrored (deletions included) and
// nothing else deleted; Voila's front page is the shared publish folder (the
// sample's), every member's publish folder a folder of the member's name. The real setup and members' sync in a machine, the
// rendered sync run as its units run it, against the S3 server on loopback.
func TestTeamNotebooksTravelPerMember(t *testing.T) {
	rig := newSyncRig(t)
	notebook := `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	for _, key := range []string{"hol02/alice/analysis.ipynb", "hol02/alice/published/old-result.ipynb", "hol02/bob/notes.ipynb",
		"hol02/shared/published/hol02-app.ipynb", "hol02/shared/plan.ipynb", "other-lab/alice/secret.ipynb"} {
		rig.put(key, notebook)
	}
	team := map[string]string{"bucketName": syncBucket}
	tm := newTeamMachine(t, deployTeam(t, "wireguard", []string{"alice", "bob"}, team))
	tm.setup()
	env := tm.useBucket(rig)
	tm.setTeam("alice", "bob")
	tm.must(tm.asUnit("notebook-restore.service", "/usr/local/bin/notebook-sync", "restore"), append(env, "STATE_DIRECTORY=/var/lib/research-lab")...)
	tm.must("/usr/local/sbin/research-lab-members", env...)

	alice, bob := membersHome+"/alice/"+memberNotebooks, membersHome+"/bob/"+memberNotebooks
	assert.Equal(t, notebook, tm.must("cat "+alice+"/analysis.ipynb"), "a new member's notebooks come back from <prefix>/<member>/")
	assert.Equal(t, notebook, tm.must("cat "+bob+"/notes.ipynb"))
	assert.Equal(t, notebook, tm.must("cat "+teamSharedDir+"/published/hol02-app.ipynb"), "the shared folder comes back from <prefix>/shared/")
	assert.Equal(t, "alice alice 2770", tm.stat(alice), "a member's folder is theirs alone (their group has no one else)")
	assert.Equal(t, "alice alice 660", tm.stat(alice+"/analysis.ipynb"), "a restored notebook is written as its member")
	assert.Equal(t, notebook, tm.must("cat "+alice+"/"+sharedFolder+"/plan.ipynb"), "each member's folder links to the shared one")

	// What members do, as their servers' units run them (UMask 0007).
	tm.must(asUser("alice", "", "0007", "sh", "-c", "cd "+alice+" && echo draft >draft.ipynb && echo new >published/new.ipynb && "+
		"mv published/old-result.ipynb . && mkdir -p project/published && echo nested >project/published/nested.ipynb && "+
		"echo team >"+sharedFolder+"/published/team.ipynb"))
	tm.must(asUser("bob", "", "0007", "sh", "-c", "cd "+bob+" && echo mine >published/bobs.ipynb"))
	out := tm.must(tm.asUnit("notebook-push.service", "/usr/local/bin/notebook-sync", "push"), append(env, "STATE_DIRECTORY=/var/lib/research-lab")...)
	assert.NotContains(t, out, "not restored", "every folder was restored: every folder is pushed")
	assert.Equal(t, "draft\n", rig.get("hol02/alice/draft.ipynb"), "a member's drafts go to <prefix>/<member>/")
	assert.Equal(t, "new\n", rig.get("hol02/alice/published/new.ipynb"), "a member publishes in their own publish folder")
	assert.Equal(t, "(absent)", rig.get("hol02/alice/published/old-result.ipynb"), "moving a notebook out of a member's publish folder unpublishes it")
	assert.Equal(t, notebook, rig.get("hol02/alice/old-result.ipynb"))
	assert.Equal(t, "mine\n", rig.get("hol02/bob/published/bobs.ipynb"))
	assert.Equal(t, "team\n", rig.get("hol02/shared/published/team.ipynb"), "the shared folder goes to <prefix>/shared/")
	assert.Equal(t, notebook, rig.get("hol02/shared/plan.ipynb"))
	for _, k := range rig.keys() {
		assert.NotContains(t, k, "hol02/alice/"+sharedFolder+"/", "the link to the shared folder is not followed into a member's folder")
	}
	assert.Equal(t, notebook, rig.get("other-lab/alice/secret.ipynb"))

	// Voila: every member's and the shared publish folder, nothing else.
	voila := rig.serverOf("HOL02-VoilaServer", deployTeam(t, "wireguard", []string{"alice", "bob"}, team))
	voila.run("pull")
	assert.Equal(t, []string{"alice/new.ipynb", "bob/bobs.ipynb", "hol02-app.ipynb", "team.ipynb"}, voila.files(),
		"Voila's front page is the shared publish folder, each member's a folder of their name; nothing unpublished")

	// bob unpublishes his only notebook: his folder leaves the site.
	tm.must(asUser("bob", "", "0007", "rm", bob+"/published/bobs.ipynb"))
	tm.must(tm.asUnit("notebook-push.service", "/usr/local/bin/notebook-sync", "push"), append(env, "STATE_DIRECTORY=/var/lib/research-lab")...)
	assert.Equal(t, notebook, rig.get("hol02/bob/notes.ipynb"), "the push never deletes outside the publish folders")
	voila.run("pull")
	assert.Equal(t, []string{"alice/new.ipynb", "hol02-app.ipynb", "team.ipynb"}, voila.files(), "the pull mirrors deletions, folders included")
}

// TestTeamPublishEverything: with publishFolder "" a team's site is every
// notebook: the shared folder's on the front page (the sample among them),
// each member's in a folder of their name.
func TestTeamPublishEverything(t *testing.T) {
	rig := newSyncRig(t)
	for _, key := range []string{"hol02/shared/hol02-app.ipynb", "hol02/alice/draft.ipynb", "hol02/alice/sub/deep.ipynb"} {
		rig.put(key, "nb")
	}
	voila := rig.serverOf("HOL02-VoilaServer", deployTeam(t, "wireguard", []string{"alice"}, map[string]string{"bucketName": syncBucket, "publishFolder": ""}))
	voila.run("pull")
	assert.Equal(t, []string{"alice/draft.ipynb", "alice/sub/deep.ipynb", "hol02-app.ipynb"}, voila.files())
}

// TestPushFailsOnWhatItCannotParse: aws s3 sync exits 2 both when it passes
// over files it may not upload and when it could not run the command at all
// (https://docs.aws.amazon.com/cli/latest/topic/return-codes.html). The push
// passes over the files, and fails on anything else.
func TestPushFailsOnWhatItCannotParse(t *testing.T) {
	rig := newSyncRig(t)
	jupyter := rig.server("HOL02-Jupyter", map[string]string{})
	jupyter.run("restore")
	jupyter.write("analysis.ipynb", "work")
	require.NoError(t, syscall.Mkfifo(filepath.Join(jupyter.dir, "a-pipe"), 0o644))
	out := jupyter.run("push")
	assert.Contains(t, out, "warning: Skipping file", "aws passes over the FIFO, and says so")
	assert.Equal(t, "work", rig.get("hol02/analysis.ipynb"), "the rest is pushed")

	// The CLI as it answers a command it cannot parse (argparse: exit 2).
	parseError := "#!/bin/sh\necho 'aws: error: argument --exclude: expected one argument' >&2\nexit 2\n"
	require.NoError(t, os.WriteFile(filepath.Join(rig.bin, "aws"), []byte(parseError), 0o755))
	failed, err := jupyter.command("push").CombinedOutput()
	assert.Error(t, err, "a push aws could not run must fail, not count as done:\n%s", failed)
}

// TestSyncCarriesNoCompiledCode: Python's bytecode and shared objects in a
// notebook folder never reach the bucket (and so never another server or
// the site), where an import beside a notebook would run them; source
// files do.
func TestSyncCarriesNoCompiledCode(t *testing.T) {
	rig := newSyncRig(t)
	jupyter := rig.server("HOL02-Jupyter", map[string]string{})
	jupyter.run("restore")
	jupyter.write("helpers.py", "source")
	for _, compiled := range []string{"numpy.pyc", "__pycache__/helpers.cpython-311.pyc", "published/__pycache__/x.cpython-311.pyc", "ipykernel_launcher.pyo", "_speedups.so"} {
		jupyter.write(compiled, "compiled")
	}
	jupyter.run("push")
	assert.Equal(t, []string{"hol02/helpers.py"}, rig.keys(), "only the source reaches the bucket")
}
