"""The teaching path, timed: a learner follows the tutorials in order on CPU and fine-tunes, evaluates and
compares a model. Target: under 30 minutes wall on 2 CPU cores, with the tutorials' own defaults.

  1. tutorials/data.ipynb       profile and clean rotten_tomatoes, split it without leakage
  2. tutorials/train.ipynb      fine-tune MiniLM with the guide's recipe (3 epochs)                 -> runs/guide
  3. tutorials/train.ipynb      a second run with one change (learning rate 1e-4, 1 epoch)         -> runs/faster
  4. tutorials/evaluate.ipynb   score the first run, its errors, compare with the second, export

Each notebook runs headless through papermill (live=False where the notebook has it), in a fresh folder, one
after the other, exactly as a learner's kernel would. Prints the wall time of each step, the total, the test
accuracy of both runs and what was exported
(the comparison itself is in 4-evaluate-compare-export.ipynb in the printed folder). Usage: python bench/teaching_path.py [--quick]
(--quick: 200 training rows, to check the script itself in a minute).
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
TUT = ROOT / "nbs" / "tutorials"
TARGET_MIN = 30


def run(nb, work, params, name):
    t0 = time.perf_counter()
    pm.execute_notebook(str(TUT / nb), str(work / f"{name}.ipynb"), parameters=params, cwd=str(work),
                        progress_bar=False, kernel_name="python3")
    return time.perf_counter() - t0


def main(quick: bool):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="ftlab-teach-"))
    small = {"max_train_samples": 200, "epochs": 1.0} if quick else {}
    steps = [("data.ipynb", {}, "1-data"),
             ("train.ipynb", {"run_name": "guide", "output_dir": "runs", **small}, "2-train"),
             ("train.ipynb", {"run_name": "faster", "output_dir": "runs", "learning_rate": 1e-4, "epochs": 1.0,
                              **({"max_train_samples": 200} if quick else {})}, "3-train-again"),
             ("evaluate.ipynb", {"run_dir": "runs/guide", "compare_with": "runs/faster", "export_to": "export/guide",
                                 "live": False}, "4-evaluate-compare-export")]
    times = {}
    for nb, params, name in steps:
        times[name] = run(nb, work, params, name)
        print(f"{name:28s} {times[name] / 60:6.1f} min", flush=True)
    total = sum(times.values()) / 60
    acc = {r: json.loads((work / "runs" / r / "results.json").read_text())["test"]["accuracy"] for r in ("guide", "faster")}
    print(f"{'total':28s} {total:6.1f} min   (cores: {os.cpu_count()}, folder: {work})")
    print(f"test accuracy: guide {acc['guide']:.4f}, faster {acc['faster']:.4f}")
    print(f"exported: {sorted(p.name for p in (work / 'export' / 'guide').iterdir())}")
    print(f"target < {TARGET_MIN} min: {'MET' if total < TARGET_MIN else 'NOT MET'}" + (" (quick mode: not the real path)" if quick else ""))


if __name__ == "__main__":
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--quick", action="store_true")
    main(a.parse_args().quick)
