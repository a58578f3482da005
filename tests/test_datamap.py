"""The map of what the model learns: recorded by a run, read back, drawn, and its hard-to-learn rows in the labelling queue."""
import json

import numpy as np
import pandas as pd
import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.core import LabError
from fine_tune_lab.evaluation import DataMap
from fine_tune_lab.label import file_queue
from fine_tune_lab.project import Project
from fine_tune_lab.store import AppendLog
from fine_tune_lab.train import TrainingSession, resume, train


def _flipped_csv(reviews_csv, tmp_path):
    "The reviews with one copy of each positive phrasing (and one negative) given the other label: the model should refuse to learn them."
    df = pd.read_csv(reviews_csv)
    templates = df["review"].str.replace(r" \(\d+\)$", "", regex=True)
    pos = [t for t in dict.fromkeys(templates[df["sentiment"] == "pos"])]
    flip = [df.index[df["review"] == f"{t} ({i})"][0] for i, t in enumerate(pos)] + [df.index[df["sentiment"] == "neg"][7]]
    df.loc[flip, "sentiment"] = ["neg"] * len(pos) + ["pos"]
    p = tmp_path / "flipped.csv"; df.to_csv(p, index=False)
    return p, set(flip)


def _cfg(tmp_path, tiny_bert, data, **kw):
    return TrainConfig(**{**dict(model=tiny_bert, data=str(data), epochs=6, learning_rate=3e-3, batch_size=8, output_dir=str(tmp_path / "runs"),
                                 precision="fp32", eval_samples=0, val_size=0.15, test_size=0.15, baseline=False, run_name="map", data_map=1000), **kw})


def test_a_run_records_the_map_and_queues_its_flipped_labels(tmp_path, tiny_bert, reviews_csv):
    data, flipped = _flipped_csv(reviews_csv, tmp_path)
    r = train(_cfg(tmp_path, tiny_bert, data), progress=False, quiet=True)
    recs = AppendLog(r.path / "dynamics.jsonl").read()
    pts = [x for x in recs if x["event"] == "point"]
    assert len(pts) == 24 and len({x["step"] for x in pts}) == 24            # 4 per epoch over 6 epochs, each once
    assert pts[-1]["step"] == r.results["train"]["steps"]                   # the last measurement is the trained model's
    dm = DataMap(r.path)
    train_rows = set(dm.table["row"])
    assert len(train_rows) == r.results["sizes"]["train"]                   # a small split is measured whole
    # recomputed by hand from the raw measurements
    p = np.array([x["p_gold"] for x in pts])
    np.testing.assert_allclose(dm.table["confidence"], p.mean(0).round(4))
    np.testing.assert_allclose(dm.table["variability"], p.std(0).round(4))
    assert dm.table.attrs["final_accuracy"] > 0.7                            # it learned the clean rows
    hard = set(dm.table.loc[dm.table["region"] == "hard to learn", "row"])
    in_train = flipped & train_rows
    assert in_train and in_train <= hard                                      # every flipped training row is hard to learn
    assert len(hard - flipped) <= 1                                           # and (almost) no clean row is
    q = file_queue(r.path / "queues" / "hard_to_learn.jsonl")
    assert set(q["row"]) == hard
    assert q["reason"].str.contains("hard to learn \\(data map\\): gold-label confidence").all()
    assert q["score"].is_monotonic_decreasing
    # the queue reaches the lab's Label tab with the other queues
    assert r.path / "queues" / "hard_to_learn.jsonl" in Project(tmp_path, _cfg(tmp_path, tiny_bert, data)).queue_files()
    fig = dm.figure()
    assert {t.name.split(" (")[0] for t in fig.data} == {"easy to learn", "ambiguous", "hard to learn"}
    assert sum(len(t.x) for t in fig.data) == len(dm.table)
    tl = dm.timeline([sorted(in_train)[0]])
    assert len(tl.data[0].y) == 24 and tl.data[0].y[-1] < 0.5                # the flipped row ends below even odds
    with pytest.raises(LabError, match="not in this run's data map"):
        dm.timeline([10_000])


def test_a_model_that_learned_nothing_queues_nothing(tmp_path, tiny_bert, reviews_csv):
    r = train(_cfg(tmp_path, tiny_bert, reviews_csv, epochs=1, learning_rate=1e-7), progress=False, quiet=True)
    dm = DataMap(r.path)
    assert "did not learn them" in dm.summary()
    assert not (r.path / "queues" / "hard_to_learn.jsonl").exists()


def test_map_off_and_the_cli(tmp_path, tiny_bert, reviews_csv, capsys):
    r = train(_cfg(tmp_path, tiny_bert, reviews_csv, epochs=1, data_map=0, run_name="off"), progress=False, quiet=True)
    assert not (r.path / "dynamics.jsonl").exists()
    assert main(["map", str(r.path)]) == 2
    assert "recorded no data map" in capsys.readouterr().err
    r2 = train(_cfg(tmp_path, tiny_bert, reviews_csv, epochs=2, data_map=20, run_name="sampled"), progress=False, quiet=True)
    assert len(DataMap(r2.path).table) == 20                                  # a sample of the training split
    html = tmp_path / "map.html"
    assert main(["map", str(r2.path), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "20 training examples measured at 8 points" in out and html.stat().st_size > 1000
    assert main(["map", str(r2.path), "--html", str(html)]) == 2             # never overwritten
    assert "already exists" in capsys.readouterr().err


def test_a_resumed_run_measures_each_step_once(tmp_path, tiny_bert, reviews_csv):
    s = TrainingSession(_cfg(tmp_path, tiny_bert, reviews_csv, epochs=2, save_steps=2, run_name="resumed"))
    stop_at = 3
    s.log.add_listener(lambda kind, p: s.stopper.request() if kind == "progress" and p.get("step", 0) >= stop_at else None)
    s.run_now()
    run = s.run.path
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"
    r = resume(run, progress=False, quiet=True)
    pts = [x for x in AppendLog(run / "dynamics.jsonl").read() if x["event"] == "point"]
    steps = [x["step"] for x in pts]
    dm = DataMap(run)
    assert len(dm.steps) == 8 and dm.steps[-1] == r.results["train"]["steps"]
    assert len(steps) - len(set(steps)) <= 1                                 # at most the stopped step is measured again


def test_measuring_the_map_does_not_change_training(tmp_path, tiny_bert, reviews_csv):
    "The measurements run in evaluation mode between steps: same losses and predictions with the map on or off."
    on = train(_cfg(tmp_path, tiny_bert, reviews_csv, epochs=2, run_name="on"), progress=False, quiet=True)
    off = train(_cfg(tmp_path, tiny_bert, reviews_csv, epochs=2, data_map=0, run_name="off"), progress=False, quiet=True)
    assert on.results["train"]["loss"] == off.results["train"]["loss"]
    assert on.results["test"] == off.results["test"]
    assert (on.path / "dynamics.jsonl").exists() and not (off.path / "dynamics.jsonl").exists()


def test_the_automatic_sample_is_a_quarter_of_the_split_at_least_64(tmp_path, tiny_bert, reviews_csv):
    r = train(_cfg(tmp_path, tiny_bert, reviews_csv, epochs=1, data_map=None, run_name="auto"), progress=False, quiet=True)
    assert len(DataMap(r.path).table) == min(64, r.results["sizes"]["train"])
