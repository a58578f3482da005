"""The learner's path through the lab app, in JupyterLab at 1400×900, never pressing ↻: two runs trained from the Train
tab, the Evaluate and Compare tabs and the header following them, flips sent from Compare reaching the Label tab, an item
labelled with the keyboard into labels/<annotator>.jsonl, and a screenshot of every tab. Any error in a cell, in a widget
callback (the kernel's iopub) or on the page fails it."""
import json
import re

import pytest
import yaml

from fine_tune_lab.project import starter_notebook
from fine_tune_lab.ui.lab import TABS
from jupyter_browser import click_tab
from lab_project import base_config, write_reviews

pytestmark = pytest.mark.browser


def test_learner_path_without_reopening_a_tab(lab, tiny_bert):
    proj = lab.root / "learner"
    write_reviews(proj)
    base_config(proj, tiny_bert).save(proj / "train.yaml")      # no run name: each run gets its own folder
    starter_notebook(proj)
    page = lab.open("learner/lab.ipynb", width=1400, height=900)
    try:
        _drive(lab, page, proj)
    finally:
        lab.shot(page, "learner-last")


def _html(page, text, timeout=60_000):
    "Wait for a visible widget HTML holding `text` and return it."
    loc = page.locator(".widget-html-content:visible", has_text=text).first
    loc.wait_for(timeout=timeout)
    return loc


def _no_view_errors(page, where):
    errs = page.locator(".ftlab-error:visible").all_inner_texts()
    assert not errs, f"{where}: {errs}"


def _train(page, lab, runs, n):
    "Press Train and wait until the header counts `n` finished runs (the run's end reaches the whole app)."
    page.get_by_role("button", name="Train").click()
    _html(page, f"{n} finished run", timeout=240_000)        # a tiny run can end within a second: no wait for "running"
    _html(page, "finished.", timeout=30_000)
    assert len([p for p in runs.iterdir() if (p / "results.json").exists()]) == n


def _drive(lab, page, proj):
    runs = proj / "runs"
    lab.run_all(page)
    page.get_by_role("button", name="Train").wait_for(timeout=60_000)
    _html(page, "0 finished runs")
    _html(page, "parameters train")
    # tabs opened before anything exists say what is missing
    click_tab(page, "Evaluate"); _html(page, "no finished runs")
    click_tab(page, "Compare"); _html(page, "comparing needs two finished runs")
    click_tab(page, "Label"); _html(page, "0/2 decided")                    # the two unlabelled rows
    click_tab(page, "Train")

    _train(page, lab, runs, 1)
    # a 1-epoch run on 36 rows is a handful of steps: the loss is logged often enough to draw a line, and the tab says so
    _html(page, "the loss is logged every step")
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(p => (p.data || []).some("
                           "t => t.name === 'train loss' && (t.x || []).length >= 3))", timeout=30_000)
    assert "nan" not in page.locator(".ftlab-table:visible").first.inner_text()      # the baseline row has no loss: a dash
    _no_view_errors(page, "Train")
    lab.shot(page, "learner-train-1")

    click_tab(page, "Evaluate")                                               # built before as "no finished runs": now the run
    page.locator(".lm-TabBar-tab:visible", has_text="Confusion").first.wait_for(timeout=60_000)
    _no_view_errors(page, "Evaluate")
    lab.shot(page, "learner-evaluate")

    click_tab(page, "Train")                                                  # a second run that learns (the first is at chance)
    page.get_by_text("Hyperparameters", exact=True).click()
    for name, value in (("learning_rate", "0.01"), ("epochs", "5")):
        box = page.locator(".widget-inline-hbox", has_text=name).locator("input").first
        box.fill(value); box.press("Enter")
    _html(page, re.compile(r"--learning-rate 0\.01 .*--epochs 5 "))    # the form's command line follows; integers stay integers
    _train(page, lab, runs, 2)
    lab.shot(page, "learner-train-2")
    first, second = sorted((p for p in runs.iterdir() if (p / "results.json").exists()), key=lambda p: p.stat().st_mtime)
    assert yaml.safe_load((second / "config.yaml").read_text())["learning_rate"] == pytest.approx(1e-2)

    click_tab(page, "Compare")
    page.get_by_role("button", name="Compare").click()
    summary = _html(page, "The new run's accuracy").inner_text()
    assert f"baseline (A): {first.name}" in summary and f"new (B): {second.name}" in summary     # the older run is the baseline
    page.get_by_role("button", name="Send flips to labelling queue").click()
    queued = _html(page, "queued in").inner_text()
    n_flips = int(re.search(r"(\d+) flipped example", queued).group(1))
    assert n_flips > 0, queued
    _no_view_errors(page, "Compare")
    lab.shot(page, "learner-compare")

    click_tab(page, "Label")                                                  # the flips are there, without ↻
    counts = _html(page, re.compile(r"0/([3-9]|\d\d+) decided")).inner_text()      # the two unlabelled rows and the flips
    total = int(re.search(r"0/(\d+) decided", counts).group(1))
    assert total > 2, counts
    assert page.locator(".widget-html-content:visible", has_text="given label: nan").count() == 0
    keys = page.locator(".ftlab-keys:visible").first
    keys.click(); keys.press("1")                                        # the first label, from the keyboard
    _html(page, f"1/{total} decided")
    _no_view_errors(page, "Label")
    lab.shot(page, "learner-label")
    stores = list((proj / "labels").glob("*.jsonl"))
    assert len(stores) == 1 and not (proj / "labels" / "labels").exists()   # labels/<annotator>.jsonl, as the README says
    assert len([json.loads(x) for x in stores[0].read_text().splitlines() if x.strip()]) == 1

    for name in TABS:                                                    # every tab as the learner now sees it
        click_tab(page, name)
        page.wait_for_timeout(1000)
        busy = page.locator(".widget-html-content:visible", has_text=re.compile("opening…|updating…|loading"))
        for _ in range(180):                                             # built (the Data profile takes the longest)
            if busy.count() == 0: break
            page.wait_for_timeout(500)
        _no_view_errors(page, name)                                      # an empty tab says what to do, calmly, not as an error
        lab.shot(page, f"learner-tab-{name.lower()}")
    assert not lab.errors(page)
