"""How long each tab of the lab app takes to open on the default data (issue 20; target: <= 2 s each).

A project as a learner has it after one quick run: `train.yaml` with the lab's defaults (MiniLM, rotten_tomatoes)
and one finished run (`--max-train-samples 200 --epochs 1`). Then, in a fresh Python process each time (as a
new kernel), `LabApp(project)` is built (it opens the Train tab) and every other tab is opened in the order of
the tab bar, each timed, once the Train tab's parameter count (a background thread importing transformers) is done,
as a person clicking a tab after the page has settled meets it. The parts a tab builds only when first shown (the
Data tab's cleaning pass, the Model tab's token audit) are timed after that. "first" is the first process with an
empty lab cache (its own folder, `FTLAB_CACHE`), "again" a later process over the same project and cache (what every
later session sees).
Medians over --repeats of the "again" processes.

Usage: python bench/bench_tabs.py [--repeats 3] [--keep DIR]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from fine_tune_lab.ui.lab import TABS, LabApp
imp = time.perf_counter() - t0
t = time.perf_counter(); app = LabApp(sys.argv[1], tab="Train"); out = {"import": imp, "Train": time.perf_counter() - t}
t = time.perf_counter(); app.views["Train"].counter.wait(); out["Train's parameter count (background)"] = time.perf_counter() - t
for name in TABS:
    if name == "Train": continue
    t = time.perf_counter(); v = app.open(name); out[name] = time.perf_counter() - t
    html = getattr(v, "value", "")
    if "ftlab-note" in str(html) or "error" in str(html).lower()[:200]: out[name + " (note)"] = str(html)[:200]
# the parts built when first shown: the Data tab's cleaning pass and the Model tab's token audit
for name, sub in (("Data", "Clean"), ("Model", "Tokens")):
    v = app.views[name]
    t = time.perf_counter(); v.tabs.selected_index = 1; out[f"{name} > {sub} (built when first shown)"] = time.perf_counter() - t
print("TABS " + json.dumps(out))
"""


def probe(proj: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE, str(proj)], capture_output=True, text=True, timeout=600)
    line = next((l for l in r.stdout.splitlines() if l.startswith("TABS ")), None)
    if r.returncode or not line: raise SystemExit(f"the probe failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return json.loads(line[5:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3); ap.add_argument("--keep", default=None, help="build the project here and keep it")
    a = ap.parse_args()
    from fine_tune_lab.config import TrainConfig
    from fine_tune_lab.train import train
    proj = Path(a.keep or tempfile.mkdtemp(prefix="bench-tabs-")) / "proj"
    proj.mkdir(parents=True, exist_ok=True)
    from fine_tune_lab.core import asset_dir
    os.environ["FTLAB_ASSETS"] = str(asset_dir())               # the shipped data where it is; a cache of the bench's own
    os.environ["FTLAB_CACHE"] = str(proj.parent / "cache")
    cfg = TrainConfig(output_dir=str(proj / "runs"))
    cfg.save(proj / "train.yaml")
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; project {proj}", flush=True)
    if not any((proj / "runs").glob("*/results.json")):
        t = time.perf_counter()
        train(cfg.replace(max_train_samples=200, epochs=1, run_name="quick"), progress=False, quiet=True)
        print(f"one quick run for the Evaluate/Compare/Knobs tabs: {time.perf_counter() - t:.0f} s", flush=True)
    first = probe(proj)
    again = [probe(proj) for _ in range(a.repeats)]
    notes = {k: v for k, v in first.items() if k.endswith("(note)")}
    tabs = [k for k in first if not k.endswith("(note)")]
    print(f"\n| tab | first process (s) | later processes, median of {a.repeats} (s) | <= 2 s |\n|---|---|---|---|")
    for k in tabs:
        m = statistics.median(r[k] for r in again)
        print(f"| {k} | {first[k]:.2f} | {m:.2f} | {'' if k == 'import' or '(' in k else ('yes' if m <= 2 else 'NO')} |")
    for k, v in notes.items(): print(f"note: {k}: {v}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
