package main

// The quota preflight's applied values: Service Quotas' own, read with the
// provider the labs use (the pulumi-aws function servicequotas.
// LookupServiceQuota, terraform-provider-aws's aws_servicequotas_service_quota:
// the applied value where one is set, AWS's default otherwise), by a small
// inline program previewed in the instructor's account and region. No
// resource is declared and the stack lives in a local backend in the class
// folder, made afresh each time.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/servicequotas"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"research-lab/internal/roster"
)

// quotaSource names values read from the Service Quotas API.
const quotaSource = "Service Quotas"

// knownQuotas are the applied quotas of each region the class needs:
// --quota's values, and the others read from Service Quotas; what cannot
// be read is left out (AWS's defaults), with a line saying so.
func (c *class) knownQuotas(ctx context.Context, regions []string) map[string]map[string]roster.Known {
	known := map[string]map[string]roster.Known{}
	for _, r := range regions {
		known[r] = map[string]roster.Known{}
		var ask []roster.Quota
		for _, q := range roster.Quotas {
			if v, ok := c.opts.Quotas[q.Code]; ok {
				known[r][q.Code] = roster.Known{Value: v, Source: "as given with --quota"}
			} else {
				ask = append(ask, q)
			}
		}
		if len(ask) == 0 {
			continue
		}
		got, err := c.readQuotas(ctx, r, ask)
		for code, v := range got {
			known[r][code] = roster.Known{Value: v, Source: quotaSource}
		}
		if err != nil {
			var codes []string
			for _, q := range ask {
				if _, ok := got[q.Code]; !ok {
					codes = append(codes, q.Code)
				}
			}
			fmt.Fprintf(c.out, "quotas: %s: could not read %s from Service Quotas (%s): using AWS's defaults for them\n",
				r, strings.Join(codes, ", "), firstLine(err))
		}
	}
	return known
}

// readQuotas reads quotas of region from Service Quotas; it returns those
// it read, and why any was not.
func (c *class) readQuotas(ctx context.Context, region string, quotas []roster.Quota) (map[string]int, error) {
	dir := filepath.Join(c.opts.Dir, "quotas", region)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		return nil, err
	}
	got := map[string]int{}
	var errs []error
	program := func(ctx *pulumi.Context) error {
		for _, q := range quotas {
			r, err := servicequotas.LookupServiceQuota(ctx, &servicequotas.LookupServiceQuotaArgs{ServiceCode: q.Service, QuotaCode: pulumi.StringRef(q.Code)})
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", q.Code, err))
				continue
			}
			got[q.Code] = int(r.Value)
		}
		return nil
	}
	stackFile, err := quotaStackFile(c.template, region)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi."+region+".yaml"), stackFile, 0o600); err != nil {
		return nil, err
	}
	env := map[string]string{}
	for k, v := range c.accountEnv {
		env[k] = v
	}
	// A stack of its own, holding nothing: no secret, no resource.
	env["PULUMI_BACKEND_URL"] = "file://" + filepath.Join(dir, "state")
	env["PULUMI_CONFIG_PASSPHRASE"] = "the quota lookup holds no secret"
	project := workspace.Project{Name: "research-lab-quotas", Runtime: workspace.NewProjectRuntimeInfo("go", nil)}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(dir), auto.Program(program), auto.Project(project), auto.EnvVars(env))
	if err != nil {
		return nil, err
	}
	stack, err := auto.UpsertStack(ctx, region, ws)
	if err != nil {
		return nil, err
	}
	log, err := c.logFile(roster.Student{ID: "quotas-" + region})
	if err != nil {
		return nil, err
	}
	defer log.Close()
	_, err = stack.Preview(ctx, optpreview.ProgressStreams(log))
	if len(got) == len(quotas) {
		return got, nil
	}
	return got, errors.Join(append(errs, err)...)
}

// quotaStackFile is the lookup's stack file: the class template's aws:
// settings (its profile, say), none encrypted, in region.
func quotaStackFile(template []byte, region string) ([]byte, error) {
	var tmpl struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(template, &tmpl); err != nil {
		return nil, fmt.Errorf("reading the class template: %w", err)
	}
	config := map[string]any{}
	for k, v := range tmpl.Config {
		if strings.HasPrefix(k, "aws:") && !holdsSecure(v) {
			config[k] = v
		}
	}
	config["aws:region"] = region
	return yaml.Marshal(map[string]any{"config": config})
}
