"""The knob lab: a set built through the sweep runner (resumable, failures kept, weights dropped), replayed without
training, checked for reproduction; and the shipped rotten-tomatoes set."""
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fine_tune_lab import batch
from fine_tune_lab.cli import main
from fine_tune_lab.core import ConfigError, LabError
from fine_tune_lab.knobs import KnobSet, build_knobs, fmt_value, knob_grid, knob_points, shipped_sets
from fine_tune_lab.ui.knobs import KnobLab


def _grid(tiny_bert, reviews_csv):
    return {"base": dict(model=tiny_bert, data=str(reviews_csv), epochs=2, learning_rate=1e-3, dropout=0.1, precision="fp32",
                         eval_samples=0, data_map=0, baseline=False, save_total_limit=1, val_size=0.2, test_size=0.2),
            "knobs": {"learning_rate": [1e-4, 1e-3], "dropout": [0.0, 0.1], "text_col": [None, "no_such_column"]},
            "cross": [["learning_rate", "dropout"]]}


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_bert):
    "A small set built from the CLI, with one knob value that cannot run."
    root = tmp_path_factory.mktemp("knobs")
    good = ["a wonderful, moving film", "brilliant acting", "I loved every minute", "a delight", "superb and touching"]
    bad = ["a dull, boring mess", "terrible acting", "I hated every minute", "a tedious waste", "awful and lifeless"]
    rows = [(f"{t} ({i})", "pos") for i in range(8) for t in good] + [(f"{t} ({i})", "neg") for i in range(8) for t in bad]
    data = root / "reviews.csv"; pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(data, index=False)
    g = root / "grid.yaml"; g.write_text(yaml.safe_dump(_grid(tiny_bert, data)))
    assert main(["knobs", "build", str(root / "set"), "--grid", str(g), "--quiet"]) == 0
    return root


def test_the_grid_is_checked_with_the_file_and_setting_named(tmp_path):
    g = tmp_path / "g.yaml"
    g.write_text("knobs:\n  learning_rate: [1e-5, 2e-5]\n")
    with pytest.raises(ConfigError, match="base value 5e-05 is not among") as e:
        knob_grid(g)
    assert str(g) in str(e.value) and "knobs.learning_rate" in str(e.value)
    g.write_text("knobs:\n  learning_rate: [1e-5, 5e-5\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        knob_grid(g)
    assert main(["knobs", "build", str(tmp_path / "o"), "--grid", str(g)]) == 2
    # one factor at a time, plus the crossed pairs, each point once
    pts = knob_points(knob_grid({"base": {"epochs": 3, "dropout": 0.1}, "knobs": {"epochs": [1, 3], "dropout": [0.0, 0.1], "seed": [42, 1]},
                                 "cross": [["epochs", "dropout"]]}))
    assert len(pts) == 1 + 1 + 1 + 1 + 1                                     # base, epochs 1, dropout 0, seed 1, (epochs 1, dropout 0)
    assert len({json.dumps(p, sort_keys=True) for p in pts}) == len(pts)


def test_a_built_set_keeps_failures_drops_weights_and_replays(built, tiny_bert, monkeypatch):
    ks = KnobSet(built / "set")
    assert len(ks.points) == 5 and ks.failed() == 1
    bad = next(p for p in ks.points if p["status"] != "finished")
    assert bad["settings"]["text_col"] == "no_such_column" and "no_such_column" in bad["error"]
    assert "failed" in ks.table().set_index("changed").loc["text_col=no_such_column", "status"]
    for p in ks.points:
        run = built / "set" / "runs" / p["id"] / "run"
        if p["status"] == "finished":
            assert (run / "metrics.jsonl").exists() and not (run / "model").exists() and not (run / "checkpoints").exists()
            assert p["curves"]["train loss"][0] and p["curves"]["accuracy"][0][-1] == pytest.approx(2.0, abs=0.01)   # x in epochs
            res = json.loads((run / "results.json").read_text())
            assert p["results"]["test"]["accuracy"] == res["test"]["accuracy"]
    # replay: no training happens when the controls move
    monkeypatch.setattr(batch, "execute_sweep", lambda *a, **k: pytest.fail("the knob lab trained"))
    lab = KnobLab(ks)
    lab.controls["learning_rate"].value = 0                                   # the slider/toggle a learner moves
    assert lab.settings["learning_rate"] == 1e-4
    shown = ks.point({"learning_rate": 1e-4})["results"]["test"]["accuracy"]
    assert f"test accuracy <b>{shown:.3f}</b>" in lab.numbers.value
    assert any(t.line.dash == "dot" for t in lab.curves.data)                 # the other learning rate, faint
    lab.controls["text_col"].value = 1
    assert "This run failed" in lab.numbers.value and "no_such_column" in lab.numbers.value
    assert lab.settings["learning_rate"] == 1e-3 and "learning_rate went back" in lab.note.value
    lab.controls["dropout"].value = 0; lab.controls["learning_rate"].value = 0   # crossed: both kept
    assert (lab.settings["dropout"], lab.settings["learning_rate"]) == (0.0, 1e-4)
    assert lab.try_it().learning_rate == 1e-4 and "--learning-rate 0.0001" in lab.message.value


def test_a_stopped_build_resumes_without_redoing_finished_runs(built, tiny_bert):
    ks = KnobSet(built / "set")
    first = next(p for p in ks.points if p["status"] == "finished")
    others = [p for p in ks.points if p["status"] == "finished" and p is not first]
    before = {p["id"]: (built / "set" / "runs" / p["id"] / "run" / "results.json").stat().st_mtime_ns for p in others}
    run = built / "set" / "runs" / first["id"] / "run"
    (run / "results.json").unlink(); (run / "status.json").write_text(json.dumps({"state": "running"}))   # killed mid-run
    time.sleep(0.05)
    ks2 = build_knobs(built / "set", built / "grid.yaml", progress=False)
    assert ks2.failed() == 1 and (run / "results.json").exists()
    after = {i: (built / "set" / "runs" / i / "run" / "results.json").stat().st_mtime_ns for i in before}
    assert after == before                                                    # the finished runs were not run again


def test_check_reproduces_and_catches_a_tampered_set(built, tmp_path, capsys):
    ks = KnobSet(built / "set")
    t = ks.check(2, seed=0, progress=False)
    assert len(t) == 2 and t["reproduced"].all()
    d = json.loads(ks.path.read_text())
    for p in d["points"]:
        if p["status"] == "finished": p["results"]["test"]["accuracy"] = 1.5 - p["results"]["test"]["accuracy"]
    bad = tmp_path / "tampered.json"; bad.write_text(json.dumps(d))
    assert main(["knobs", "check", str(bad), "--points", "1", "--seed", "0", "--quiet"]) == 1
    assert "0 of 1 points reproduced" in capsys.readouterr().out
    (tmp_path / "junk.json").write_text("{")
    assert main(["knobs", "show", str(tmp_path / "junk.json")]) == 2
    assert "not a knob set" in capsys.readouterr().err


def test_a_set_is_never_built_over_one_it_did_not_make(tmp_path, tiny_bert, reviews_csv):
    out = tmp_path / "mine"; out.mkdir()
    (out / "knobset.json").write_text(json.dumps({"format": 1, "points": [], "grid": {}}))
    with pytest.raises(LabError, match="did not build"):
        build_knobs(out, _grid(tiny_bert, reviews_csv), progress=False)


def test_the_shipped_set_opens_offline_and_explains_every_knob(capsys):
    assert "rotten_tomatoes" in shipped_sets()
    t0 = time.perf_counter()
    ks = KnobSet("rotten_tomatoes")
    lab = KnobLab(ks)
    assert time.perf_counter() - t0 < 10                                      # seconds, not a training run
    assert ks.failed() == 0 and len(ks.points) == len(knob_points(knob_grid(ks.grid)))
    assert ks.base["model"] == "minilm" and ks.base["data"] == "rotten_tomatoes"
    for k in ks.knobs:
        text = ks.explain(k)
        assert len(ks.along(k)) == len(ks.knobs[k]) and "test accuracy" in text
        assert all(f"{fmt_value(k, v)}: {p['results']['test']['accuracy']:.3f}" in text for v, p in ks.along(k))   # the set's own numbers
        for v, p in ks.along(k):
            assert p["curves"]["train loss"][1] and p["results"]["test"]["accuracy"] > 0
    # the learning-rate story the explanation tells holds in the shipped numbers: too small barely moves, too large breaks
    acc = {v: p["results"]["test"]["accuracy"] for v, p in ks.along("learning_rate")}
    assert acc[1e-5] < acc[2e-4] and acc[1e-3] < acc[2e-4]
    assert main(["knobs", "show", "--knob", "epochs"]) == 0
    assert "Epochs are passes" in capsys.readouterr().out


@pytest.mark.slow
def test_the_shipped_set_reproduces_on_this_machine(capsys):
    "One random point of the shipped set rebuilt with MiniLM (about 30 s on 2 cores)."
    assert main(["knobs", "check", "--points", "1", "--quiet"]) == 0
    assert "1 of 1 points reproduced" in capsys.readouterr().out
