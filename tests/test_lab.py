"""The lab app over a real project: every tab opens on real runs, data and sweeps; `ftlab lab`; the starter notebook headless."""
import json
from pathlib import Path
import subprocess
import sys

import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.project import Project, starter_notebook
from fine_tune_lab.ui.lab import TABS, LabApp
from fine_tune_lab.train import train
from lab_project import base_config, make_project


@pytest.fixture(scope="module")
def proj(tmp_path_factory, tiny_bert):
    return make_project(tmp_path_factory.mktemp("lab"), tiny_bert)


def test_project_finds_runs_sweeps_and_config(proj):
    p = Project(proj)
    assert [r.name for r in p.runs()] == ["second", "first"]          # newest first
    assert p.sweeps() == [proj / "sweeps" / "lr"]
    assert p.cfg.epochs == 300 and p.cfg.run_name == "ui"               # from train.yaml
    s = p.summary()
    assert set(s["run"]) == {"first", "second"} and (s["state"] == "finished").all()
    assert s["test accuracy"].between(0, 1).all()


def test_every_tab_opens_with_content(proj):
    import ipywidgets as w
    app = LabApp(proj)
    for name in TABS:
        app.tabs.selected_index = list(TABS).index(name)
        v = app.views[name]
        assert not (isinstance(v, w.HTML) and "ftlab-note" in v.value), f"{name}: {getattr(v, 'value', '')}"
    label = app.views["Label"]
    assert len(label.s.queue) == 2 and label.s.labels == ["neg", "pos"]
    assert "&lt;b&gt;not yet labelled" in label.item.value                 # escaped
    assert app.views["Train"].form.config().epochs == 300
    model = app.views["Model"]
    assert model.audit is None                                           # the audit waits for its tab
    model.tabs.selected_index = 1
    assert model.info["name"] == app.project.cfg.model and model.audit is not None      # card and token audit on the data
    aug = app.views["Augment"]
    # the best finished classifier on the data would check labels; these random tiny runs are no better than the majority class
    assert aug.quality["run"] in ("first", "second") and not aug.quality["usable"]
    assert aug.reference is None and aug.check_btn.disabled and "Label check off" in aug.ref_note.value
    batch = app.views["Batch"]
    assert "test.accuracy" in batch.children[0].children[1].options


def test_a_config_change_in_train_reaches_the_other_tabs(proj):
    app = LabApp(proj)
    app.views["Train"].form.fields["learning_rate"].value = 3e-4
    assert app.project.cfg.learning_rate == 3e-4
    before = app.open("Model").info
    assert before["name"] == app.project.cfg.model                      # the project's model, not a recommendation
    app.views["Train"].form.fields["freeze_layers"].value = 1
    after = app.open("Model", rebuild=True).info
    assert after["total"] == before["total"] and after["trainable"] < before["trainable"]


def test_tabs_explain_what_is_missing(tmp_path):
    app = LabApp(tmp_path, tab="Evaluate")
    assert "no finished runs" in app.boxes["Evaluate"].children[0].value
    app.open("Batch")
    assert "ftlab sweep" in app.boxes["Batch"].children[0].value


def test_ftlab_lab_writes_the_starter_and_never_replaces_it(tmp_path, capsys):
    assert main(["lab", str(tmp_path), "--dry-run", "--no-browser", "--port", "8999"]) == 0
    out = capsys.readouterr().out
    nb = tmp_path / "lab.ipynb"
    assert nb.exists() and "jupyter lab lab.ipynb" in out and "--ServerApp.port=8999" in out and "--no-browser" in out
    nb.write_text(nb.read_text().replace("Run the cells", "My own notes"))
    main(["lab", str(tmp_path), "--dry-run"])
    assert "My own notes" in nb.read_text()


def test_starter_notebook_runs_headless(proj, tmp_path):
    import papermill as pm
    nb = starter_notebook(proj)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(nb), str(out), parameters={"live": False}, cwd=str(proj), progress_bar=False, kernel_name="python3")
    cells = json.loads(out.read_text())["cells"]
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "second" in html and "first" in html and "ftlab-table" in html


def test_ftlab_lab_as_root_with_a_token_and_jupyterlab_arguments(tmp_path, capsys, monkeypatch):
    import os
    monkeypatch.setattr(os, "geteuid", lambda: 0)          # a container or a cloud notebook: JupyterLab refuses root without --allow-root
    assert main(["lab", str(tmp_path), "--dry-run", "--no-browser", "--ip=0.0.0.0", "--ServerApp.base_url=/x/"]) == 0
    out = capsys.readouterr().out
    cmd = next(l for l in out.splitlines() if l.startswith("$ "))
    assert "--allow-root" in cmd and "--ip=0.0.0.0" in cmd and "--ServerApp.base_url=/x/" in cmd
    token = next(a for a in cmd.split() if a.startswith("--IdentityProvider.token=")).split("=", 1)[1]
    port = next(a for a in cmd.split() if a.startswith("--ServerApp.port=")).split("=", 1)[1]
    assert len(token) >= 16 and f"open: http://localhost:{port}/lab/tree/lab.ipynb?token={token}" in out
    with pytest.raises(SystemExit) as e: main(["models", "--ip=0.0.0.0"])      # other commands keep refusing unknown flags
    assert e.value.code == 64


def test_compare_reads_new_against_the_older_baseline(proj):
    app = LabApp(proj, tab="Compare")
    a, b = app.views["Compare"].pickers
    assert (a.description, Path(a.value).name) == ("baseline", "first") and (b.description, Path(b.value).name) == ("new", "second")
    app.views["Compare"].children[0].children[2].click()                 # Compare
    text = app.views["Compare"].view.summary.value
    assert "baseline (A): <code>first</code>" in text and "new (B): <code>second</code>" in text and "The new run" in text


def test_flips_sent_from_compare_reach_the_label_tab_without_reopening(tmp_path, tiny_bert):
    root = make_project(tmp_path, tiny_bert)
    train(base_config(root, tiny_bert).replace(run_name="learns", learning_rate=1e-2, epochs=5), progress=False, quiet=True)
    app = LabApp(root, tab="Label")
    before = set(app.views["Label"].s.queue["row"])                    # the two unlabelled rows
    app.tabs.selected_index = list(TABS).index("Compare")
    box = app.views["Compare"]
    a, b = box.pickers
    a.value, b.value = dict(a.options)["first"], dict(b.options)["learns"]    # a run at chance against one that learned: flips
    box.children[0].children[2].click()
    cmp_view = box.view
    assert len(cmp_view.cmp.flips) > 0
    cmp_view.send.click()
    assert "queued" in cmp_view.message.value, cmp_view.message.value
    assert "Label" not in app.views                                     # stale: rebuilt when opened
    app.tabs.selected_index = list(TABS).index("Label")
    label = app.views["Label"]
    flips = cmp_view.cmp.flips
    assert set(label.s.queue["row"]) == before | set(flips["row"]) and len(label.s.queue) == len(before | set(flips["row"]))
    assert "ftlab-error" not in label.message.value and "float()" not in label.item.value


def test_a_run_ended_in_the_train_tab_reaches_evaluate_and_the_header(tmp_path, tiny_bert, reviews_csv, monkeypatch):
    from fine_tune_lab.config import TrainConfig
    monkeypatch.chdir(tmp_path.parent)            # the kernel elsewhere: runs still land in the project's runs/
    TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, batch_size=8, precision="fp32", eval_samples=0, data_map=0,
                baseline=False, run_name="one").save(tmp_path / "train.yaml")
    app = LabApp(tmp_path, tab="Evaluate")
    assert "no finished runs" in app.boxes["Evaluate"].children[0].value and "0 finished runs" in app.header.value
    app.tabs.selected_index = list(TABS).index("Train")
    d = app.views["Train"]
    d.buttons["Train"].click()
    d.session.wait(300)
    assert d.session.result is not None and d.session.result.run.status == "finished"
    assert "1 finished run " in app.header.value + " " and "model <code>" in app.header.value
    app.tabs.selected_index = list(TABS).index("Evaluate")
    (pick,) = app.views["Evaluate"].pickers
    assert Path(pick.value).name == "one"
