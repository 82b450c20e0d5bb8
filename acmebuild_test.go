package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLabACMEBuildIsReproducible: rebuilt from scratch (-a: every package
// compiled again, nothing taken from the build cache), from a copy of the
// source in another folder (another deployer's checkout), into another
// folder, lab-acme has the digest the program put in Voila's userdata. So any
// deployer with this source gets the same bytes, and the same Voila server.
// It costs one full build: 1 to 2 minutes on 2 cores.
func TestLabACMEBuildIsReproducible(t *testing.T) {
	shipped, err := buildACME("amd64")
	require.NoError(t, err)
	src := filepath.Join(t.TempDir(), "elsewhere")
	require.NoError(t, os.CopyFS(src, os.DirFS(acmeModuleDir)))
	again, err := buildACMEFrom(src, "amd64", t.TempDir(), "-a")
	require.NoError(t, err)
	assert.NotEqual(t, filepath.Dir(shipped.Path), filepath.Dir(again.Path))
	assert.Equal(t, shipped.SHA256, again.SHA256, "lab-acme rebuilt from scratch must have the same digest")

	memo, err := buildACME("amd64")
	require.NoError(t, err)
	assert.Equal(t, shipped, memo, "one build per process and architecture")
}

// TestLabACMEBuildFailureIsClear: a build that cannot run says what was
// being built, for which platform, and why.
func TestLabACMEBuildFailureIsClear(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no go command
	_, err := buildACME("riscv64")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "building the site's certificate client (acme/) for linux/riscv64: ")
	assert.Contains(t, err.Error(), "executable file not found")
}

// TestVoilaGetsTheBinaryOfItsArchitecture: the object Voila installs is the
// build for its instance type, and its digest is the one in its userdata.
func TestVoilaGetsTheBinaryOfItsArchitecture(t *testing.T) {
	for instanceType, arch := range map[string]string{"t4g.small": "arm64", "t3.small": "amd64"} {
		run := deploy(t, map[string]string{"voilaInstanceType": instanceType})
		obj := one(t, run, typeObject, "lab-acme")
		assert.Equal(t, acmeBinaryKey, propString(obj.Inputs, "key"))
		source := obj.Inputs["source"]
		require.True(t, source.IsAsset(), "lab-acme is uploaded as a file")
		path := source.AssetValue().Path
		assert.Contains(t, filepath.Base(path), "linux-"+arch, "%s runs %s", instanceType, arch)
		ud := userDataOf(t, one(t, run, typeInstance, "HOL02-VoilaServer"))
		assert.Contains(t, writtenFile(t, ud, "/usr/local/sbin/lab-acme-install"), "digest='"+fileSum(t, path)+"'",
			"%s: the userdata names the digest of the very file uploaded", instanceType)
		for _, r := range run.Mocks.ofType(typeObject) {
			assert.NotContains(t, r.Name, "acme-", "no source of lab-acme goes to the bucket any more")
		}
	}
}
