"""The same entry point trains under torchrun (2 CPU processes, gloo) without code changes."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


@pytest.mark.slow
def test_torchrun_two_processes_share_one_run(tmp_path, tiny_bert, reviews_csv):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    ftlab = str(Path(sys.executable).with_name("ftlab"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", ftlab, "train", "--model", tiny_bert, "--data", str(reviews_csv),
           "--epochs", "1", "--batch-size", "4", "--output-dir", str(tmp_path / "runs"), "--run-name", "ddp", "--quiet", "--precision", "fp32"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"], "every process must share one run folder"
    run = tmp_path / "runs" / "ddp"
    res = json.loads((run / "results.json").read_text())
    sizes = json.loads((run / "data.json").read_text())["sizes"]
    assert res["train"]["steps"] == sizes["train"] // (4 * 2)          # two processes split each epoch
    assert 0.6 < res["test"]["loss"] < 0.8                               # a per-example mean, not scaled by the world size
    preds = pd.read_json(run / "predictions.jsonl", lines=True)
    assert len(preds) == sizes["test"] and preds["row"].is_unique
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
