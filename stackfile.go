package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pulumi/esc"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// planPlaceholder stands in for secrets in the offline plan: they are never
// read from disk in clear, and the plan does not need them.
const planPlaceholder = "plan-placeholder-secret"

// planPlaceholderKey stands in for a WireGuard private key: a valid key (32
// bytes of 0x42) that no lab uses.
const planPlaceholderKey = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="

func placeholderFor(key string) string {
	if key == "wireguardPrivateKey" {
		return planPlaceholderKey
	}
	return planPlaceholder
}

// placeholderDecrypter "decrypts" every secret to the placeholder.
type placeholderDecrypter struct{}

func (placeholderDecrypter) DecryptValue(context.Context, string) (string, error) {
	return planPlaceholder, nil
}

func (d placeholderDecrypter) BatchDecrypt(ctx context.Context, ciphertexts []string) ([]string, error) {
	return config.DefaultBatchDecrypt(ctx, d, ciphertexts)
}

// checkMemberPasswordsSecret refuses a member password written in plain
// text into the stack file: the engine would then pass the whole list as
// secret (another member's is), and nothing else would notice.
func checkMemberPasswordsSecret(members, file string) error {
	var list []map[string]any
	if json.Unmarshal([]byte(members), &list) != nil {
		return nil // the program's own check reports a malformed list
	}
	for i, m := range list {
		if p, ok := m["password"].(string); ok && p != planPlaceholder {
			return fmt.Errorf("%s: research-lab:members[%d].password is in plain text: set it with `pulumi config set --secret --path 'members[%d].password'`", file, i, i)
		}
	}
	return nil
}

// stackName checks a stack name as the Pulumi CLI does and returns the part
// that names its file: org/project/NAME and org/NAME read Pulumi.NAME.yaml.
func stackName(arg string) (string, error) {
	parts := strings.Split(arg, "/")
	if len(parts) > 3 {
		return "", fmt.Errorf("--stack %q: a stack is NAME, org/NAME or org/project/NAME", arg)
	}
	if len(parts) == 3 && parts[1] != projectName {
		return "", fmt.Errorf("--stack %q: that stack belongs to project %q, not %s", arg, parts[1], projectName)
	}
	name := parts[len(parts)-1]
	if _, err := tokens.ParseStackName(name); err != nil {
		return "", fmt.Errorf("--stack %q: %w", arg, err)
	}
	return name, nil
}

// loaderKeyRe finds the key that the CLI's validation names in its error.
var loaderKeyRe = regexp.MustCompile(`configuration (?:key|value) '([^']+)'`)

// validateStackConfig runs the Pulumi CLI's own validation of a stack's
// configuration against Pulumi.yaml, which stops at its first bad key, until
// it names no more: every bad key at once, each with the command that fixes
// it. It applies the project's defaults to cfg, as `pulumi up` does.
func validateStackConfig(stack string, project *workspace.Project, cfg config.Map) error {
	var errs []error
	seen := map[string]bool{}
	for range len(project.Config) + 1 {
		err := workspace.ValidateStackConfigAndApplyProjectConfig(context.Background(), stack, project, esc.Value{}, cfg,
			config.NopEncrypter, config.NewBlindingDecrypter())
		if err == nil {
			break
		}
		m := loaderKeyRe.FindStringSubmatch(err.Error())
		if m == nil {
			errs = append(errs, err)
			break
		}
		name := m[1]
		if _, local, ok := strings.Cut(name, ":"); ok {
			name = local
		}
		if seen[name] {
			break // not the stack file's: its default (Pulumi.yaml's)
		}
		seen[name] = true
		errs = append(errs, loaderError(err, name))
		for k := range cfg {
			if k.Name() == name && k.Namespace() == projectName {
				delete(cfg, k) // and look for the next
			}
		}
	}
	return errors.Join(errs...)
}

// loaderError is one of the CLI's validation errors, with the fix.
func loaderError(err error, name string) error {
	key := projectName + ":" + name
	msg := err.Error()
	switch {
	case strings.Contains(msg, "must be encrypted"):
		return fmt.Errorf("%s is a secret written in plain text: set it with `pulumi config set --secret %s` (which replaces the line)", key, name)
	case strings.Contains(msg, "of type 'array"):
		return fmt.Errorf("%s must be a list: set its items with `pulumi config set --path '%s[0]' <value>` (%s)", key, name, msg)
	case strings.Contains(msg, "of type 'integer'"):
		return fmt.Errorf("%s must be a whole number, for example `pulumi config set %s 60` (%s)", key, name, msg)
	case strings.Contains(msg, "of type 'boolean'"):
		return fmt.Errorf("%s must be true or false: `pulumi config set %s true` (%s)", key, name, msg)
	case strings.Contains(msg, "is missing"):
		return fmt.Errorf("%s is missing: `pulumi config set %s <value>` (%s)", key, name, msg)
	}
	return err
}

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
		return nil, nil, nil, fmt.Errorf("%s names project %q, not %s", filepath.Join(dir, "Pulumi.yaml"), project.Name, projectName)
	}
	file := filepath.Join(dir, fmt.Sprintf("Pulumi.%s.yaml", stack))
	if _, err := os.Stat(file); err != nil {
		return nil, nil, nil, fmt.Errorf("reading %s: %w (create the stack with `pulumi stack init %s`)", file, err, stack)
	}
	ps, err := workspace.LoadProjectStack(diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never}), project, file)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading %s (is it valid YAML? `pulumi config` writes it for you): %w", file, err)
	}
	if err := validateStackConfig(stack, project, ps.Config); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	values = map[string]string{}
	for key, v := range ps.Config {
		switch {
		case v.Secure() && !v.Object():
			values[key.String()] = placeholderFor(key.Name())
			secrets = append(secrets, key.String())
		case v.Object():
			// Secrets inside a value (members' passwords) become placeholders.
			if values[key.String()], err = v.Value(placeholderDecrypter{}); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %s: %w", file, key, err)
			}
			if secure, _ := v.SecureValues(placeholderDecrypter{}); len(secure) > 0 {
				secrets = append(secrets, key.String())
			}
		default:
			if values[key.String()], err = v.Value(config.NopDecrypter); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %s: %w", file, key, err)
			}
		}
	}
	if err := checkMemberPasswordsSecret(values[projectName+":members"], file); err != nil {
		return nil, nil, nil, err
	}
	// A secret this stack needs but has not set yet is a note, not an error:
	// the plan needs no secret.
	value := func(key string) string {
		if v, ok := values[projectName+":"+key]; ok {
			return v
		}
		return configDefault(key)
	}
	for _, k := range configKeys {
		key := projectName + ":" + k.Name
		if k.Needed != nil && k.Needed(value) && values[key] == "" {
			values[key] = placeholderFor(k.Name)
			secrets = append(secrets, key)
			notes = append(notes, fmt.Sprintf("%s is not set: set it with `pulumi config set --secret %s` before `pulumi up`", key, k.Name))
		}
	}
	if _, ok := values["aws:region"]; !ok {
		notes = append(notes, fmt.Sprintf("aws:region is not set: the plan assumes %s (set it with `pulumi config set aws:region <region>`)", regionFallback))
	}
	sort.Strings(secrets)
	return values, secrets, notes, nil
}
