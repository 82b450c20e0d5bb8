// The previous release's program under the real engine, for
// TestEngineUpgradesTheReleasedStack (release_test.go): the test extracts the
// release's tree, renames its func main and adds this file, which runs the
// release's createInfrastructure as an Automation API inline program on the
// stack of the project folder it starts in (no Go language host can be
// installed here). Usage: release-driver STACK
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// driverKeys are the configuration keys the engine can hand the program:
// the stack's and those Pulumi.yaml declares (the engine adds their
// defaults).
var driverKeys []string

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: release-driver STACK")
		os.Exit(2)
	}
	if err := driverUp(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "release-driver:", err)
		os.Exit(1)
	}
}

func driverUp(stackName string) error {
	ctx := context.Background()
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(dir), auto.Program(driverProgram))
	if err != nil {
		return err
	}
	stack, err := auto.SelectStack(ctx, stackName, ws)
	if err != nil {
		return err
	}
	project, err := ws.ProjectSettings(ctx)
	if err != nil {
		return err
	}
	for k := range project.Config {
		if !strings.Contains(k, ":") {
			k = string(project.Name) + ":" + k
		}
		driverKeys = append(driverKeys, k)
	}
	all, err := stack.GetAllConfig(ctx)
	if err != nil {
		return err
	}
	for k := range all {
		driverKeys = append(driverKeys, k)
	}
	_, err = stack.Up(ctx, optup.ProgressStreams(os.Stdout))
	return err
}

// driverProgram is what the release's main ran under pulumi.Run, with the
// environment the Go language host gives the program: pulumi-language-go's
// constructEnv (sdk/go/pulumi-language-go/main.go in pulumi/pulumi, read at
// commit 01c72be12487b67d6073ffc33720d0efc066a497) sets
// PULUMI_CONFIG to the JSON of the RunRequest's config map and
// PULUMI_CONFIG_SECRET_KEYS to the JSON of its secret keys. The inline
// runtime puts the same request's config and secret keys on the context.
func driverProgram(ctx *pulumi.Context) error {
	config := map[string]string{}
	secretKeys := []string{}
	for _, k := range driverKeys {
		v, ok := ctx.GetConfig(k)
		if !ok {
			continue
		}
		config[k] = v
		if ctx.IsConfigSecret(k) && !slices.Contains(secretKeys, k) {
			secretKeys = append(secretKeys, k)
		}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return err
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return err
	}
	os.Setenv(pulumi.EnvConfig, string(configJSON))
	os.Setenv(pulumi.EnvConfigSecretKeys, string(secretJSON))
	_, err = createInfrastructure(ctx)
	return err
}
