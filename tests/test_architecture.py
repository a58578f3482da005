"""The package's shape: modules import only from earlier chapters (no cycle, no back-edge), the library never imports
the dashboards, nothing imports the package's own modules inside a function, methods are added with `@patch` (not by
assigning functions to classes), no module imports torch/transformers when it loads — so `ftlab --help` and
`--version` load neither — and every task is registered."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fine_tune_lab"
HEAVY = {"torch", "transformers", "trl", "peft", "datasets", "evaluate", "accelerate", "sklearn", "scipy", "nbformat"}


def chapter_of(source: str) -> int:
    "The notebook number a generated module came from (its 'File to edit' header)."
    m = re.search(r"File to edit: [./]*nbs/(\d+)_", source)
    return int(m.group(1)) if m else None


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def own_imports(tree: ast.Module, name: str, top_level: bool = True) -> list:
    "The package modules a module imports (at the top level, or inside functions)."
    out = []
    nodes = tree.body if top_level else [n for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                                          for n in ast.walk(f) if n is not f]
    for n in nodes:
        if isinstance(n, ast.ImportFrom):
            if n.level:     # relative: resolve against the package of `name`
                base = name.split(".")[:-n.level]
                mod = ".".join(base + ([n.module] if n.module else []))
            else: mod = n.module or ""
            if mod.startswith("fine_tune_lab"):
                out += [f"{mod}.{a.name}" if f"{mod}.{a.name}".replace(".", "/") in _files() else mod for a in n.names]
        elif isinstance(n, ast.Import):
            out += [a.name for a in n.names if a.name.startswith("fine_tune_lab")]
    return sorted(set(out))


_FILES = None
def _files():
    global _FILES
    if _FILES is None: _FILES = {module_name(p).replace(".", "/") for p in PKG.rglob("*.py")}
    return _FILES


def modules() -> dict:
    "{module name: (chapter, ast)} for the package's generated modules (not the evaluate metric scripts)."
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        if p.name in ("__init__.py", "_modidx.py") or "metrics" in p.parts: continue
        src = p.read_text()
        out[module_name(p)] = (chapter_of(src), ast.parse(src))
    return out


def layering_problems(mods: dict) -> list:
    "Imports that go to a later (or the same) chapter, or from the library to the dashboards."
    bad = []
    for name, (ch, tree) in mods.items():
        for target in own_imports(tree, name):
            if target == "fine_tune_lab" or target not in mods: continue     # the package itself (its version)
            tch = mods[target][0]
            if tch >= ch: bad.append(f"{name} (chapter {ch}) imports {target} (chapter {tch}): a back-edge")
            if ".ui." not in f".{target}." or ".ui." in f".{name}." or name == "fine_tune_lab.cli": continue
            bad.append(f"{name} is library code but imports the dashboard {target}")
    return bad


def cycles(mods: dict) -> list:
    "Import cycles among the modules (strongly connected components of more than one module)."
    graph = {n: [t for t in own_imports(tree, n) if t in mods] for n, (_, tree) in mods.items()}
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in graph:
        if v not in index: visit(v)
    return out


def function_level_own_imports(mods: dict) -> list:
    return [f"{n} imports {t} inside a function" for n, (_, tree) in mods.items() for t in own_imports(tree, n, top_level=False)]


def heavy_top_level(mods: dict) -> list:
    "Module-level imports of heavy third-party packages (they belong inside the functions that need them)."
    bad = []
    for n, (_, tree) in mods.items():
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            bad += [f"{n} imports {x} when it loads" for x in names if x.split(".")[0] in HEAVY]
    return bad


def assigned_methods(mods: dict) -> list:
    "Module-level `Class.name = function` (or lambda/property) assignments and setattr loops: use fastcore's @patch."
    bad = []
    for n, (_, tree) in mods.items():
        funcs = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
        classes = {c.name for c in tree.body if isinstance(c, ast.ClassDef)} | {a.name for i in tree.body if isinstance(i, ast.ImportFrom) for a in i.names}
        for node in tree.body:
            if isinstance(node, ast.Assign):
                values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                targets = [t for tg in node.targets for t in (tg.elts if isinstance(tg, ast.Tuple) else [tg])]
                for t, v in zip(targets, values):
                    if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in classes): continue
                    if isinstance(v, ast.Lambda) or isinstance(v, ast.Name) and v.id in funcs or \
                       isinstance(v, ast.Call) and getattr(v.func, "id", None) == "property":
                        bad.append(f"{n}: {t.value.id}.{t.attr} assigned")
            for sub in ast.walk(node) if isinstance(node, (ast.For, ast.Expr)) else []:
                if isinstance(sub, ast.Call) and getattr(sub.func, "id", None) == "setattr": bad.append(f"{n}: setattr at module level")
    return bad


def test_every_module_names_its_chapter():
    missing = [n for n, (ch, _) in modules().items() if ch is None]
    assert not missing, missing


def test_layers_in_chapter_order():
    mods = modules()
    assert len(mods) > 20
    assert not layering_problems(mods), "\n".join(layering_problems(mods))
    assert not cycles(mods), cycles(mods)


def test_no_function_level_imports_of_the_package():
    assert not function_level_own_imports(modules()), "\n".join(function_level_own_imports(modules()))


def test_nothing_heavy_loads_with_a_module():
    assert not heavy_top_level(modules()), "\n".join(heavy_top_level(modules()))


def test_methods_are_patched_not_assigned():
    assert not assigned_methods(modules()), "\n".join(assigned_methods(modules()))


def test_the_checks_catch_what_they_look_for():
    "The checkers on a made-up package: a back-edge, a cycle, a library->ui import, a lazy own import, a heavy import, an assignment."
    src = {"fine_tune_lab.a": (0, "from fine_tune_lab.b import x\nimport torch\n"),
           "fine_tune_lab.b": (1, "from fine_tune_lab.a import y\ndef f():\n    from fine_tune_lab import a\n"),
           "fine_tune_lab.c": (2, "from fine_tune_lab.ui.v import V\nclass C: pass\ndef g(self): pass\nC.g = g\n"),
           "fine_tune_lab.ui.v": (40, "from fine_tune_lab.c import C\n")}
    mods = {n: (ch, ast.parse(s)) for n, (ch, s) in src.items()}
    probs = layering_problems(mods)
    assert any("fine_tune_lab.a (chapter 0) imports fine_tune_lab.b" in p for p in probs)
    assert any("library code but imports the dashboard fine_tune_lab.ui.v" in p for p in probs)
    assert ["fine_tune_lab.a", "fine_tune_lab.b"] in cycles(mods)
    assert function_level_own_imports(mods) == ["fine_tune_lab.b imports fine_tune_lab inside a function"]
    assert heavy_top_level(mods) == ["fine_tune_lab.a imports torch when it loads"]
    assert assigned_methods(mods) == ["fine_tune_lab.c: C.g assigned"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["train", "--help"]])
def test_cli_help_and_version_load_no_torch(args):
    code = ("import sys\nfrom fine_tune_lab.cli import main\n"
            f"try: main({args!r})\nexcept SystemExit as e: assert e.code == 0, e.code\n"
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'sklearn', 'scipy') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout[-500:]


def test_every_task_is_registered():
    "Each Task subclass in the package is in the registry, and the `task` setting offers exactly those."
    import fine_tune_lab.config as C
    import fine_tune_lab.tasks as T
    subclasses = {c for c in vars(T).values() if isinstance(c, type) and issubclass(c, T.Task) and c is not T.Task}
    assert {type(t) for t in C.TASKS.values()} >= subclasses
    assert tuple(C.TrainConfig.specs()["task"][2]["choices"]) == tuple(C.TASKS)
    for name, t in C.TASKS.items():
        assert t.name == name and t.head in ("classification", "causal-lm") and t.defaults.get("model")
