"""Faults: the disk fills during training on a real small filesystem (a tmpfs, mounted when the tests run as root) — a
clear message naming the safe checkpoint and the resume command, no traceback — and after space is freed the resumed
run ends with the same weights as one that never stopped."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

FTLAB = str(Path(sys.executable).with_name("ftlab"))


@pytest.fixture
def small_disk(tmp_path):
    "A 16 MB tmpfs (root only; skipped where mounting is not allowed)."
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not allowed here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _train(*args, env=None):
    return subprocess.run([FTLAB, "train", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_disk_full_during_training_then_exact_resume(tmp_path, small_disk, tiny_bert, reviews_csv):
    common = ["--model", tiny_bert, "--data", str(reviews_csv), "--epochs", "2", "--save-steps", "2", "--batch-size", "8",
              "--max-train-samples", "48", "--precision", "fp32", "--eval-samples", "0", "--no-baseline", "--run-name", "r", "--quiet"]
    full = _train(*common, "--output-dir", str(small_disk / "runs"))
    assert full.returncode == 1, full.stderr[-2000:]
    err = full.stderr
    assert "Traceback" not in err, err[-3000:]
    assert "free in" in err and "checkpoints" in err                           # warned before training started
    assert "the disk is full" in err and "checkpoint-2, is safe" in err and f"--resume {small_disk / 'runs' / 'r'}" in err
    run = small_disk / "runs" / "r"
    assert "disk is full" in (run / "status.json").read_text() or not (run / "status.json").read_text().strip()
    assert (run / "checkpoints" / "checkpoint-2" / ".complete").exists()

    subprocess.run(["mount", "-o", "remount,size=400m", str(small_disk)], check=True)   # space freed
    resumed = subprocess.run([FTLAB, "train", "--resume", str(run), "--quiet"], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = _train(*common, "--output-dir", str(tmp_path / "runs"))
    assert straight.returncode == 0, straight.stderr[-3000:]
    a, b = load_file(run / "model" / "model.safetensors"), load_file(tmp_path / "runs" / "r" / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)       # bit-identical on CPU
