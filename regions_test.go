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

// TestRegionsAreTheProviderSDKs: awsRegions is exactly the Region enum of the
// pulumi-aws SDK this module builds with, read from its source.
func TestRegionsAreTheProviderSDKs(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/pulumi/pulumi-aws/sdk/v6").Output()
	require.NoError(t, err)
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "go", "aws", "pulumiEnums.go"))
	require.NoError(t, err)
	var sdk, ours []string
	for _, m := range regexp.MustCompile(`(?m)^\tRegion\w+\s+= Region\("([a-z0-9-]+)"\)`).FindAllStringSubmatch(string(src), -1) {
		sdk = append(sdk, m[1])
	}
	for _, r := range awsRegions {
		ours = append(ours, string(r))
	}
	require.NotEmpty(t, sdk, "no regions found in the SDK's source")
	assert.ElementsMatch(t, sdk, ours, "awsRegions must list the provider SDK's regions")
}

// TestAWSProviderKeysAreTheSDKs: awsProviderKeys is exactly the keys the
// pulumi-aws SDK's config package reads, from its source.
func TestAWSProviderKeysAreTheSDKs(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/pulumi/pulumi-aws/sdk/v6").Output()
	require.NoError(t, err)
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "go", "aws", "config", "config.go"))
	require.NoError(t, err)
	sdk := map[string]bool{}
	for _, m := range regexp.MustCompile(`"aws:([A-Za-z]+)"`).FindAllStringSubmatch(string(src), -1) {
		sdk[m[1]] = true
	}
	require.NotEmpty(t, sdk, "no keys found in the SDK's config package")
	assert.Equal(t, sdk, awsProviderKeys, "awsProviderKeys must list the provider SDK's configuration keys")
}

func TestNearestSuggestsOnlyWhatIsNear(t *testing.T) {
	assert.Equal(t, "labState", nearest("labstate", []string{"namePrefix", "labState"}))
	assert.Equal(t, "us-west-2", nearest("us-wset-2", []string{"us-east-1", "us-west-2"}))
	assert.Equal(t, "", nearest("favouriteColour", []string{"namePrefix", "labState"}), "nothing near: no suggestion")
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
}
