package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/pulumi/esc"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// planPlaceholder stands in for secrets in the offline plan: they are never
// read from disk in clear, and the plan does not need them.
const planPlaceholder = "plan-placeholder-secret"

// readStackConfig reads Pulumi.yaml and Pulumi.<stack>.yaml with the Pulumi
// CLI's own loaders and validation (namespaced keys, types, defaults, "must be
// encrypted"), so the plan refuses what `pulumi up` refuses. It returns the
// configuration as the engine would hand it to the program, with secure
// values, and secrets not set yet, replaced by a placeholder.
func readStackConfig(dir, stack string) (values map[string]string, secrets []string, notes []string, err error) {
	project, err := workspace.LoadProject(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "Pulumi.yaml"), err)
	}
	if string(project.Name) != projectName {
		return nil, nil, nil, fmt.Errorf("Pulumi.yaml names project %q, not %s", project.Name, projectName)
	}
	file := filepath.Join(dir, fmt.Sprintf("Pulumi.%s.yaml", stack))
	if _, err := os.Stat(file); err != nil {
		return nil, nil, nil, fmt.Errorf("reading %s: %w (create the stack with `pulumi stack init %s`)", file, err, stack)
	}
	ps, err := workspace.LoadProjectStack(diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never}), project, file)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading %s: %w", file, err)
	}
	// A secret not set yet is a note, not an error: the plan needs no secret.
	for _, k := range configKeys {
		key := config.MustMakeKey(projectName, k.Name)
		if _, ok := ps.Config[key]; k.Secret && !ok {
			ps.Config[key] = config.NewSecureValue(planPlaceholder)
			notes = append(notes, fmt.Sprintf("%s is not set: set it with `pulumi config set --secret %s` before `pulumi up`", key, k.Name))
		}
	}
	err = workspace.ValidateStackConfigAndApplyProjectConfig(context.Background(), stack, project, esc.Value{}, ps.Config,
		config.NopEncrypter, config.NewBlindingDecrypter())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	values = map[string]string{}
	for key, v := range ps.Config {
		if v.Secure() {
			values[key.String()] = planPlaceholder
			secrets = append(secrets, key.String())
			continue
		}
		if values[key.String()], err = v.Value(config.NopDecrypter); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %s: %w", file, key, err)
		}
	}
	if _, ok := values["aws:region"]; !ok {
		notes = append(notes, fmt.Sprintf("aws:region is not set: the plan assumes %s (set it with `pulumi config set aws:region <region>`)", regionFallback))
	}
	sort.Strings(secrets)
	return values, secrets, notes, nil
}
