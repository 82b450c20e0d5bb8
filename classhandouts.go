package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"

	"research-lab/internal/roster"
)

// handout is what one student's handout says: their lab's URLs and their
// own passwords (the handout is the student's file, mode 0600).
type handout struct {
	Student         roster.Student
	VPN             vpnKind
	VoilaURL        string
	JupyterURL      string
	VPNClientURL    string
	VPNPassword     string
	JupyterPassword string
	NotebooksURI    string
}

var handoutMarkdown = template.Must(template.New("md").Parse(`# Your research lab{{with .Student.Name}}, {{.}}{{end}}

Your lab is ` + "`{{.Student.ID}}`" + `. This file holds your own passwords: keep it to yourself.

- Public site (Voila): {{.VoilaURL}}
- Jupyter (through the VPN only): {{.JupyterURL}}
- Notebooks bucket: {{.NotebooksURI}}

## What to do first

{{if eq .VPN "openvpn-as"}}1. Open {{.VPNClientURL}}, accept the self-signed certificate, log in as
   ` + "`openvpn`" + ` with the VPN password ` + "`{{.VPNPassword}}`" + `, download the user-locked
   profile, import it into OpenVPN Connect and connect.
{{else}}1. Your instructor gives you your WireGuard profile (` + "`go run . vpn profile`" + `);
   import it into the WireGuard app and connect.
{{end}}2. With the VPN up, open {{.JupyterURL}} and log in with the Jupyter password
   ` + "`{{.JupyterPassword}}`" + `.
3. Open {{.VoilaURL}}: the notebooks you publish in Jupyter appear there within minutes.
`))

var handoutHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Your research lab</title></head><body>
<h1>Your research lab{{with .Student.Name}}, {{.}}{{end}}</h1>
<p>Your lab is <code>{{.Student.ID}}</code>. This page holds your own passwords: keep it to yourself.</p>
<ul><li>Public site (Voila): <a href="{{.VoilaURL}}">{{.VoilaURL}}</a></li>
<li>Jupyter (through the VPN only): {{.JupyterURL}}</li>
<li>Notebooks bucket: {{.NotebooksURI}}</li></ul>
<h2>What to do first</h2><ol>
{{if eq .VPN "openvpn-as"}}<li>Open <a href="{{.VPNClientURL}}">{{.VPNClientURL}}</a>, accept the self-signed certificate, log in as <code>openvpn</code> with the VPN password <code>{{.VPNPassword}}</code>, download the user-locked profile, import it into OpenVPN Connect and connect.</li>
{{else}}<li>Your instructor gives you your WireGuard profile; import it into the WireGuard app and connect.</li>
{{end}}<li>With the VPN up, open {{.JupyterURL}} and log in with the Jupyter password <code>{{.JupyterPassword}}</code>.</li>
<li>Open <a href="{{.VoilaURL}}">{{.VoilaURL}}</a>: the notebooks you publish in Jupyter appear there within minutes.</li></ol>
</body></html>
`))

// handouts is `class handouts`: a Markdown and an HTML file per student
// whose lab is up, in a folder outside the repository. It prints where,
// never what: the files hold passwords.
func (c *class) handouts(ctx context.Context) error {
	dir, err := filepath.Abs(c.opts.Handouts)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(c.repo, dir); err == nil && !strings.HasPrefix(rel, "..") {
		return fmt.Errorf("--handouts %s is inside the repository: the handouts hold passwords, choose a folder outside it", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Each handout reads its stack's secrets through the CLI: --parallel
	// at a time, as the engine verbs.
	var mu sync.Mutex
	var errs []error
	written := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.opts.Parallel)
	for _, s := range c.students {
		if st := c.status.lab(s.ID).State; st != stateUp && st != stateStopped {
			fmt.Fprintf(c.out, "%s: no handout, the lab is %s\n", s.ID, st)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := c.handout(ctx, s, dir)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.ID, err))
				return
			}
			written++
		}()
	}
	wg.Wait()
	fmt.Fprintf(c.out, "%d handouts in %s (mode 0600: they hold each student's own passwords)\n", written, dir)
	return errors.Join(errs...)
}

func (c *class) handout(ctx context.Context, s roster.Student, dir string) error {
	l, err := c.labStack(ctx, s)
	if err != nil {
		return err
	}
	outputs, err := l.Outputs(ctx)
	if err != nil {
		return err
	}
	text := func(k string) string { v, _ := outputs[k].Value.(string); return v }
	secret := func(k string) (string, error) {
		v, err := l.GetConfig(ctx, projectName+":"+k)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", k, err)
		}
		return v.Value, nil
	}
	all, err := l.GetAllConfig(ctx)
	if err != nil {
		return err
	}
	h := handout{Student: s, VPN: vpnKind(configDefault("vpn")), VoilaURL: text("voilaUrl"), JupyterURL: text("jupyterUrl"),
		VPNClientURL: text("vpnClientUrl"), NotebooksURI: text("notebooksUri")}
	if v, ok := all[projectName+":vpn"]; ok {
		h.VPN = vpnKind(v.Value)
	}
	if h.JupyterPassword, err = secret("jupyterPassword"); err != nil {
		return err
	}
	if h.VPN == vpnOpenVPNAS {
		if h.VPNPassword, err = secret("vpnAdminPassword"); err != nil {
			return err
		}
	}
	var md, page bytes.Buffer
	if err := errors.Join(handoutMarkdown.Execute(&md, h), handoutHTML.Execute(&page, h)); err != nil {
		return err
	}
	for name, b := range map[string][]byte{s.ID + ".md": md.Bytes(), s.ID + ".html": page.Bytes()} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
		// WriteFile keeps the mode of a file that was there.
		if err := os.Chmod(path, 0o600); err != nil {
			return err
		}
	}
	return nil
}
