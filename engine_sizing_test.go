package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEngineTeamServerFollowsTheTeam: under the real engine, a team that
// grows and shrinks changes its Jupyter server's type in place, never
// replaces it, and keeps its disk when it shrinks (the stand-in refuses a
// smaller volume as EC2 does): a team of 6 gets a t4g.large with 40 GB,
// and back to 2 members a t4g.medium with the same 40 GB.
func TestEngineTeamServerFollowsTheTeam(t *testing.T) {
	l := newEngineLab(t, "team")
	l.set("sshPublicKey", testPublicKey)
	l.set("vpn", string(vpnWireGuard))
	private, _ := testKeyPair(t, 7)
	l.setSecret("wireguardPrivateKey", private)
	for i := range 6 {
		name := fmt.Sprintf("m%d", i+1)
		_, public := testMemberKeyPair(t, i, name)
		l.set(fmt.Sprintf("members[%d].name", i), name)
		l.setSecret(fmt.Sprintf("members[%d].password", i), "pass-of-"+name+"-ok")
		l.set(fmt.Sprintf("members[%d].wireguardPublicKey", i), public)
	}
	l.up()
	typ, disk := l.jupyterServer()
	assert.Equal(t, "t4g.large", typ, "6 members at work at once need 7 GiB")
	assert.Equal(t, teamRootGB(6), disk, "a team of 6: the system's disk and each member's")

	for i := 5; i >= 2; i-- {
		l.cli("", "config", "rm", "--path", fmt.Sprintf("members[%d]", i))
	}
	steps := l.up()
	noReplacement(t, "a team of 6 down to 2", steps)
	assert.Contains(t, steps, "update "+typeInstance+" "+logicalName("Jupyter"), "the server's type must change in place")
	typ, disk = l.jupyterServer()
	assert.Equal(t, "t4g.medium", typ, "2 members at work at once need 3 GiB")
	assert.Equal(t, teamRootGB(6), disk, "the disk must stay as large as it was: EBS cannot shrink it")
	l.steady("a team that shrank")
}

// jupyterServer is the Jupyter instance's type and root volume size, as the
// stack's state holds them after the last run.
func (l *engineLab) jupyterServer() (string, int) {
	l.t.Helper()
	for _, r := range l.state() {
		if r.URN.Type() == typeInstance && r.URN.Name() == logicalName("Jupyter") {
			typ, _ := r.Outputs["instanceType"].(string)
			root, _ := r.Outputs["rootBlockDevice"].(map[string]any)
			size, _ := root["volumeSize"].(float64)
			return typ, int(size)
		}
	}
	l.t.Fatal("no Jupyter instance in the state")
	return "", 0
}
