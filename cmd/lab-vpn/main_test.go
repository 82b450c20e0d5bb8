package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemberToolBuildsWithoutTheCloudSDK: what a member builds to make a
// key or a profile holds nothing of Pulumi or AWS, which would make a
// minutes-long, gigabytes-large build of it.
func TestMemberToolBuildsWithoutTheCloudSDK(t *testing.T) {
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "go list needs the go command")
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	require.NoError(t, err, "go list -deps ./cmd/lab-vpn")
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "research-lab/internal/vpncli", "go list must list the command's packages")
	var cloud []string
	for _, pkg := range deps {
		if strings.HasPrefix(pkg, "github.com/pulumi/") || strings.Contains(strings.ToLower(pkg), "aws") {
			cloud = append(cloud, pkg)
		}
	}
	assert.Empty(t, cloud, "the member's command imports Pulumi or AWS packages")
}
