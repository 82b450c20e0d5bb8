# research-lab: every published notebook as a static page, from its saved
# outputs (nothing is executed), for Nginx to serve without a kernel.
#   notebook-render NOTEBOOKS PAGES
# A notebook's page is PAGES/<path>.html; the front page, PAGES/index.html,
# lists every notebook with its page and its live (Voila) view. Only a
# notebook whose file changed since its page was made is rendered again (the
# page keeps the notebook's modification time); a page whose notebook is gone
# goes too. A notebook that cannot be rendered is named in the log, has no
# page, and stops none of the others; nor does one larger than MAX_BYTES,
# which is not read at all (it would take more than the render's memory).
# Safe to run twice.
import html
import os
import sys
import tempfile
import urllib.parse

import nbformat
from nbconvert import HTMLExporter

MAX_BYTES = {{.Voila.NotebookMaxMiB}} << 20

# The page template: nbconvert's lab template without its scripts (the site
# allows none), with a bar linking the live view and a note that shows when
# the live view was full (the redirect names it in the fragment: CSS :target,
# no script). Written with [= =] for Jinja's braces.
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
.research-lab-bar { font-family: sans-serif; padding: 0.5em 1em; border-bottom: 1px solid #ccc; }
.research-lab-note { display: none; font-family: sans-serif; margin: 0.5em 1em; padding: 0.5em 1em; background: #fff3cd; }
.research-lab-note:target { display: block; }
</style>
{%- endblock extra_css -%}
{%- block body_header -%}
[= super() =]
<nav class="research-lab-bar"><a href="/">All notebooks</a> · <a href="[= resources.research_lab_live | e =]">Run it live</a></nav>
<p id="live-full" class="research-lab-note">The live view is full right now: this is the notebook as it was last saved. Try "Run it live" again in a few minutes.</p>
{%- endblock body_header -%}
"""


def notebooks(root):
    """The published notebooks' paths under root, sorted; no hidden file or
    folder, no checkpoint, no link."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d)))
        for f in files:
            path = os.path.join(folder, f)
            if f.endswith(".ipynb") and not f.startswith(".") and not os.path.islink(path):
                found.append(os.path.relpath(path, root))
    return sorted(found)


def page_of(rel):
    return rel[: -len(".ipynb")] + ".html"


def write_atomically(path, text, mtime=None):
    """path holds text whole or not at all: Nginx never serves half a page."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".render-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        if mtime is not None:
            os.utime(tmp, ns=(mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def front_page(rendered):
    items = []
    for rel, ok in rendered:
        q = urllib.parse.quote(rel)
        name = html.escape(rel[: -len(".ipynb")])
        read = f'<a href="/read/{urllib.parse.quote(page_of(rel))}">{name}</a>' if ok else f"{name} (no saved page)"
        items.append(f'<li>{read} · <a href="/voila/render/{q}">run it live</a></li>')
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Published notebooks</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0"></head>\n'
        '<body style="font-family: sans-serif"><h1>Published notebooks</h1>\n'
        "<p>Read a notebook as it was saved, or run it live (while there is room for it).</p>\n"
        "<ul>\n" + "\n".join(items) + "\n</ul></body></html>\n"
    )


def main(root, pages):
    templates = tempfile.mkdtemp(prefix="research-lab-templates-")
    os.makedirs(os.path.join(templates, "research-lab"))
    with open(os.path.join(templates, "research-lab", "index.html.j2"), "w") as f:
        f.write(TEMPLATE.replace("[=", "{" "{").replace("=]", "}" "}"))
    with open(os.path.join(templates, "research-lab", "conf.json"), "w") as f:
        f.write('{"base_template": "lab", "mimetypes": {"text/html": true}}\n')
    exporter = HTMLExporter(template_name="research-lab", extra_template_basedirs=[templates])

    failed, rendered = [], []
    published = notebooks(root)
    for rel in published:
        source, page = os.path.join(root, rel), os.path.join(pages, page_of(rel))
        mtime = os.stat(source).st_mtime_ns
        if os.path.exists(page) and os.stat(page).st_mtime_ns == mtime:
            rendered.append((rel, True))
            continue
        try:
            if os.stat(source).st_size > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES >> 20} MiB, more than the render has memory for")
            nb = nbformat.read(source, as_version=4)
            body, _ = exporter.from_notebook_node(nb, resources={
                "metadata": {"name": os.path.basename(rel)[: -len(".ipynb")]},
                "research_lab_live": "/voila/render/" + urllib.parse.quote(rel),
            })
            write_atomically(page, body, mtime)
            print(f"research-lab: {rel}: rendered", flush=True)
            rendered.append((rel, True))
        except Exception as e:  # one notebook's failure is its own
            print(f"research-lab: {rel}: not rendered ({type(e).__name__}: {e}); the others go on", file=sys.stderr, flush=True)
            failed.append(rel)
            rendered.append((rel, False))
            if os.path.exists(page):
                os.unlink(page)  # an old page would show what is no longer published

    # Pages of notebooks no longer published, and the folders they leave empty.
    keep = {page_of(rel) for rel in published} | {"index.html"}
    for folder, dirs, files in os.walk(pages, topdown=False):
        for f in files:
            path = os.path.join(folder, f)
            if os.path.relpath(path, pages) not in keep:
                os.unlink(path)
                print(f"research-lab: {os.path.relpath(path, pages)}: removed", flush=True)
        if folder != pages and not os.listdir(folder):
            os.rmdir(folder)
    write_atomically(os.path.join(pages, "index.html"), front_page(rendered))
    for f in os.listdir(templates + "/research-lab"):
        os.unlink(os.path.join(templates, "research-lab", f))
    os.rmdir(templates + "/research-lab")
    os.rmdir(templates)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: notebook-render NOTEBOOKS PAGES", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
