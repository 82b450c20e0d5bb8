package main

// lab-acme, the Voila site's certificate client (the acme/ module), is built
// here, on the deployer's machine, while the program runs: the server only
// downloads it and checks its digest (lab-acme-install), so nothing is
// compiled on a public server and no compiler is left there.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// acmeToolchain is the Go release lab-acme is built with, whatever Go the
// deployer has (an older one downloads it once): with the flags of buildACME
// every deployer gets the same bytes, so the same digest in Voila's userdata.
const acmeToolchain = "go1.26.8"

// acmeModuleDir is the acme/ module, relative to the project folder (where
// Pulumi, the tests and `go run . plan` run the program).
const acmeModuleDir = "acme"

// acmeBinary is a build of lab-acme for one architecture.
type acmeBinary struct {
	GOARCH string
	Path   string // in the user's cache folder: the engine reads it after the program returns
	SHA256 string // hex, as sha256sum prints it
}

// acmeBuilds memoizes buildACME: one build per process and architecture.
var acmeBuilds = struct {
	sync.Mutex
	byArch map[string]acmeBinary
}{byArch: map[string]acmeBinary{}}

// acmeBuildEnv is what decides the bytes of the build besides the source:
// a static Linux binary, the architecture's baseline instruction set, the
// module checksums of go.sum, no go.work, the pinned toolchain.
func acmeBuildEnv(goarch string) []string {
	return []string{
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + goarch, "GOARM64=v8.0", "GOAMD64=v1",
		"GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=" + acmeToolchain,
		// A deployer's own settings that would change the bytes.
		"GOEXPERIMENT=", "GOFIPS140=off",
	}
}

// acmeBuildArgs are the go command's arguments for a build into out;
// extra (the tests' -a) come before the package.
func acmeBuildArgs(out string, extra ...string) []string {
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-o", out}, extra...)
	return append(args, ".")
}

// acmeClient gives the program the certificate client to ship: buildACME,
// except in the offline commands (plan, check), which ship nothing and need
// no network or toolchain: they use offlineACME.
var acmeClient = buildACME

// offlineACME stands in for the build where nothing will be uploaded.
func offlineACME(goarch string) (acmeBinary, error) {
	return acmeBinary{GOARCH: goarch, Path: filepath.Join(acmeModuleDir, "not-built"), SHA256: strings.Repeat("0", sha256.Size*2)}, nil
}

// buildACME builds lab-acme for linux/goarch once per process, into the
// user's cache folder under a name that carries its digest (so concurrent
// deploys from other checkouts never overwrite a file an engine still reads).
func buildACME(goarch string) (acmeBinary, error) {
	acmeBuilds.Lock()
	defer acmeBuilds.Unlock()
	if b, ok := acmeBuilds.byArch[goarch]; ok {
		return b, nil
	}
	b, err := buildACMEFrom(acmeModuleDir, goarch, "")
	if err != nil {
		return acmeBinary{}, fmt.Errorf("building the site's certificate client (%s/) for linux/%s: %w", acmeModuleDir, goarch, err)
	}
	acmeBuilds.byArch[goarch] = b
	return b, nil
}

// buildACMEFrom builds lab-acme from the module in src into dir ("" for the
// user's cache folder), with extra flags for the go command.
func buildACMEFrom(src, goarch, dir string, extra ...string) (acmeBinary, error) {
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return acmeBinary{}, fmt.Errorf("finding a cache folder for the build: %w", err)
		}
		dir = filepath.Join(cache, "research-lab", "lab-acme")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return acmeBinary{}, err
	}
	// go build overwrites only its own output: build into a folder of our own.
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return acmeBinary{}, err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "lab-acme")
	cmd := exec.Command("go", acmeBuildArgs(built, extra...)...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), acmeBuildEnv(goarch)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return acmeBinary{}, fmt.Errorf("go %s: %w\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	sum, err := fileSHA256(built)
	if err != nil {
		return acmeBinary{}, err
	}
	b := acmeBinary{GOARCH: goarch, Path: filepath.Join(dir, fmt.Sprintf("lab-acme-linux-%s-%s", goarch, sum)), SHA256: sum}
	if err := os.Rename(built, b.Path); err != nil {
		return acmeBinary{}, err
	}
	return b, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
