package main

// The notebook folders are shared between the user that runs notebook code
// and the sync's own user (the only one, with root, that reaches the
// instance's credentials). Proven with the real setup's users and folders in
// a mount namespace, the rendered sync run as its units run it against the S3
// server on loopback, and Jupyter's own contents manager saving as Jupyter's
// unit runs it.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// useBucket points the machine's aws at the rig's S3 server, with the
// stand-in credentials the sync's user would get from the metadata service.
func (m *machine) useBucket(rig *syncRig) []string {
	m.t.Helper()
	aws := filepath.Join(m.bin, "aws")
	require.NoError(m.t, os.Remove(aws))
	require.NoError(m.t, os.WriteFile(aws, []byte("#!/bin/sh\nexec /usr/bin/aws --endpoint-url "+rig.endpoint+" \"$@\"\n"), 0o755))
	return []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true",
		// systemd's HOME for a user without one; the restore's StateDirectory=.
		"HOME=/nonexistent", "STATE_DIRECTORY=/var/lib/research-lab"}
}

// stat is owner, group and octal mode of a path inside the machine.
func (m *machine) stat(path string) string {
	m.t.Helper()
	return strings.TrimSpace(m.must("stat -c '%U %G %a' " + shellQuote(path)))
}

// jupyterEdits are what a user does in Jupyter, through jupyter_server's own
// contents manager (the code behind every save, rename and delete, with its
// defaults: atomic writing, deletion to the trash): edit a notebook the
// restore wrote, checkpoint it, save a new one into a folder the restore
// made, move a restored one out of the publish folder, delete another.
const jupyterEdits = `import sys, nbformat
from jupyter_server.services.contents.filemanager import FileContentsManager
cm = FileContentsManager(root_dir=sys.argv[1])
model = cm.get("analysis/run.ipynb")
model["content"].metadata["edited"] = "in Jupyter"
cm.save(model, "analysis/run.ipynb")
cm.create_checkpoint("analysis/run.ipynb")
cm.save({"type": "notebook", "content": nbformat.v4.new_notebook()}, "published/results.ipynb")
cm.rename("published/hol02-app.ipynb", "hol02-app.ipynb")
cm.delete("old.ipynb")
print("saved")`

func TestJupyterAndItsSyncShareTheNotebookFolder(t *testing.T) {
	python := debianJupyterPython(t)
	rig := newSyncRig(t)
	notebook := `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	for _, key := range []string{"hol02/published/hol02-app.ipynb", "hol02/analysis/run.ipynb", "hol02/old.ipynb"} {
		rig.put(key, notebook)
	}
	m := newMachine(t, "HOL02-Jupyter", map[string]string{"bucketName": syncBucket}, false)
	m.setup()
	env := m.useBucket(rig)
	dir := jupyterNotebookDir

	// systemd makes the restore's StateDirectory=, its user's.
	m.must("install -d -o " + syncUser + " -g " + syncUser + " /var/lib/research-lab")
	m.must(m.asUnit("notebook-restore.service", "/usr/local/bin/notebook-sync", "restore"), env...)
	assert.Equal(t, "jupyter jupyter 2770", m.stat(dir), "the notebook folder stays the notebook user's, shared with its group (setgid)")
	assert.Equal(t, syncUser+" jupyter 660", m.stat(dir+"/analysis/run.ipynb"), "a restored notebook must be editable by Jupyter, through the folder's group")
	assert.Equal(t, syncUser+" jupyter 2770", m.stat(dir+"/analysis"), "a restored folder must take new notebooks from Jupyter")

	out := m.must(m.asUnit("jupyter.service", python, "-c", jupyterEdits, dir), "HOME="+jupyterHome)
	require.Contains(t, out, "saved")
	assert.Equal(t, "jupyter jupyter 660", m.stat(dir+"/published/results.ipynb"), "what Jupyter saves, its sync must read")

	// What the sync must not push: a symlink to a file only the sync's user
	// may read, put in the publish folder by notebook code, and a file the
	// notebook user keeps to itself.
	m.must("install -o " + syncUser + " -m 0600 /dev/null /var/lib/research-lab/sync-only && echo secret >/var/lib/research-lab/sync-only")
	m.must(m.asUnit("jupyter.service", "ln", "-s", "/var/lib/research-lab/sync-only", dir+"/published/leak.ipynb"))
	m.must(m.asUnit("jupyter.service", "install", "-m", "0600", "/dev/null", dir+"/mine.ipynb"))

	out = m.must(m.asUnit("notebook-push.service", "/usr/local/bin/notebook-sync", "push"), env...)
	assert.Contains(t, out, "mine.ipynb", "the push names the file it could not read")
	assert.Contains(t, rig.get("hol02/analysis/run.ipynb"), `"edited": "in Jupyter"`, "Jupyter's edit of a restored notebook must reach the bucket")
	assert.NotEqual(t, "(absent)", rig.get("hol02/published/results.ipynb"), "a notebook Jupyter saved into the publish folder must be published")
	assert.Equal(t, "(absent)", rig.get("hol02/published/hol02-app.ipynb"), "moving a restored notebook out of the publish folder unpublishes it")
	assert.Equal(t, "(absent)", rig.get("hol02/published/leak.ipynb"), "the push must not follow a symlink to a file only the sync may read")
	assert.Equal(t, "(absent)", rig.get("hol02/mine.ipynb"), "a file the sync may not read is passed over")
	assert.Equal(t, notebook, rig.get("hol02/old.ipynb"), "the push never deletes outside the publish folder")
}

// TestVoilaServesWhatItCannotChange: Voila's folder is the sync's; Voila and
// its kernels (any visitor's code) read it and cannot change what is served.
func TestVoilaServesWhatItCannotChange(t *testing.T) {
	rig := newSyncRig(t)
	rig.put("hol02/published/hol02-app.ipynb", "sample")
	rig.put("hol02/published/course/week1.ipynb", "week 1")
	m := newMachine(t, "HOL02-VoilaServer", map[string]string{"bucketName": syncBucket}, false)
	m.setup()
	// systemd makes the pull's StateDirectory=, its user's.
	env := append(m.useBucket(rig), "STATE_DIRECTORY=/var/lib/research-lab-sync")
	m.must("install -d -o " + syncUser + " -g " + syncUser + " /var/lib/research-lab-sync")
	m.must(m.asUnit("notebook-pull.service", "/usr/local/bin/notebook-sync", "pull"), env...)

	dir := voilaNotebookDir
	assert.Equal(t, syncUser+" voila 2750", m.stat(dir))
	assert.Equal(t, syncUser+" voila 2750", m.stat(dir+"/course"))
	assert.Equal(t, syncUser+" voila 640", m.stat(dir+"/course/week1.ipynb"))
	voila := func(script string) error {
		_, err := m.command("", m.asUnit("voila.service", "/bin/sh", "-c", script)).CombinedOutput()
		return err
	}
	assert.NoError(t, voila("cat "+dir+"/course/week1.ipynb"), "Voila must read what it serves")
	for _, change := range []string{
		"echo defaced >" + dir + "/hol02-app.ipynb",
		"echo new >" + dir + "/course/new.ipynb",
		"rm " + dir + "/hol02-app.ipynb",
		"mv " + dir + "/course " + dir + "/moved",
	} {
		assert.Error(t, voila(change), "Voila's user must not change the site: %s", change)
	}

	// The next pull still mirrors the bucket, deletions included.
	_, err := rig.backend.DeleteObject(syncBucket, "hol02/published/course/week1.ipynb")
	require.NoError(t, err)
	m.must(m.asUnit("notebook-pull.service", "/usr/local/bin/notebook-sync", "pull"), env...)
	assert.Contains(t, m.must("ls -R "+dir), "hol02-app.ipynb")
	assert.NotContains(t, m.must("ls -R "+dir), "week1.ipynb", "an unpublished notebook leaves the site")
}
