"""Is the difference real? Two learning rates, K seeds each, on one split (MiniLM on rotten_tomatoes, 2 CPU cores).

Trains `--repeats K` seeds of each learning rate with `ftlab train` (quick runs: `--rows` training rows, 1 epoch),
then prints what a single pair of runs (the first seed) says against what the K paired seeds say
(`ftlab compare A.repeats.json B.repeats.json`), and the TF-IDF baseline on the same test rows as the yardstick.

Usage: python bench/bench_seeds.py [--repeats 5] [--rows 400] [--lrs 2e-5 5e-5] [--out DIR]
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from fine_tune_lab.evaluation import compare_repeats
from fine_tune_lab.train import Repeats


def main(a):
    out = Path(a.out or tempfile.mkdtemp(prefix="bench-seeds-"))
    ftlab = str(Path(sys.executable).with_name("ftlab"))
    print(f"load average at start: {os.getloadavg()[0]:.2f}; runs in {out}", flush=True)
    t0, groups = time.time(), []
    for lr in a.lrs:
        name = f"lr-{lr}"
        subprocess.run([ftlab, "train", "--quiet", "--repeats", str(a.repeats), "--max-train-samples", str(a.rows), "--max-eval-samples",
                        str(a.eval_rows), "--epochs", "1", "--learning-rate", lr, "--eval-samples", "0", "--output-dir", str(out),
                        "--run-name", name], check=True)
        groups.append(Repeats(out / f"{name}.repeats.json"))
        print(f"{name}: {time.time() - t0:.0f} s so far", flush=True)
    rc = compare_repeats(*groups)
    acc = rc.per_seed[rc.per_seed["metric"] == "accuracy"].reset_index(drop=True)
    print(f"\nper seed (A = lr {a.lrs[0]}, B = lr {a.lrs[1]}):\n{acc.to_string(index=False, float_format='{:.4f}'.format)}")
    first = acc.iloc[0]
    print(f"\nthe first seed alone ({int(first['seed'])}): B - A accuracy {first['delta']:+.4f}")
    print(rc.verdict("accuracy"))
    print(f"\n{rc.table.to_string(float_format='{:.4f}'.format)}")
    base = json.loads((groups[0].runs[0].path / "results.json").read_text()).get("baseline", {})
    if base: print(f"\nTF-IDF + logistic regression on the same {base['test_rows']} test rows: accuracy {base['accuracy']:.4f} "
                   f"(fitted on {base['train_rows']} rows in {base['fit_s']:.2f} s)")
    print(f"total {time.time() - t0:.0f} s; load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5); ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--eval-rows", type=int, default=400); ap.add_argument("--lrs", nargs=2, default=["2e-5", "5e-5"]); ap.add_argument("--out")
    main(ap.parse_args())
