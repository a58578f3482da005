"""Labelling: sessions, the SIGKILL test, agreement, patches recorded by runs, suspect labels, queues."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.core import ConfigError, DataError, RunDir
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.label import (LabelSession, LabelStore, agreement, apply_patch, combine_queues, disagreements, file_queue,
                                 load_rows, make_patch, unlabelled_queue, queue_frame)
from fine_tune_lab.suspects import suspect_queue
from fine_tune_lab.store import AppendLog
from fine_tune_lab.train import resume, train

WORKER = str(Path(__file__).with_name("label_worker.py"))


def test_sigkill_never_loses_a_submitted_label(tmp_path):
    "Kill the labelling process at random moments, again and again: every acknowledged label is on disk and the store parses."
    n, acked = 4000, set()
    for k in range(8):
        p = subprocess.Popen([sys.executable, WORKER, str(tmp_path), str(n)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
        time.sleep(random.uniform(1.0, 2.0))                # imports take ~1 s; then it labels hundreds per second
        p.send_signal(signal.SIGKILL)
        out, _ = p.communicate()
        acked |= {int(x) for x in out.split()}
        store = LabelStore(tmp_path, "ann")
        lines = store.log.path.read_bytes().split(b"\n")
        for line in lines[:-1]:
            if line: json.loads(line.decode())                  # every complete line parses (a torn one would be last)
        decided = store.decisions()
        assert acked <= set(decided), f"kill {k}: lost {sorted(acked - set(decided))[:5]}"
        assert all(decided[r]["label"] == ("a" if r % 2 else "b") for r in acked)
    assert len(acked) > 100
    s = LabelSession(queue_frame(pd.DataFrame({"row": range(n), "text": ["t"] * n, "label": [None] * n}), "x"), ["a", "b"], tmp_path, "ann")
    assert s.current["row"] == min(set(range(n)) - set(LabelStore(tmp_path, "ann").decisions()))   # resumes at the first undecided


def test_session_multilabel_filter_and_sort(tmp_path):
    q = queue_frame(pd.DataFrame({"row": [1, 2, 3], "text": ["red apple", "green pear", "red pear"], "label": [None] * 3,
                             "confidence": [0.9, 0.2, 0.5]}), "x")
    s = LabelSession(q, ["red", "green", "fruit"], tmp_path, "ann", multi_label=True)
    s.arrange(sort="confidence"); assert s.current["row"] == 2
    s.arrange(text="red"); assert s.current["row"] == 1
    s.submit(["red", "fruit"])
    assert LabelStore(tmp_path, "ann").decisions()[1]["label"] == ["fruit", "red"]
    with pytest.raises(ConfigError, match="unknown label"):
        s.submit(["blue"])
    single = LabelSession(q, ["red", "green"], tmp_path / "b", "ann")
    with pytest.raises(ConfigError, match="one label per item"):
        single.submit(["red", "green"])


def test_agreement_matches_sklearn_and_statsmodels(tmp_path):
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
    rng = np.random.default_rng(0)
    truth = rng.choice(["a", "b", "c"], 60)
    labels = {ann: [t if rng.random() < 0.8 else rng.choice(["a", "b", "c"]) for t in truth] for ann in ("x", "y", "z")}
    for ann, ls in labels.items():
        st = LabelStore(tmp_path / "three", ann)
        for r, l in enumerate(ls): st.label(r, l)
        if ann != "z":
            st2 = LabelStore(tmp_path / "two", ann)
            for r, l in enumerate(ls): st2.label(r, l)
    two = agreement(tmp_path / "two")
    assert two["method"] == "cohen" and two["kappa"] == pytest.approx(cohen_kappa_score(labels["x"], labels["y"]))
    three = agreement(tmp_path / "three")
    table, _ = aggregate_raters(np.array([labels[a] for a in "xyz"]).T)
    assert three["method"] == "fleiss" and three["kappa"] == pytest.approx(fleiss_kappa(table))
    dis = disagreements(tmp_path / "two")
    assert sorted(dis["row"]) == [r for r in range(60) if labels["x"][r] != labels["y"][r]]


@pytest.fixture
def noisy(tmp_path):
    rows = [(f"a {'wonderful' if i % 2 else 'terrible'} film, number {i}", "pos" if i % 2 else "neg") for i in range(100)]
    flipped = [3, 10, 21, 44, 67]
    for i in flipped: rows[i] = (rows[i][0], "neg" if rows[i][1] == "pos" else "pos")
    rows += [("an unlabelled review", None), ("another one", None)]
    p = tmp_path / "noisy.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(p, index=False)
    return p, flipped


def test_suspect_queue_finds_flipped_labels(noisy, tiny_bert):
    path, flipped = noisy
    rows, *_ = load_rows(str(path))
    q = suspect_queue(rows, TrainConfig(model=tiny_bert, epochs=6, learning_rate=3e-3, batch_size=8, precision="fp32"), folds=3)
    assert len(q) == 100 and q["score"].is_monotonic_decreasing
    top = set(q.head(10)["row"])
    assert len(top & set(flipped)) >= 4, (q.head(10), flipped)
    assert q.head(1)["reason"].iloc[0].startswith("likely mislabelled")


def test_patch_is_recorded_by_the_next_run(tmp_path, noisy, tiny_bert):
    path, flipped = noisy
    rows, *_ = load_rows(str(path))
    st = LabelStore(tmp_path / "lab", "ann")
    for r in flipped: st.label(r, "pos" if r % 2 else "neg")       # fix the flipped labels
    st.label(100, "pos")                                             # and label an unlabelled row
    assert main(["label", "patch", str(tmp_path / "lab"), "--data", str(path)]) == 0
    patch = next((tmp_path / "lab" / "patches").glob("labels-v1-*.csv"))
    cfg = TrainConfig(model=tiny_bert, data=str(path), epochs=1, output_dir=str(tmp_path / "runs"), precision="fp32")
    before = train(cfg, progress=False, quiet=True)
    after = train(cfg.replace(labels_patch=str(patch)), progress=False, quiet=True)
    rec = RunDir(after.path).read_json("data.json")["labels_patch"]
    assert rec["changed"] == 6 and rec["path"] == str(patch.resolve()) and len(rec["sha256"]) == 64
    assert RunDir(before.path).read_json("data.json")["unlabelled"] == 2 and RunDir(after.path).read_json("data.json")["unlabelled"] == 1
    with pytest.raises(ConfigError, match="cannot change labels_patch"):
        resume(after.path, labels_patch=None)


def test_file_queue_reads_compare_flips(tmp_path):
    log = AppendLog(tmp_path / "flipped.jsonl")
    log.append({"row": 5, "text": "t5", "label": "pos", "pred_a": "pos", "pred_b": "neg", "direction": "right_to_wrong"})
    log.append({"row": 5, "text": "t5", "label": "pos", "pred_a": "pos", "pred_b": "neg", "direction": "right_to_wrong"})
    q = combine_queues(file_queue(log.path), unlabelled_queue(pd.DataFrame({"row": [9], "text": ["u"], "label": [None]})))
    assert q["row"].tolist() == [5, 9] and "right to wrong between runs" in q["reason"].iloc[0]


def test_label_loop_notebook_headless(tmp_path, noisy, tiny_bert):
    from conftest import ROOT
    from fine_tune_lab.batch import run_notebook
    path, flipped = noisy
    out = run_notebook(ROOT / "nbs/tutorials/label_loop.ipynb", {"data": str(path), "model": tiny_bert, "epochs": 6,
                       "learning_rate": 3e-3, "batch_size": 8, "folds": 3, "relabel": 8, "workdir": str(tmp_path / "loop"), "live": False}, tmp_path / "o.ipynb")
    assert out.ok, out.error
    r = out.results
    assert r["patch"]["changed"] >= 4 and r["second_run_patch"]["sha256"] == r["patch"]["sha256"]
    assert "p_value" in r["compare"]["mcnemar"]
    assert r["hard_to_learn"]["queued"] >= 1 and r["hard_to_learn"]["relabelled"] >= 1      # the data map's rows reached the queue and were decided
