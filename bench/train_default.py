"""The main job's target: `ftlab train` with no arguments (offline MiniLM on rotten_tomatoes, the guide's
recipe: lr 5e-5, batch 16, 3 epochs) reaches test accuracy >= 0.82 in under 10 minutes wall on 2 CPU cores.

Runs the real command in a subprocess, wall-clocks it end to end (imports, loading, tokenizing, training,
evaluation, saving), and prints the run's test metrics. Usage: python bench/train_default.py [extra ftlab flags]
"""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path

TARGET_ACC, TARGET_S = 0.82, 600

def main(extra):
    out = Path(tempfile.mkdtemp(prefix="ftlab-bench-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ftlab = Path(sys.executable).with_name("ftlab")
    cmd = [str(ftlab if ftlab.exists() else "ftlab"), "train", "--output-dir", str(out), "--run-name", "default", "--quiet", *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - t0
    res = json.loads((out / "default" / "results.json").read_text())
    acc, f1 = res["test"]["accuracy"], res["test"]["macro_f1"]
    print(f"cores: {os.cpu_count()}  command: ftlab train {' '.join(extra)}")
    print(f"wall: {wall:.0f} s (training {res['train']['runtime_s']:.0f} s, {res['train']['samples_per_second']:.1f} samples/s)")
    print(f"test accuracy: {acc:.4f}  macro-F1: {f1:.4f}  (test rows: {res['sizes']['test']})")
    print(f"target accuracy >= {TARGET_ACC} in < {TARGET_S} s: {'MET' if acc >= TARGET_ACC and wall < TARGET_S else 'NOT MET'}"
          f"  (accuracy/target {acc/TARGET_ACC:.3f}, wall/limit {wall/TARGET_S:.3f})")

if __name__ == "__main__":
    main(sys.argv[1:])
