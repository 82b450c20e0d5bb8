package main

// Members against each other on a team's server: the real setup, members'
// sync and notebook sync in a machine (machine_test.go), real users, the
// bucket on loopback (sync_test.go). Each test plays a hostile member.

import (
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// everyVersion is the content of every stored version of every key: what
// the bucket ever received.
func (r *syncRig) everyVersion() map[string]string {
	r.t.Helper()
	res, err := r.backend.ListBucketVersions(syncBucket, nil, &gofakes3.ListBucketVersionsPage{})
	require.NoError(r.t, err)
	out := map[string]string{}
	for _, v := range res.Versions {
		ver, ok := v.(*gofakes3.Version)
		if !ok {
			continue
		}
		obj, err := r.backend.GetObjectVersion(syncBucket, ver.Key, ver.VersionID, nil)
		require.NoError(r.t, err)
		b, err := io.ReadAll(obj.Contents)
		require.NoError(r.t, obj.Contents.Close())
		require.NoError(r.t, err)
		out[fmt.Sprintf("%s (version %s)", ver.Key, ver.VersionID)] = string(b)
	}
	return out
}

// teamWithBucket is a team's server, set up, with its members applied and
// its folders restored from the rig's bucket; it returns the environment
// the units' commands need.
func teamWithBucket(t *testing.T, rig *syncRig, members ...string) (*teamMachine, []string) {
	t.Helper()
	tm := newTeamMachine(t, deployTeam(t, "wireguard", members, map[string]string{"bucketName": syncBucket}))
	tm.setup()
	env := append(tm.useBucket(rig), "STATE_DIRECTORY=/var/lib/research-lab")
	tm.setTeam(members...)
	tm.must(tm.asUnit("notebook-restore.service", "/usr/local/bin/notebook-sync", "restore"), env...)
	tm.must("/usr/local/sbin/research-lab-members", env...)
	return tm, env
}

// TestNoMemberReadsAnotherThroughThePush: alice swaps files in her publish
// folder and in the shared one for links to bob's private notebook, as fast
// as she can, while pushes run. None of bob's bytes reach the bucket (and so
// the site): the sync is in no member's group, and each member's folder is
// copied with that member's rights only. The AWS CLI reads a file for as
// many bytes as it had when listed, so alice's decoy is 4 KiB and bob's
// notebook longer: against a push that synced her folder itself, as a sync
// in her group, his secret landed in three versions of three pushes.
func TestNoMemberReadsAnotherThroughThePush(t *testing.T) {
	rig := newSyncRig(t)
	tm, env := teamWithBucket(t, rig, "alice", "bob")
	const secret = "bobs private work 7f3a9c"
	bob, alice := membersHome+"/bob/"+memberNotebooks, membersHome+"/alice/"+memberNotebooks
	// Larger than alice's decoy: a push that reads the link reads as many
	// bytes as it found in the decoy, bob's secret among them.
	tm.must(asUser("bob", "", "0007", "sh", "-c", "printf '%s\\n%8192s\\n' '"+secret+"' end >"+bob+"/private.ipynb"))
	groups := strings.Fields(tm.must("id -Gn " + syncUser))
	assert.ElementsMatch(t, []string{syncUser, sharedGroup}, groups, "the sync must be in no member's group")

	// alice's swapper: a file, then a link in its place, in both publish
	// folders, until the pushes are done (a stop file), at most 20000 times;
	// in the pushes' mount namespace, so that both see the same files.
	stop := filepath.Join(tm.bin, "stop-swapping")
	swap := fmt.Sprintf(`for i in $(seq 20000); do
	[ -e %[1]s ] && exit 0
	for d in %[2]s/published %[2]s/shared/published; do
		printf '%%4096s\n' decoy >"$d/.t" && mv -f "$d/.t" "$d/leak.ipynb"
		ln -sfn %[3]s/private.ipynb "$d/.l" && mv -fT "$d/.l" "$d/leak.ipynb"
	done
done`, stop, alice, bob)
	// A push may fail for the folders alice races in (tar cannot read a
	// link she swapped back for a file): her own, and the shared one, which
	// members must trust each other with. Never for bob's.
	push := tm.asUnit("notebook-push.service", "/usr/local/bin/notebook-sync", "push")
	out := tm.must(asUser("alice", "", "0007", "bash", "-c", swap)+" >/dev/null 2>&1 & swapper=$!\n"+
		"for i in 1 2 3; do "+push+" || echo 'a push failed'; done\n"+
		"touch "+stop+"\nwait $swapper", env...)
	assert.NotContains(t, out, "bob: not done", "alice's races must not stop bob's push")

	received := rig.everyVersion()
	require.NotEmpty(t, received)
	for key, content := range received {
		if !strings.HasPrefix(key, "hol02/bob/") {
			assert.NotContains(t, content, secret, "%s holds bob's private notebook, pushed through alice's folder", key)
		}
	}
	assert.Contains(t, received, "hol02/bob/private.ipynb (version "+versionOf(t, rig, "hol02/bob/private.ipynb")+")", "bob's own push carries his work")
}

// versionOf is the current version id of key.
func versionOf(t *testing.T, r *syncRig, key string) string {
	t.Helper()
	obj, err := r.backend.HeadObject(syncBucket, key)
	require.NoError(t, err, "%s is not in the bucket", key)
	return string(obj.VersionID)
}

// TestMembersCannotFreezeTheSync: a member's code holds a lock on every file
// it can open (the shared folder, which was the sync's lock); the push still
// runs. The sync's lock is a file no member may open, and a transfer waits
// for it a bounded time, then gives up and says so.
func TestMembersCannotFreezeTheSync(t *testing.T) {
	rig := newSyncRig(t)
	tm, env := teamWithBucket(t, rig, "alice")
	alice := membersHome + "/alice/" + memberNotebooks
	tm.must(asUser("alice", "", "0007", "sh", "-c", "echo work >"+alice+"/work.ipynb"))
	_, err := tm.command("", asUser("alice", "", "", "flock", "-n", "/var/lib/research-lab/lock", "true")).CombinedOutput()
	assert.Error(t, err, "a member must not open the sync's lock")

	// alice's kernel holds the shared folder (in the push's mount namespace:
	// the same files); root sees it held, then pushes, bounded.
	// One process, the lock's holder, which the test ends by its id.
	hold := asUser("alice", "", "", "bash", "-c", "exec 8<"+teamSharedDir+" && flock 8 && exec sleep 300")
	out, err := tm.command("", hold+" >/dev/null 2>&1 & holder=$!\n"+
		"for i in $(seq 100); do flock -n "+teamSharedDir+" true || break; sleep 0.1; done\n"+
		"timeout 120 bash -c "+shellQuote(tm.asUnit("notebook-push.service", "/usr/local/bin/notebook-sync", "push"))+"; status=$?\n"+
		"kill $holder; exit $status", env...).CombinedOutput()
	require.NoError(t, err, "a push while a member holds a lock on the shared folder:\n%s", out)
	assert.Equal(t, "work\n", rig.get("hol02/alice/work.ipynb"), "the push ran while a member held what she could")

	// The lock held (by a transfer that hangs): the next gives up, bounded.
	server := rig.server("HOL02-Jupyter", map[string]string{})
	server.run("restore")
	lock, err := os.Open(filepath.Join(server.state, "lock"))
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	push := server.command("push")
	push.Env = append(push.Env, "LOCK_TIMEOUT=1")
	// Bounded: a push that waited for the lock for ever would hold the test.
	push.Path, push.Args = "/usr/bin/timeout", append([]string{"timeout", "120"}, push.Args...)
	out, err = push.CombinedOutput()
	assert.Error(t, err, "a push that cannot have the lock must fail, not wait forever")
	assert.Contains(t, string(out), "another transfer has held the lock for 1s; giving up")
}

// TestBrokenMemberFolderStopsNoOne: bob replaces his notebook folder with a
// file; the members' sync names him and goes on, to a new member after him
// and to a removal, and the push names his folder and pushes everyone
// else's.
func TestBrokenMemberFolderStopsNoOne(t *testing.T) {
	rig := newSyncRig(t)
	tm, env := teamWithBucket(t, rig, "alice", "bob")
	bob := membersHome + "/bob/" + memberNotebooks
	tm.must(asUser("bob", "", "0007", "sh", "-c", "rm -rf "+bob+" && echo not-a-folder >"+bob))

	tm.setTeam("bob", "carol")
	out := tm.must("/usr/local/sbin/research-lab-members", env...)
	assert.Contains(t, out, "bob: not applied", "the members' sync names the member it passed over:\n%s", out)
	team := tm.groupMembers(teamGroup)
	assert.Contains(t, team, "carol", "a member after the broken one is applied")
	assert.NotContains(t, team, "alice", "a removal after the broken one runs")
	assert.True(t, strings.HasPrefix(strings.Split(tm.must("getent shadow alice"), ":")[1], "!"), "alice, removed, is locked")

	tm.must(asUser("carol", "", "0007", "sh", "-c", "echo mine >"+membersHome+"/carol/"+memberNotebooks+"/mine.ipynb"))
	out = tm.must(tm.asUnit("notebook-push.service", "/usr/local/bin/notebook-sync", "push")+" || echo push-failed", env...)
	assert.Contains(t, out, "bob: not done", "the push names the folder it passed over:\n%s", out)
	assert.Contains(t, out, "push-failed", "a push that passed over a folder says so in its status")
	assert.Equal(t, "mine\n", rig.get("hol02/carol/mine.ipynb"), "the other members' folders are pushed")
}

// groupMembers are a group's members in the machine.
func (tm *teamMachine) groupMembers(group string) []string {
	tm.t.Helper()
	fields := strings.Split(strings.TrimSpace(tm.must("getent group "+group)), ":")
	require.Len(tm.t, fields, 4)
	return strings.FieldsFunc(fields[3], func(r rune) bool { return r == ',' })
}

// TestRestoreRunsAsTheMemberBeforeLogin: carol joins while the bucket cannot
// be reached: she may not log in (not in the team's group, no password)
// until her notebooks are back. If her notebook folder is then a link into
// alice's, the restore (as carol) writes nothing there; once her folder is
// hers again, the restore brings her notebooks, as carol, and lets her in.
func TestRestoreRunsAsTheMemberBeforeLogin(t *testing.T) {
	rig := newSyncRig(t)
	rig.put("hol02/carol/thesis.ipynb", "carol's thesis")
	tm, env := teamWithBucket(t, rig, "alice")
	alice, carol := membersHome+"/alice/"+memberNotebooks, membersHome+"/carol/"+memberNotebooks
	before := tm.must("ls -A " + alice)

	endpoint := filepath.Join(tm.bin, "endpoint")
	require.NoError(t, os.WriteFile(endpoint, []byte("http://127.0.0.1:1"), 0o644)) // nothing answers
	tm.setTeam("alice", "carol")
	tm.must("/usr/local/sbin/research-lab-members", env...)
	mayLogIn := func() bool {
		inTeam := slices.Contains(tm.groupMembers(teamGroup), "carol")
		hash := strings.Split(tm.must("getent shadow carol"), ":")[1]
		return inTeam || !strings.HasPrefix(hash, "!")
	}
	assert.False(t, mayLogIn(), "carol may log in before her notebooks are restored")

	tm.must(asUser("carol", "", "0007", "sh", "-c", "rm -rf "+carol+" && ln -s "+alice+" "+carol))
	require.NoError(t, os.WriteFile(endpoint, []byte(rig.endpoint), 0o644))
	tm.must("/usr/local/sbin/research-lab-members", env...)
	assert.Equal(t, before, tm.must("ls -A "+alice), "the restore wrote through carol's link into alice's folder")
	assert.False(t, mayLogIn(), "carol may log in before her notebooks are restored")

	tm.must(asUser("carol", "", "0007", "sh", "-c", "rm "+carol))
	tm.must("/usr/local/sbin/research-lab-members", env...)
	assert.Equal(t, "carol's thesis", tm.must("cat "+carol+"/thesis.ipynb"))
	assert.Equal(t, "carol carol 660", tm.stat(carol+"/thesis.ipynb"), "the restore writes as the member")
	assert.True(t, mayLogIn(), "once restored, carol may log in")
}

// TestMetadataServiceDeniedAtTheCgroupToo: should the guard's rules be
// flushed (nft flush ruleset), the kernel still refuses the metadata service
// to Voila, the hub and every member's server (IPAddressDeny=, a cgroup
// filter), and a member's server stops with the guard (BindsTo=) and sees no
// other member's processes. The members' servers' properties, as
// SystemdSpawner hands them to systemd-run, are checked by systemd itself.
func TestMetadataServiceDeniedAtTheCgroupToo(t *testing.T) {
	python := debianJupyterPython(t)
	requireTool(t, "jupyterhub")
	tool := requireTool(t, "systemd-analyze")
	deny := []string{imdsIPv4, imdsIPv6}
	for server, unit := range map[string]string{"HOL02-VoilaServer": "voila.service", "HOL02-Jupyter": "jupyterhub.service"} {
		run := deploy(t, nil)
		if unit == "jupyterhub.service" {
			run = deployTeam(t, "wireguard", []string{"alice"}, nil)
		}
		units, _ := serverUnits(t, run, server)
		assert.Subset(t, words(units[unit]["IPAddressDeny"]), deny, "%s: %s must be denied the metadata service by its cgroup", server, unit)
	}

	hub := readMemberServerSettings(t, python)
	assert.Subset(t, strings.Fields(hub.Extra["IPAddressDeny"]), deny, "a member's server must be denied the metadata service by its cgroup")
	assert.Equal(t, imdsGuardUnit, hub.Extra["BindsTo"], "a member's server must stop with the metadata guard")
	assert.Equal(t, imdsGuardUnit, hub.Extra["After"])
	assert.Equal(t, "invisible", hub.Extra["ProtectProc"], "a member must not see another's processes")

	// A member's server as a unit file with those properties, beside the
	// guard, verified.
	var member strings.Builder
	member.WriteString("[Unit]\nDescription=a member's server\n")
	service := "[Service]\nExecStart=/usr/bin/true\n"
	for _, k := range slices.Sorted(maps.Keys(hub.Extra)) {
		if k == "BindsTo" || k == "After" {
			fmt.Fprintf(&member, "%s=%s\n", k, hub.Extra[k])
		} else {
			service += k + "=" + hub.Extra[k] + "\n"
		}
	}
	ud := userDataOf(t, one(t, deployTeam(t, "wireguard", []string{"alice"}, nil), typeInstance, "HOL02-Jupyter"))
	root, names := unitRoot(t, map[string]string{"jupyter-alice-singleuser.service": member.String() + service,
		imdsGuardUnit: writtenFile(t, ud, "/etc/systemd/system/"+imdsGuardUnit)})
	out, err := exec.Command(tool, append([]string{"verify", "--root=" + root}, names...)...).CombinedOutput()
	assert.NoError(t, err, "systemd rejects a member's server's properties:\n%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd warns about a member's server's properties")
}
