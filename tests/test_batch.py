"""Batch: `ftlab run`, sweeps with a failing run, job arrays, the data-budget planner, dashboard <-> YAML <-> papermill."""
import json
import shlex
import subprocess

import pandas as pd
import pytest
import yaml

from conftest import ROOT
from fine_tune_lab.batch import collect, plan_budget, plan_sweep, read_glued, run_state, sweep, write_job_array
from fine_tune_lab.cli import main
from fine_tune_lab.config import TrainConfig

TRAIN_NB = str(ROOT / "nbs/tutorials/train.ipynb")


def test_ftlab_run_glues_results(tmp_path, capsys, tiny_bert, reviews_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["run", TRAIN_NB, "-p", "model", tiny_bert, "-p", "data", str(reviews_csv), "-p", "epochs", "1",
                 "-p", "max_train_samples", "48", "-p", "learning_rate", "1e-4", "--output", "out.ipynb", "--quiet"])
    assert code == 0, capsys.readouterr()
    res = read_glued(tmp_path / "out.ipynb")
    assert 0 <= res["test"]["accuracy"] <= 1 and res["sizes"]["train"] == 48
    run = yaml.safe_load(open(f"{res['run_dir']}/config.yaml"))
    assert run["learning_rate"] == 1e-4 and isinstance(run["learning_rate"], float)   # "1e-4" typed by the parameters cell


def test_ftlab_run_refuses_unknown_parameter(tmp_path, capsys):
    assert main(["run", TRAIN_NB, "-p", "lr", "1e-4", "--output", str(tmp_path / "o.ipynb")]) == 2
    err = capsys.readouterr().err
    assert "no parameter 'lr'" in err and "Did you mean 'learning_rate'?" in err
    assert not (tmp_path / "o.ipynb").exists()


@pytest.fixture
def grid(tmp_path, tiny_bert, reviews_csv):
    spec = {"base": {"model": tiny_bert, "data": str(reviews_csv), "epochs": 1, "max_train_samples": 32, "logging_steps": 1},
            "grid": {"learning_rate": [1e-4, 3e-4, -1.0], "batch_size": [8]},
            "random": {"n": 1, "seed": 0, "params": {"dropout": {"uniform": [0.05, 0.2]}}}}
    p = tmp_path / "sweep.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def test_sweep_with_a_failing_run(tmp_path, grid, capsys):
    spec = yaml.safe_load(grid.read_text())
    spec["grid"]["learning_rate"] = [1e-4, 2e-4, 3e-4]
    spec["base"]["max_train_samples"] = 32
    # the fourth run fails inside the notebook: a text column that does not exist
    spec_ok, out = spec, tmp_path / "sw"
    runs = plan_sweep(TRAIN_NB, spec_ok, out)
    bad = dict(spec, grid={"learning_rate": [1e-4]}, base={**spec["base"], "text_col": "no_such_column"})
    runs += plan_sweep(TRAIN_NB, bad, out)
    from fine_tune_lab.batch import execute_sweep
    execute_sweep(runs, workers=2, progress=False)
    df = collect(runs, out)
    assert len(df) == 4 and sorted(df["status"]) == ["failed", "finished", "finished", "finished"]
    failed = df[df["status"] == "failed"].iloc[0]
    assert "no column named 'no_such_column'" in failed["error"]
    assert all((out / "runs" / i / "notebook.ipynb").exists() for i in df["id"])     # the failing run kept its notebook
    assert (out / "summary.csv").exists() and len(pd.read_csv(out / "summary.csv")) == 4
    assert df.loc[df["status"] == "finished", "test.accuracy"].between(0, 1).all()
    # running again skips the finished runs
    before = {i: (out / "runs" / i / "notebook.ipynb").stat().st_mtime for i in df["id"]}
    execute_sweep(runs, workers=2, progress=False)
    after = {i: (out / "runs" / i / "notebook.ipynb").stat().st_mtime for i in df["id"]}
    assert [i for i in df["id"] if before[i] != after[i]] == [failed["id"]]


def test_sweep_refuses_bad_values_before_running(tmp_path, grid, capsys):
    assert main(["sweep", "train", "--grid", str(grid), "--out", str(tmp_path / "s")]) == 2
    assert "setting 'learning_rate'" in capsys.readouterr().err
    assert not list((tmp_path / "s" / "runs").glob("*/run"))


def test_sweep_cli_reports_failure(tmp_path, grid, capsys):
    spec = yaml.safe_load(grid.read_text())
    spec["grid"] = {"learning_rate": [1e-4, 3e-4], "text_col": [None, "nope"]}      # "nope" fails when the data loads
    grid.write_text(yaml.safe_dump(spec))
    code = main(["sweep", "train", "--grid", str(grid), "--out", str(tmp_path / "s"), "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "2 of 4 runs finished" in out and out.count("no column named 'nope'") >= 2
    assert (tmp_path / "s" / "summary.csv").exists() and (tmp_path / "s" / "summary.html").exists()


def test_job_array_commands_run_anywhere(tmp_path, tiny_bert, reviews_csv):
    spec = {"base": {"model": tiny_bert, "data": str(reviews_csv), "epochs": 1, "max_train_samples": 16},
            "grid": {"seed": [1, 2]}}
    runs = plan_sweep("train", spec, tmp_path / "ja")
    script = write_job_array(runs, tmp_path / "ja", partition="gpu")
    text = script.read_text()
    assert "#SBATCH --array=1-2" in text and "#SBATCH --partition=gpu" in text and "SLURM_ARRAY_TASK_ID" in text
    lines = (tmp_path / "ja" / "commands.txt").read_text().splitlines()
    assert len(lines) == 2
    subprocess.run(shlex.split(lines[0]), check=True, capture_output=True)          # what one array task runs
    states = [run_state(r)["status"] for r in runs]
    assert sorted(states) == ["finished", "pending"]
    assert len((tmp_path / "ja" / "commands.txt").read_text().splitlines()) == 2
    write_job_array(runs, tmp_path / "ja")
    assert len((tmp_path / "ja" / "commands.txt").read_text().splitlines()) == 1     # finished runs are not resubmitted


def test_data_budget_planner_on_default_data(tmp_path, tiny_bert):
    res = plan_budget({"model": tiny_bert, "data": "rotten_tomatoes", "epochs": 2, "max_train_samples": 320,
                       "max_eval_samples": 200, "learning_rate": 2e-3, "batch_size": 16},
                      tmp_path / "plan", fractions=(0.125, 0.25, 0.5, 1.0), seeds=(0, 1), workers=2, progress=False)
    assert (res["table"]["status"] == "finished").all() and len(res["table"]) == 8
    g = res["gain"]
    assert g["n_now"] == 320 and g["more"] == 160 and g["gain_low"] <= g["gain"] <= g["gain_high"]
    assert "320 labelled training samples" in g["sentence"] and "160 more" in g["sentence"]
    names = [t.name for t in res["figure"].data]
    assert names[:3] == ["95% band", "fitted curve", "runs"] and len(res["figure"].data[2].x) == 8
    assert json.loads((tmp_path / "plan" / "budget.json").read_text())["gain"] == pytest.approx(g["gain"])


def test_dashboard_yaml_papermill_round_trip(tmp_path, tiny_bert, reviews_csv, monkeypatch):
    "A run set up in the dashboard re-runs headless unchanged, and the headless run reopens in the dashboard."
    from fine_tune_lab.ui.train import TrainDashboard
    monkeypatch.chdir(tmp_path)
    d = TrainDashboard(TrainConfig(model=tiny_bert, data=str(reviews_csv), output_dir=str(tmp_path / "runs")), live=False)
    f = d.form.fields
    f["epochs"].value, f["learning_rate"].value, f["max_train_samples"].value = 1.0, 2e-4, "40"
    f["dropout"].value, f["freeze_layers"].value, f["scheduler"].value = "0.2", 1, "cosine"
    set_up = d.form.config()
    path = d.save(tmp_path / "dash.yaml")
    assert main(["run", TRAIN_NB, "-f", str(path), "--output", str(tmp_path / "o.ipynb"), "--quiet"]) == 0
    run_dir = read_glued(tmp_path / "o.ipynb")["run_dir"]
    again = TrainDashboard(live=False)
    again.load(f"{run_dir}/config.yaml")
    assert again.form.config().resolved() == set_up.resolved()


def test_sweep_with_repeats_groups_seeds_and_pairs_them(tmp_path, capsys, tiny_bert, reviews_csv):
    "repeats: K in a sweep: K seeds per configuration on one split, a group file each, the seed band, and `ftlab compare` of two groups."
    from fine_tune_lab.batch import group_table, sweep_figures
    from fine_tune_lab.evaluation import compare_repeats
    from fine_tune_lab.prepare import prepare
    spec = {"base": {"model": tiny_bert, "data": str(reviews_csv), "epochs": 1, "max_train_samples": 24, "repeats": 2, "seed": 7,
                     "baseline": False},
            "grid": {"learning_rate": [1e-4, 1e-3]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "sw"
    assert main(["sweep", "train", "--grid", str(tmp_path / "s.yaml"), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    df = pd.read_csv(out / "summary.csv")
    assert len(df) == 4 and (df["status"] == "finished").all() and sorted(df["seed"]) == [7, 7, 8, 8] and (df["split_seed"] == 7).all()
    runs = [yaml.safe_load(open(f"{o}/config.yaml")) for o in df["output"]]
    assert {(r["seed"], r["split_seed"], r["repeats"]) for r in runs} == {(7, 7, 1), (8, 7, 1)}
    test_rows = {o: [json.loads(l)["row"] for l in open(f"{o}/predictions.jsonl")] for o in df["output"]}
    assert len({tuple(v) for v in test_rows.values()}) == 1                  # every seed scored on the same test rows
    g = group_table(df, "test.accuracy")
    assert len(g) == 2 and (g["seeds"] == 2).all()
    for _, r in g.iterrows():
        assert r["mean"] == pytest.approx(df.loc[df["group"] == r["group"], "test.accuracy"].mean())
    assert "over its seeds (mean, 95% t-interval)" in printed and "pair two by seed: ftlab compare" in printed
    band = [t for t in sweep_figures(df, "test.accuracy")["by_param"].data if t.name == "mean, 95% CI"]
    assert len(band) == 1 and list(band[0].y) == pytest.approx(list(g.sort_values("learning_rate")["mean"]))
    a, b = (out / "runs" / f"{gid}.repeats.json" for gid in g["group"])
    rc = compare_repeats(a, b)
    assert rc.table.loc["accuracy", "n"] == 2
    assert main(["compare", str(a), str(b)]) == 0
    assert "paired seeds" in capsys.readouterr().out
    # the lab over the sweep's folder: the Batch tab tabulates each configuration over its seeds, Compare pairs them by seed
    from fine_tune_lab.project import Project
    from fine_tune_lab.ui.lab import batch_tab, compare_tab
    proj = Project(tmp_path)
    bt = batch_tab(proj)
    assert "over its seeds" in bt.children[3].value and bt.children[3].value.count("<tr") == 3
    ct = compare_tab(proj)                                                   # no runs in runs/, two groups in the sweep
    assert ct.children[1].layout.display is None and {l for l, _ in ct.group_pickers[0].options} == \
        {"sw: learning_rate=0.0001 (2 seeds)", "sw: learning_rate=0.001 (2 seeds)"}
    ct.children[1].children[2].click()
    assert "2 paired seeds" in ct.view.widget.children[0].value and "ftlab-error" not in ct.children[-1].value
