package main

// The public site's static pages: the rendered notebook-render.py run with
// Debian's nbconvert (by Debian's /usr/bin/python3) on notebooks with saved
// outputs, served by the real Nginx with the rendered server block; a crowd
// against it with a stand-in Voila that runs the rendered kernel limit
// (research_lab_voila.py) on Debian's jupyter_server; and a headless Chromium
// that reads a page as a visitor does.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// debianPython is Debian's Python, with python3-nbconvert and
// python3-jupyter-server: the `python3` first on PATH may be another.
const debianPython = "/usr/bin/python3"

func requireDebianPython(t *testing.T, modules ...string) {
	t.Helper()
	for _, m := range modules {
		if exec.Command(debianPython, "-c", "import "+m).Run() != nil {
			if os.Getenv("RESEARCH_LAB_REQUIRE_TOOLS") == "1" {
				t.Fatalf("Debian's Python has no %s: run .ci/install-tools", m)
			}
			t.Skipf("Debian's Python has no %s (run .ci/install-tools)", m)
		}
	}
}

// redPNG is a w×h image of one colour, as a plot's saved output would be.
func redPNG(t *testing.T, w, h int) string {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{R: 220, A: 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// notebookWithOutputs is a notebook as Jupyter saves it after a run: a title,
// a code cell, and its outputs (each a MIME bundle).
func notebookWithOutputs(t *testing.T, title string, outputs ...map[string]string) string {
	t.Helper()
	outs := []map[string]any{}
	for _, data := range outputs {
		outs = append(outs, map[string]any{"output_type": "display_data", "metadata": map[string]any{}, "data": data})
	}
	nb := map[string]any{
		"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]string{"name": "python3", "display_name": "Python 3", "language": "python"}},
		"cells": []map[string]any{
			{"cell_type": "markdown", "id": "title", "metadata": map[string]any{}, "source": "# " + title},
			{"cell_type": "code", "id": "plot", "metadata": map[string]any{}, "execution_count": 1, "source": "plot()", "outputs": outs},
		},
	}
	b, err := json.Marshal(nb)
	require.NoError(t, err)
	return string(b)
}

// The attacker's output: a script that would mark the page if it ran.
// The second tries without a <script>: an event handler on a broken image.
const attackerScript = `<script>document.title = "pwned"; document.body.insertAdjacentHTML("beforeend", "<p id=pwned>pwned</p>")</script>` +
	`<img src="data:," onerror="document.body.insertAdjacentHTML('beforeend', '<p id=pwned2>pwned</p>')"><p>harmless text</p>`

// staticSite is a Voila server's render and Nginx on loopback.
type staticSite struct {
	run                          *mockRun
	ud, notebooks, pages, script string
}

func newStaticSite(t *testing.T, changes map[string]string) *staticSite {
	t.Helper()
	requireDebianPython(t, "nbconvert")
	run := deploy(t, changes)
	ud := userDataOf(t, one(t, run, typeInstance, "HOL02-VoilaServer"))
	dir := t.TempDir()
	s := &staticSite{run: run, ud: ud, notebooks: filepath.Join(dir, "notebooks"), pages: filepath.Join(dir, "pages"), script: filepath.Join(dir, "notebook-render.py")}
	require.NoError(t, os.MkdirAll(s.notebooks, 0o755))
	require.NoError(t, os.MkdirAll(s.pages, 0o755))
	require.NoError(t, os.WriteFile(s.script, []byte(writtenFile(t, ud, pythonLibDir+"/notebook-render.py")), 0o644))
	return s
}

func (s *staticSite) publish(t *testing.T, rel, content string) {
	t.Helper()
	p := filepath.Join(s.notebooks, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

// render runs the render as notebook-render.service does (its ExecStart's
// arguments), with Debian's Python, and returns its log and exit status.
func (s *staticSite) render(t *testing.T) (string, error) {
	t.Helper()
	unit := unitProperties(t, writtenFile(t, s.ud, "/etc/systemd/system/notebook-render.service"))
	exec0 := words(unit["ExecStart"])
	require.Equal(t, []string{"/opt/voila/bin/python", pythonLibDir + "/notebook-render.py", voilaNotebookDir, staticPagesDir}, exec0,
		"the render reads the notebooks Voila publishes and writes the pages Nginx serves")
	cmd := exec.Command(debianPython, s.script, s.notebooks, s.pages)
	cmd.Env = append(os.Environ(), "PYTHONSAFEPATH=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// serve runs the real Nginx with the rendered server block, the pages where
// the server keeps them, in front of a Voila on voilaPort.
func (s *staticSite) serve(t *testing.T, voilaPort int) string {
	t.Helper()
	block := voilaNginxConf(t, s.run, "/etc/nginx/conf.d/voila.conf")
	require.Contains(t, block, staticPagesDir)
	block = strings.ReplaceAll(block, staticPagesDir, s.pages)
	port := freePort(t)
	startNginx(t, localServerBlock(t, block, port, voilaPort))
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func body(t *testing.T, site string, n int, path string) (int, http.Header, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: visitor(n).DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + site + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// TestStaticPagesFromSavedOutputs: every published notebook becomes a page of
// its saved outputs (nothing runs), only changed notebooks are rendered
// again, removed ones lose their page, a broken one is named and stops no
// other, and running twice changes nothing.
func TestStaticPagesFromSavedOutputs(t *testing.T) {
	s := newStaticSite(t, nil)
	ran := filepath.Join(t.TempDir(), "code-ran")
	s.publish(t, "rainfall.ipynb", notebookWithOutputs(t, "Rainfall in Hobart", map[string]string{"image/png": redPNG(t, 40, 20), "text/plain": "<Figure>"}))
	code, err := json.Marshal(fmt.Sprintf("open(%q, 'w').close()", ran))
	require.NoError(t, err)
	s.publish(t, "alice/two words.ipynb", strings.Replace(notebookWithOutputs(t, "Alice's notebook", map[string]string{"text/plain": "42"}),
		`"plot()"`, string(code), 1))
	s.publish(t, "broken.ipynb", `{"this is": "not a notebook"`)
	s.publish(t, ".hidden.ipynb", notebookWithOutputs(t, "Hidden"))
	// A notebook too large for the render's memory, first in line: passed
	// over unread, or its out-of-memory kill would stop every one after it.
	s.publish(t, "a-huge.ipynb", strings.Replace(notebookWithOutputs(t, "Huge", map[string]string{"text/plain": "x"}),
		`"x"`, `"`+strings.Repeat("x", staticNotebookMaxMiB<<20)+`"`, 1))

	out, err := s.render(t)
	t.Logf("the first render:\n%s", out)
	require.Error(t, err, "a broken notebook makes the render fail, after the others")
	assert.Contains(t, out, "broken.ipynb: not rendered", "the broken notebook is named in the log")
	assert.Contains(t, out, fmt.Sprintf("a-huge.ipynb: not rendered (ValueError: larger than %d MiB", staticNotebookMaxMiB),
		"a notebook too large for the render's memory is passed over, and named")
	assert.NoFileExists(t, filepath.Join(s.pages, "a-huge.html"))
	page, readErr := os.ReadFile(filepath.Join(s.pages, "rainfall.html"))
	require.NoError(t, readErr, "a broken notebook must not stop the others")
	assert.Contains(t, string(page), "Rainfall in Hobart")
	assert.Contains(t, string(page), `src="data:image/png;base64,`, "the saved plot is in the page, as a data: URI")
	assert.Contains(t, string(page), `href="/voila/render/rainfall.ipynb"`, "the page links its live view")
	assert.NotContains(t, string(page), "<script", "the page holds no script of nbconvert's")
	assert.FileExists(t, filepath.Join(s.pages, "alice", "two words.html"))
	assert.NoFileExists(t, ran, "rendering must not run the notebook's code")
	assert.NoFileExists(t, filepath.Join(s.pages, "broken.html"))
	assert.NoFileExists(t, filepath.Join(s.pages, ".hidden.html"), "hidden files are not published")
	index, readErr := os.ReadFile(filepath.Join(s.pages, "index.html"))
	require.NoError(t, readErr)
	for _, link := range []string{`href="/read/rainfall.html"`, `href="/voila/render/rainfall.ipynb"`, `href="/read/alice/two%20words.html"`,
		`href="/voila/render/alice/two%20words.ipynb"`, `href="/voila/render/broken.ipynb"`} {
		assert.Contains(t, string(index), link, "the front page lists every notebook, read and live")
	}

	// Twice: only the broken notebook is tried again.
	out, _ = s.render(t)
	assert.NotContains(t, out, "rainfall.ipynb: rendered", "an unchanged notebook is not rendered again:\n%s", out)
	assert.Contains(t, out, "broken.ipynb: not rendered")

	// A changed notebook, even one whose new version is older than its page
	// (the bucket's time), is rendered again; a removed one loses its page.
	s.publish(t, "rainfall.ipynb", notebookWithOutputs(t, "Rainfall in Launceston"))
	old := time.Now().Add(-24 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(s.notebooks, "rainfall.ipynb"), old, old))
	require.NoError(t, os.RemoveAll(filepath.Join(s.notebooks, "alice")))
	require.NoError(t, os.Remove(filepath.Join(s.notebooks, "broken.ipynb")))
	require.NoError(t, os.Remove(filepath.Join(s.notebooks, "a-huge.ipynb")))
	out, err = s.render(t)
	require.NoError(t, err, "%s", out)
	page, _ = os.ReadFile(filepath.Join(s.pages, "rainfall.html"))
	assert.Contains(t, string(page), "Rainfall in Launceston", "a changed notebook's page must change")
	assert.NoDirExists(t, filepath.Join(s.pages, "alice"), "a removed notebook's page must go")
	index, _ = os.ReadFile(filepath.Join(s.pages, "index.html"))
	assert.NotContains(t, string(index), "alice")
	assert.NotContains(t, string(index), "broken")
}

// TestRenderRunsUnprivilegedWithoutNetwork: the render is a user of its own,
// not root, not one with the instance's credentials, with no network.
func TestRenderRunsUnprivilegedWithoutNetwork(t *testing.T) {
	ud := userDataOf(t, one(t, deploy(t, nil), typeInstance, "HOL02-VoilaServer"))
	unit := unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/notebook-render.service"))
	assert.Equal(t, []string{staticUser}, unit["User"])
	assert.NotContains(t, imdsUsers, staticUser, "the render must not reach the instance's credentials")
	assert.Equal(t, []string{voilaUser}, unit["SupplementaryGroups"], "it reads the notebooks as Voila does")
	assert.Equal(t, []string{"yes"}, unit["PrivateNetwork"])
	assert.Equal(t, []string{staticStateDir}, unit["StateDirectory"], "it writes the pages Nginx serves")
	assert.Equal(t, []string{"strict"}, unit["ProtectSystem"])
	assert.Equal(t, []string{fmt.Sprintf("%dM", staticRenderMemoryMiB)}, unit["MemoryMax"], "the render's memory is the one the notebook size cap counts on")
	pull := unitProperties(t, writtenFile(t, ud, "/etc/systemd/system/notebook-pull.service"))
	assert.Contains(t, words(pull["Wants"]), "notebook-render.service", "every pull is followed by a render")
	assert.Contains(t, writtenFile(t, ud, "/usr/local/sbin/research-lab-setup"), "useradd --system --home-dir /nonexistent --no-create-home --shell /sbin/nologin "+staticUser)
}

// standinVoila is Voila's kernel limit, the rendered research_lab_voila.py,
// on Debian's jupyter_server: each render starts a kernel (a process that
// holds kernelMiB), idle kernels are culled; /stats tells the peak count and
// the peak memory of the stand-in and its kernels.
const standinVoila = `
import asyncio, json, os, sys
from tornado import web
from research_lab_voila import LiveKernelLimit

port, max_kernels, idle = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
km = LiveKernelLimit(max_kernels=max_kernels, default_kernel_name="standin")
km.cull_idle_timeout, km.cull_interval, km.cull_busy, km.cull_connected = idle, 1, True, True
km.shutdown_wait_time = 0.2
stats = {"peak_kernels": 0, "peak_rss_mib": 0, "kernel_rss_mib": 0, "base_rss_mib": 0, "started": 0, "refused": 0}

def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0

def children():
    me = str(os.getpid())
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        yield int(p)
            except OSError:
                pass

def sample():
    kids = [rss_mib(p) for p in children()]
    stats["peak_kernels"] = max(stats["peak_kernels"], len(km))
    stats["kernel_rss_mib"] = max([stats["kernel_rss_mib"]] + kids)
    stats["peak_rss_mib"] = max(stats["peak_rss_mib"], rss_mib(os.getpid()) + sum(kids))

class Render(web.RequestHandler):
    async def get(self, path):
        if len(km) > 2 * max_kernels + 2:  # the limit is broken: fail fast, not out of memory
            sample()
            raise web.HTTPError(500, "the stand-in's ceiling")
        try:
            kid = await km.start_kernel(kernel_name="standin")
        except web.HTTPError:
            stats["refused"] += 1
            raise
        stats["started"] += 1
        sample()
        self.write(f"voila: a kernel for {path}")

class Stats(web.RequestHandler):
    def get(self):
        sample()
        self.write(json.dumps(stats | {"kernels": len(km)}))

async def main():
    stats["base_rss_mib"] = rss_mib(os.getpid())
    web.Application([(r"/voila/render/(.*)", Render), (r"/stats", Stats)]).listen(port, "127.0.0.1")
    km.initialize_culler()
    while True:
        sample()
        await asyncio.sleep(0.05)

asyncio.run(main())
`

// startStandinVoila runs the stand-in with the live bound of a Voila
// instance, and returns its port.
func startStandinVoila(t *testing.T, ud string, maxKernels, kernelMiB, idle int) int {
	t.Helper()
	requireDebianPython(t, "jupyter_server", "tornado")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "research_lab_voila.py"), []byte(writtenFile(t, ud, pythonLibDir+"/research_lab_voila.py")), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "standin.py"), []byte(standinVoila), 0o644))
	spec := filepath.Join(dir, "kernels", "standin")
	require.NoError(t, os.MkdirAll(spec, 0o755))
	// A kernel holds its memory until it is shut down, or its Voila is gone.
	code := fmt.Sprintf("import ctypes, os, signal, time\nctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"+
		"held = b'x' * (%d << 20)\nparent = os.getppid()\nwhile os.getppid() == parent:\n    time.sleep(0.2)\n", kernelMiB)
	require.NoError(t, os.WriteFile(filepath.Join(spec, "kernel.py"), []byte(code), 0o644))
	kernel := fmt.Sprintf(`{"argv": [%q, %q, "{connection_file}"], "display_name": "stand-in", "language": "python"}`, debianPython, filepath.Join(spec, "kernel.py"))
	require.NoError(t, os.WriteFile(filepath.Join(spec, "kernel.json"), []byte(kernel), 0o644))
	port := freePort(t)
	cmd := exec.Command(debianPython, filepath.Join(dir, "standin.py"), fmt.Sprint(port), fmt.Sprint(maxKernels), fmt.Sprint(idle))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JUPYTER_PATH="+dir, "JUPYTER_RUNTIME_DIR="+filepath.Join(dir, "runtime"), "PYTHONPATH="+dir)
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", port), logs)
	return port
}

type standinStats struct {
	PeakKernels  int     `json:"peak_kernels"`
	Kernels      int     `json:"kernels"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	KernelRSSMiB float64 `json:"kernel_rss_mib"`
	BaseRSSMiB   float64 `json:"base_rss_mib"`
	Started      int     `json:"started"`
	Refused      int     `json:"refused"`
}

func readStandinStats(t *testing.T, port int) standinStats {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	var s standinStats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

// TestCrowdReadsEveryPageAndLiveStaysInMemory: 200 visitors, 1,000 requests
// at once, on the default Voila type's 1 GiB: every static read is the
// notebook, the live kernels never pass the bound and their memory stays
// under the cap, and a visitor past the bound gets the static page, never a
// bare 429 or 503.
func TestCrowdReadsEveryPageAndLiveStaysInMemory(t *testing.T) {
	changes := map[string]string{"voilaInstanceType": "t4g.micro"}
	s := newStaticSite(t, changes)
	titles := map[string]string{"rainfall": "Rainfall in Hobart", "weather": "Weather in Hobart"}
	for name, title := range titles {
		s.publish(t, name+".ipynb", notebookWithOutputs(t, title, map[string]string{"image/png": redPNG(t, 40, 20)}))
	}
	out, err := s.render(t)
	require.NoError(t, err, "%s", out)

	l := voilaLiveBound(s.run.Infra.Config)
	unit := unitProperties(t, writtenFile(t, s.ud, "/etc/systemd/system/voila.service"))
	bound := regexp.MustCompile(`--LiveKernelLimit\.max_kernels=(\d+)`).FindStringSubmatch(strings.Join(unit["ExecStart"], " "))
	require.NotNil(t, bound, "voila.service names no live bound")
	maxKernels, err := strconv.Atoi(bound[1])
	require.NoError(t, err)
	require.Equal(t, l.MaxKernels, maxKernels)
	require.Positive(t, maxKernels, "1 GiB must hold a live kernel")
	// The stand-in's kernels hold less than a real one (this machine is
	// shared), but more than the stand-in's own growth under load, so that
	// one kernel past the bound shows in its memory.
	const kernelMiB, slackMiB = 40, 32
	voila := startStandinVoila(t, s.ud, maxKernels, kernelMiB, 2)
	site := s.serve(t, voila)

	const visitors, each = 200, 5
	paths := []string{"/", staticPrefix + "rainfall.html", "/voila/render/rainfall.ipynb", staticPrefix + "weather.html", "/voila/render/weather.ipynb"}
	ctx, cancel := context.WithTimeout(context.Background(), loadedMachine)
	defer cancel()
	var mu sync.Mutex
	statuses, followed := map[int]int{}, 0
	var problems []string
	var wg sync.WaitGroup
	for n := 2; n < 2+visitors; n++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{DialContext: visitor(n).DialContext, DisableKeepAlives: true},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			get := func(path string) (int, string, string) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+site+path, nil)
				if err != nil {
					return 0, "", err.Error()
				}
				resp, err := client.Do(req)
				if err != nil {
					return 0, "", err.Error()
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					return 0, "", err.Error()
				}
				return resp.StatusCode, resp.Header.Get("Location"), string(b)
			}
			for _, path := range paths[:each] {
				status, location, text := get(path)
				mu.Lock()
				statuses[status]++
				mu.Unlock()
				problem := ""
				switch {
				case strings.HasPrefix(path, staticPrefix):
					name := strings.TrimSuffix(strings.TrimPrefix(path, staticPrefix), ".html")
					if status != http.StatusOK || !strings.Contains(text, titles[name]) {
						problem = fmt.Sprintf("%s answered %d without the notebook %s", path, status, text)
					}
				case path == "/":
					if status != http.StatusOK || !strings.Contains(text, "rainfall") {
						problem = fmt.Sprintf("the front page answered %d: %.200s", status, text)
					}
				case status == http.StatusOK:
				case status == http.StatusSeeOther:
					name := strings.TrimSuffix(strings.TrimPrefix(path, "/voila/render/"), ".ipynb")
					if want := staticPrefix + name + ".html?live=full#live-full"; location != want {
						problem = fmt.Sprintf("%s sent the visitor to %q, not %q", path, location, want)
						break
					}
					page, _, text := get(strings.TrimSuffix(location, "#live-full"))
					mu.Lock()
					followed++
					mu.Unlock()
					if page != http.StatusOK || !strings.Contains(text, titles[name]) || !strings.Contains(text, `id="live-full"`) {
						problem = fmt.Sprintf("the static page a full live view sent to answered %d without the notebook and its note", page)
					}
				default:
					problem = fmt.Sprintf("%s answered %d: neither the live page nor the static page", path, status)
				}
				if problem != "" {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("visitor %d: %s", n, problem))
					mu.Unlock()
				}
			}
		}(n)
	}
	wg.Wait()
	require.NoError(t, ctx.Err(), "the crowd did not finish within its deadline")
	stats := readStandinStats(t, voila)
	capMiB := stats.BaseRSSMiB + slackMiB + float64(maxKernels)*stats.KernelRSSMiB
	t.Logf("%d visitors, %d requests (and %d redirects followed): answers %v; live kernels started %d, refused %d, at most %d at once (bound %d); "+
		"peak memory of the stand-in and its kernels %.0f MiB (cap %.0f MiB: %.0f MiB, %d kernels of %.0f MiB, %d MiB slack)",
		visitors, visitors*each, followed, statuses, stats.Started, stats.Refused, stats.PeakKernels, maxKernels,
		stats.PeakRSSMiB, capMiB, stats.BaseRSSMiB, maxKernels, stats.KernelRSSMiB, slackMiB)
	assert.Empty(t, problems, "every visitor must get each page or its static page")
	assert.Zero(t, statuses[http.StatusTooManyRequests]+statuses[http.StatusServiceUnavailable], "no visitor may get a bare 429 or 503")
	assert.LessOrEqual(t, stats.PeakKernels, maxKernels, "the live kernels passed the bound")
	assert.Positive(t, stats.Started, "some visitors must get the live view")
	assert.Positive(t, followed, "a crowd of %d must fill the live view of %d kernels", visitors, maxKernels)
	assert.LessOrEqual(t, stats.PeakRSSMiB, capMiB, "the stand-in's memory passed its cap")
}

// artifactsDir is where a test keeps what a person may want to look at:
// RESEARCH_LAB_ARTIFACTS, or artifacts/ in the repository (.gitignore).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RESEARCH_LAB_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	return abs
}

// chromium opens url as a visitor's browser does, headless, and returns the
// DOM it rendered and its console (CSP violations show there).
func chromium(t *testing.T, url string, screenshot string) (dom, console string) {
	t.Helper()
	tool := requireTool(t, "chromium")
	home := t.TempDir()
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--user-data-dir=" + filepath.Join(home, "profile"),
		"--enable-logging=stderr", "--v=0", "--window-size=1000,700", "--virtual-time-budget=3000"}
	if os.Geteuid() == 0 {
		// CI runs the tests as root, and Chromium's sandbox refuses to start
		// as root. Without it Chromium opens, unsandboxed, only the test's
		// own pages on loopback; as any other user the sandbox stays on.
		args = append(args, "--no-sandbox")
	}
	if screenshot != "" {
		args = append(args, "--screenshot="+screenshot)
	} else {
		args = append(args, "--dump-dom")
	}
	cmd := exec.Command(tool, append(args, url)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium failed:\n%s", stderr.String())
	var messages []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			messages = append(messages, line)
		}
	}
	return stdout.String(), strings.Join(messages, "\n")
}

// blockedByPolicy is what Chromium's console says of what the site's
// headers blocked: the Content-Security-Policy, and its sandbox.
func blockedByPolicy(console string) bool {
	return strings.Contains(console, "Content Security Policy") || strings.Contains(console, "Blocked script execution")
}

// redPixels counts the pixels of a screenshot that are the test image's red.
func redPixels(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	n := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 > 180 && g>>8 < 40 && b>>8 < 40 {
				n++
			}
		}
	}
	return n
}

// TestAVisitorSeesTheStaticPage: headless Chromium, through the real Nginx,
// opens the front page and a static page: the notebook's title, its plot
// drawn, nothing blocked by the site's headers; and a notebook whose output
// holds a script does not run it.
func TestAVisitorSeesTheStaticPage(t *testing.T) {
	s := newStaticSite(t, nil)
	s.publish(t, "rainfall.ipynb", notebookWithOutputs(t, "Rainfall in Hobart", map[string]string{"image/png": redPNG(t, 300, 150), "text/plain": "<Figure>"}))
	s.publish(t, "attack.ipynb", notebookWithOutputs(t, "Nothing to see", map[string]string{"text/html": attackerScript},
		map[string]string{"application/javascript": `document.title = "pwned"`}))
	out, err := s.render(t)
	require.NoError(t, err, "%s", out)
	site := s.serve(t, newCountingVoila(t).Listener.Addr().(*net.TCPAddr).Port)
	artifacts := artifactsDir(t)

	dom, console := chromium(t, "http://"+site+"/", "")
	assert.Contains(t, dom, "<title>Published notebooks</title>")
	assert.Contains(t, dom, `href="/read/rainfall.html"`, "the front page links the static page")
	assert.Contains(t, dom, `href="/voila/render/rainfall.ipynb"`, "the front page links the live view")
	assert.False(t, blockedByPolicy(console), "the front page must load whole under the site's headers:\n%s", console)

	dom, console = chromium(t, "http://"+site+staticPrefix+"rainfall.html?live=full#live-full", "")
	assert.True(t, regexp.MustCompile(`<h1[^>]*>Rainfall in Hobart`).MatchString(dom), "the browser shows the notebook's title")
	assert.True(t, strings.Contains(dom, `<img src="data:image/png;base64,`), "the browser has the plot")
	assert.True(t, strings.Contains(dom, `id="live-full"`), "the page has the note a full live view points to")
	assert.False(t, blockedByPolicy(console), "nothing on the page may be blocked by the site's headers:\n%s", console)
	shot := filepath.Join(artifacts, "static-page.png")
	_, console = chromium(t, "http://"+site+staticPrefix+"rainfall.html?live=full#live-full", shot)
	t.Logf("the static page as Chromium drew it: %s", shot)
	assert.Greater(t, redPixels(t, shot), 300*150/2, "the plot must be drawn: its image loaded")
	assert.False(t, blockedByPolicy(console), "%s", console)

	dom, console = chromium(t, "http://"+site+staticPrefix+"attack.html", "")
	assert.True(t, strings.Contains(dom, "harmless text"), "the page with the script must still be shown")
	assert.False(t, strings.Contains(dom, `id="pwned"`), "a script in a notebook's output ran on the site's origin")
	assert.False(t, strings.Contains(dom, `id="pwned2"`), "an event handler in a notebook's output ran on the site's origin")
	assert.False(t, strings.Contains(dom, "<title>pwned</title>"), "a script in a notebook's output ran on the site's origin")
	assert.True(t, blockedByPolicy(console), "the site's policy, not chance, must be what stopped the script:\n%s", console)
}
