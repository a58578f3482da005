"""Is the difference real? split_seed, repeated runs from every face, the TF-IDF baseline, against direct computations."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fine_tune_lab.cli import main
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.core import LabError
from fine_tune_lab.evaluation import compare_repeats, compare_runs, run_predictions
from fine_tune_lab.export import export_run
from fine_tune_lab.train import Repeats, TrainingSession, train


def _cfg(tmp_path, tiny_bert, reviews_csv, **kw):
    return TrainConfig(**{**dict(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path / "runs"), precision="fp32",
                                 eval_samples=0, val_size=0.2, test_size=0.3), **kw})


def test_runs_with_different_seeds_compare_when_the_split_is_fixed(tmp_path, tiny_bert, reviews_csv):
    a = train(_cfg(tmp_path, tiny_bert, reviews_csv, seed=1, run_name="s1"), progress=False, quiet=True)
    b = train(_cfg(tmp_path, tiny_bert, reviews_csv, seed=2, run_name="s2"), progress=False, quiet=True)
    with pytest.raises(LabError, match="split_seed"):                     # the hint names the way out
        compare_runs(a.path, b.path)
    c = train(_cfg(tmp_path, tiny_bert, reviews_csv, seed=2, split_seed=1, run_name="s2-split1"), progress=False, quiet=True)
    cmp = compare_runs(a.path, c.path)
    assert sorted(run_predictions(a.path)["row"]) == sorted(run_predictions(c.path)["row"])
    assert len(cmp.flips) == cmp.mcnemar["a_right_b_wrong"] + cmp.mcnemar["a_wrong_b_right"]


def test_repeats_from_the_cli_and_their_intervals(tmp_path, tiny_bert, reviews_csv, capsys):
    base = ["train", "--model", tiny_bert, "--data", str(reviews_csv), "--epochs", "1", "--output-dir", str(tmp_path / "runs"),
            "--precision", "fp32", "--eval-samples", "0", "--repeats", "3", "--quiet"]
    assert main(base + ["--run-name", "slow", "--learning-rate", "1e-4"]) == 0
    assert main(base + ["--run-name", "fast", "--learning-rate", "3e-3"]) == 0
    out = capsys.readouterr().out
    assert "slow.repeats.json" in out and "ci_low" in out
    slow = Repeats(tmp_path / "runs" / "slow.repeats.json")
    assert slow.seeds == [42, 43, 44] and [r.path.name for r in slow.runs] == ["slow-seed42", "slow-seed43", "slow-seed44"]
    accs = [json.loads((r.path / "results.json").read_text())["test"]["accuracy"] for r in slow.runs]
    t = slow.table().loc["accuracy"]
    half = stats.t.ppf(0.975, 2) * np.std(accs, ddof=1) / np.sqrt(3)            # the interval computed directly
    assert t["mean"] == pytest.approx(np.mean(accs)) and t["n"] == 3
    if np.std(accs) > 0: assert (t["ci_low"], t["ci_high"]) == pytest.approx((np.mean(accs) - half, np.mean(accs) + half))
    assert len({tuple(sorted(run_predictions(r.path)["row"])) for r in slow.runs}) == 1    # one split for all seeds
    assert main(["compare", str(slow.path), str(tmp_path / "runs" / "fast.repeats.json")]) == 0
    out = capsys.readouterr().out
    assert "paired seeds" in out and "delta" in out
    rc = compare_repeats(slow.path, tmp_path / "runs" / "fast.repeats.json")
    d = rc.per_seed[rc.per_seed["metric"] == "loss"]["delta"].to_numpy()
    fast = [json.loads((tmp_path / "runs" / f"fast-seed{s}" / "results.json").read_text())["test"]["loss"] for s in (42, 43, 44)]
    slow_loss = [json.loads((r.path / "results.json").read_text())["test"]["loss"] for r in slow.runs]
    assert d == pytest.approx(np.array(fast) - np.array(slow_loss))                 # paired by seed
    lo, hi = stats.t.interval(0.95, 2, loc=d.mean(), scale=stats.sem(d))
    assert (rc.table.loc["loss", "ci_low"], rc.table.loc["loss", "ci_high"]) == pytest.approx((lo, hi))
    before = (tmp_path / "runs" / "slow.repeats.json").read_text()
    assert main(base + ["--run-name", "slow"]) == 2                                 # an existing group is never overwritten
    assert (tmp_path / "runs" / "slow.repeats.json").read_text() == before


def test_repeats_refuse_groups_on_different_splits(tmp_path, tiny_bert, reviews_csv):
    a = train(_cfg(tmp_path, tiny_bert, reviews_csv, repeats=2, run_name="a"), progress=False, quiet=True)
    b = train(_cfg(tmp_path, tiny_bert, reviews_csv, repeats=2, test_size=0.25, run_name="b"), progress=False, quiet=True)
    with pytest.raises(LabError, match="test_size"):
        compare_repeats(a.path, b.path)


def test_repeats_from_the_dashboard_session(tmp_path, tiny_bert, reviews_csv):
    s = TrainingSession(_cfg(tmp_path, tiny_bert, reviews_csv, repeats=2, run_name="dash"))   # what the dashboard's Train runs
    s.run_now()
    assert isinstance(s.result, Repeats) and s.result.table().loc["accuracy", "n"] == 2 and not s.result.results["stopped"]


def test_baseline_beside_every_classification_result(tmp_path, tiny_bert, reviews_csv, capsys):
    assert main(["train", "--model", tiny_bert, "--data", str(reviews_csv), "--epochs", "1", "--output-dir", str(tmp_path / "runs"),
                 "--precision", "fp32", "--run-name", "r", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "TF-IDF baseline" in out and "TF-IDF + logistic regression baseline" in out
    run = tmp_path / "runs" / "r"
    res = json.loads((run / "results.json").read_text())
    preds = pd.read_json(run / "predictions.jsonl", lines=True)
    # the data is separable by its words: the 2-second baseline gets it right; the random tiny transformer does not
    assert res["baseline"]["accuracy"] == pytest.approx((preds["baseline_pred"] == preds["label"]).mean()) and res["baseline"]["accuracy"] > 0.9
    card = (export_run(run, tmp_path / "export") / "README.md").read_text()
    assert "TF-IDF + logistic regression accuracy" in card
    off = train(_cfg(tmp_path, tiny_bert, reviews_csv, baseline=False, run_name="off"), progress=False, quiet=True)
    assert "baseline" not in off.results and "baseline_pred" not in pd.read_json(off.path / "predictions.jsonl", lines=True)
