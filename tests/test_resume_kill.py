"""A run killed with SIGKILL at random steps and resumed ends bit-identical to an uninterrupted run (CPU, fixed seed)."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from fine_tune_lab.core import RunDir
from fine_tune_lab.config import TrainConfig

WORKER = str(Path(__file__).with_name("train_worker.py"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _start(mode, target, delay):
    return subprocess.Popen([sys.executable, WORKER, mode, str(target), str(delay)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _last_step(run: Path) -> int:
    p = run / "metrics.jsonl"
    steps = [0]
    if p.exists():
        for line in p.read_text().splitlines():
            try:
                steps.append(json.loads(line).get("step", 0))
            except json.JSONDecodeError:
                pass
    return max(steps)


def _kill_at(proc, run: Path, step: int, timeout=240):
    t0 = time.time()
    while _last_step(run) < step:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before step {step}: {proc.stderr.read().decode()[-2000:]}")
        if time.time() - t0 > timeout:
            proc.kill(); raise TimeoutError
        time.sleep(0.01)
    time.sleep(random.random() * 0.15)          # land anywhere in the step, saves included
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _finish(proc):
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]


def _weights(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_sigkill_and_resume_is_bit_identical(tmp_path, tiny_bert, reviews_csv):
    seed = random.randrange(10**6)
    random.seed(seed)
    print("kill-test seed", seed)
    base = dict(model=tiny_bert, data=str(reviews_csv), epochs=3, batch_size=8, save_steps=3, eval_steps=3,
                logging_steps=1, max_length=32, seed=7, precision="fp32", output_dir=str(tmp_path), dropout=0.1)
    TrainConfig(**base, run_name="ref").save(tmp_path / "ref.yaml")
    TrainConfig(**base, run_name="killed").save(tmp_path / "killed.yaml")

    _finish(_start("train", tmp_path / "ref.yaml", 0))
    ref = RunDir(tmp_path / "ref")
    total = ref.read_json("results.json")["train"]["steps"]
    assert total == 36

    killed = tmp_path / "killed"
    k1 = random.randint(2, total // 2)
    k2 = random.randint(k1 + 1, total - 2)
    _kill_at(_start("train", tmp_path / "killed.yaml", 0.15), killed, k1)
    _kill_at(_start("resume", killed, 0.15), killed, k2)
    _finish(_start("resume", killed, 0))

    run = RunDir(killed)
    assert run.status == "finished"
    assert [r["event"] for r in run.metrics()].count("resume") == 2
    a, b = _weights(ref.path / "model"), _weights(killed / "model")
    assert a.keys() == b.keys()
    diff = [k for k in a if not (a[k] == b[k]).all()]
    assert not diff, f"kills at steps {k1}, {k2} (seed {seed}): tensors differ: {diff[:5]}"
    la, lb = ref.checkpoints()[-1], run.checkpoints()[-1]
    assert la.name == lb.name == f"checkpoint-{total}"
    ca, cb = _weights(la), _weights(lb)
    assert all((ca[k] == cb[k]).all() for k in ca)
    assert ref.read_json("results.json")["test"] == run.read_json("results.json")["test"]
