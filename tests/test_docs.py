"""The notebooks are the docs. Without Quarto (not installable here), prove they publish: process them the way
`nbdev_docs` does (`nbdev_proc_nbs`: show_doc tables, hidden cells), render every processed notebook to HTML with
nbconvert, and fail on errors, broken internal links, or a public function without docments."""
import dataclasses
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import fine_tune_lab

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
CELL_KEYS = {"cell_type", "id", "metadata", "source", "outputs", "execution_count", "attachments"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|href=\"([^\"]+)\"")


@pytest.fixture(scope="module")
def processed():
    "Run nbdev's doc processor over nbs/ into _proc/ (what `nbdev_docs` hands to Quarto)."
    exe = Path(sys.executable).with_name("nbdev_proc_nbs")
    r = subprocess.run([str(exe), "--force", "--n_workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and "Error in notebook" not in r.stderr, r.stderr[-4000:]
    notebooks = sorted((ROOT / "_proc").rglob("*.ipynb"))
    assert len(notebooks) == len(sorted(NBS.rglob("*.ipynb"))), "some notebooks were not processed"
    return notebooks


def _for_nbconvert(path: Path):
    "A processed notebook with nbdev's extra cell keys (e.g. `has_sd`) removed, which nbformat's validator rejects."
    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        for k in set(c) - CELL_KEYS:
            del c[k]
    return nbformat.reads(json.dumps(nb), as_version=4)


def test_every_notebook_renders_to_html_without_errors(processed, tmp_path):
    from nbconvert import HTMLExporter
    ex, bad = HTMLExporter(), []
    for p in processed:
        nb = _for_nbconvert(p)
        nbformat.validate(nb)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            bad.append(f"{p.relative_to(ROOT)}: {errors[0].get('ename')}: {errors[0].get('evalue')}")
            continue
        html, _ = ex.from_notebook_node(nb)
        out = tmp_path / p.relative_to(ROOT / "_proc").with_suffix(".html")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html)
        assert "<html" in html and len(html) > 1000
    assert not bad, "\n".join(bad)


def test_show_doc_renders_a_signature_for_every_exported_function(processed):
    "Each `show_doc` cell the processor added has its rendered signature (it ran, and found the object)."
    missing = []
    for p in processed:
        for c in json.loads(p.read_text())["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] == "code" and "show_doc(" in src:
                md = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in c.get("outputs", []))
                if "###" not in md:
                    missing.append(f"{p.name}: {src.splitlines()[-1]}")
    assert not missing, "\n".join(missing)


def _links(md: str):
    for m in LINK.finditer(md):
        t = m.group(1) or m.group(2)
        if not re.match(r"^(https?:|mailto:|#|data:)", t):
            yield t


def _check_link(src: Path, target: str):
    path = target.split("#")[0]
    if not path:
        return None
    p = (src.parent / path)
    candidates = [p] + ([p.with_suffix(".ipynb"), p.with_suffix(".md")] if p.suffix == ".html" else [])
    name = src.relative_to(ROOT) if src.is_relative_to(ROOT) else src.name
    return None if any(c.exists() for c in candidates) else f"{name} links to {target!r}, which does not exist"


def test_internal_links_resolve():
    "Relative links in the notebooks' markdown and in the README point at files that exist."
    broken = []
    for nb in sorted(NBS.rglob("*.ipynb")):
        for c in json.loads(nb.read_text())["cells"]:
            if c["cell_type"] == "markdown":
                broken += [e for t in _links("".join(c["source"])) if (e := _check_link(nb, t))]
    broken += [e for t in _links((ROOT / "README.md").read_text()) if (e := _check_link(ROOT / "README.md", t))]
    assert not broken, "\n".join(broken)


def test_link_checker_catches_a_broken_link(tmp_path):
    nb = tmp_path / "a.ipynb"
    (tmp_path / "b.ipynb").write_text("{}")
    found = [_check_link(nb, t) for t in _links("see [b](b.ipynb), [b page](b.html#x), [gone](c.ipynb) and [web](https://x.org)")]
    assert found[:2] == [None, None] and "c.ipynb" in found[2] and len(found) == 3


def undocumented() -> list:
    "Public functions and classes (in a module's `__all__`) without a docstring, or with parameters without docments."
    from fastcore.docments import docments
    out = []
    for mi in pkgutil.walk_packages(fine_tune_lab.__path__, "fine_tune_lab."):
        m = importlib.import_module(mi.name)
        for n in getattr(m, "__all__", []):
            o = getattr(m, n)
            if not (inspect.isfunction(o) or inspect.isclass(o)) or o.__module__ != mi.name:
                continue
            if not inspect.getdoc(o):
                out.append(f"{mi.name}.{n}: no docstring")
            if dataclasses.is_dataclass(o):                 # fields: a comment after each, or `opt(help)` in configs
                d = docments(o, full=False)
                miss = [f.name for f in dataclasses.fields(o) if not d.get(f.name) and not f.metadata.get("help")]
            else:
                f = o.__init__ if inspect.isclass(o) else o
                if inspect.isclass(o) and not f.__qualname__.startswith(o.__name__ + "."):
                    continue                               # inherited (e.g. evaluate.Metric's): documented upstream
                d = docments(f, full=False)
                miss = [k for k, p in inspect.signature(f).parameters.items()
                        if k not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not d.get(k)]
            if miss:
                out.append(f"{mi.name}.{n}: no docments for {', '.join(miss)}")
    return out


def test_public_functions_have_docments():
    missing = undocumented()
    assert not missing, f"{len(missing)} public functions lack docments (a comment after each parameter):\n" + "\n".join(missing)
