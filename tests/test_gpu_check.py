"""The GPU check script runs end to end on the CPU (`--dry-run`), so it cannot rot before a GPU is lent."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run_passes_every_check(tmp_path):
    out = subprocess.run([str(ROOT / "bench" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=540, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rep = json.loads((tmp_path / "gpu_check.json").read_text())
    checks = ["peak", "cls", "lm-packed", "sft", "trl-peer", "oom", "accelerate"]
    assert [k for k in rep if k != "total_seconds"] == checks
    assert all(rep[k]["ok"] for k in checks), {k: rep[k].get("error") for k in checks}
    assert rep["peak"]["measured_peak"] > 0 and rep["peak"]["peak_precision"] == "fp32"   # the dry run trains in fp32: its peak is fp32's
    for k in ("cls", "lm-packed", "sft", "trl-peer", "accelerate"):
        assert rep[k]["tokens_per_second"] > 0, k
    for k in ("cls", "lm-packed", "sft"):
        assert 0 < rep[k]["mfu_measured_peak"] < 1 and rep[k]["steps"] >= 1, k
    assert (rep["oom"]["batch_size"], rep["oom"]["grad_accum"], rep["oom"]["status"]) == (4, 2, "finished")
    assert rep["accelerate"]["steps"] == rep["cls"]["steps"]
    assert "| cls | yes |" in out.stdout                                     # the table for bench/RESULTS.md
