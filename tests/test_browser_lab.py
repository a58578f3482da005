"""The lab app in JupyterLab, driven like a person: every tab rendered (screenshots), a learning-rate change reaches the
run, Train draws live curves, Stop stops, a keyboard shortcut labels an item."""
import json
import time

import pytest
import yaml

from fine_tune_lab.project import starter_notebook
from fine_tune_lab.ui.lab import TABS
from jupyter_browser import click_tab
from lab_project import make_project

pytestmark = pytest.mark.browser


def test_lab_app_tabs_train_stop_label(lab, tiny_bert):
    proj = make_project(lab.root, tiny_bert)
    starter_notebook(proj)
    page = lab.open("proj/lab.ipynb")
    try:
        _drive(lab, page, proj)
    finally:
        lab.shot(page, "lab-last")


def _drive(lab, page, proj):
    lab.run_all(page)
    page.get_by_role("button", name="Train").wait_for(timeout=60_000)
    page.locator("text=parameters train").first.wait_for(timeout=60_000)
    # change the learning rate like a person: the Hyperparameters section, the field, Enter
    page.get_by_text("Hyperparameters", exact=True).click()
    lr = page.locator(".widget-inline-hbox", has_text="learning_rate").locator("input").first
    lr.fill("0.0003"); lr.press("Enter")
    page.get_by_role("button", name="Train").click()
    page.locator(".widget-html-content", has_text="running · step").wait_for(timeout=60_000)
    plot = page.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= 1", timeout=60_000)
    points = lambda: page.evaluate("() => Math.max(0, ...[...document.querySelectorAll('.js-plotly-plot')].map(p => "
                                   "(p.data || []).reduce((n, t) => n + ((t.x || []).length), 0)))")
    first = points()
    t0 = time.time()
    while points() <= first and time.time() - t0 < 60:                 # the curve gains points while it trains
        page.wait_for_timeout(500)
    assert points() > first
    lab.shot(page, "lab-train")
    page.get_by_role("button", name="Stop").click()
    page.locator(".widget-html-content", has_text="Resume it to finish").wait_for(timeout=120_000)
    status = json.loads((proj / "runs" / "ui" / "status.json").read_text())
    assert status["state"] == "stopped"
    assert yaml.safe_load((proj / "runs" / "ui" / "config.yaml").read_text())["learning_rate"] == pytest.approx(3e-4)

    click_tab(page, "Data")
    page.locator(".widget-tab .js-plotly-plot, .lm-TabPanel-stackedPanel .js-plotly-plot").first.wait_for(timeout=90_000)
    lab.shot(page, "lab-data")

    click_tab(page, "Label")
    page.get_by_role("button", name="1 · neg").wait_for(timeout=60_000)
    page.locator(".widget-html-content", has_text="0/2 decided").wait_for(timeout=30_000)
    keys = page.locator(".ftlab-keys")
    keys.click(); keys.press("2")                                      # keyboard shortcut: pos
    page.locator(".widget-html-content", has_text="1/2 decided").wait_for(timeout=30_000)
    assert page.locator(".widget-html b", has_text="not yet labelled").count() == 0      # user text is escaped
    lab.shot(page, "lab-label")

    click_tab(page, "Model")
    page.locator(".widget-html-content:visible", has_text="memory").first.wait_for(timeout=60_000)
    lab.shot(page, "lab-model")
    page.locator(".lm-TabBar-tab:visible", has_text="Tokens").first.click()
    page.locator(".js-plotly-plot:visible").first.wait_for(timeout=60_000)            # token-length histogram
    lab.shot(page, "lab-model-tokens")

    click_tab(page, "Augment")
    page.locator(".widget-html-content:visible", has_text="augmented copies").first.wait_for(timeout=60_000)
    # the project's runs are random tiny models, no better than the majority class: the check is refused, with why
    page.locator(".widget-html-content:visible", has_text="Label check off").first.wait_for(timeout=60_000)
    assert "majority class" in page.locator(".widget-html-content:visible", has_text="Label check off").first.inner_text()
    assert page.get_by_role("button", name="Check labels").is_disabled()
    lab.shot(page, "lab-augment")

    click_tab(page, "Evaluate")
    page.locator(".lm-TabBar-tab:visible", has_text="Confusion").first.wait_for(timeout=60_000)
    lab.shot(page, "lab-evaluate")

    click_tab(page, "Compare")
    page.get_by_role("button", name="Compare").click()
    page.locator(".widget-html-content:visible", has_text="McNemar").first.wait_for(timeout=60_000)
    lab.shot(page, "lab-compare")

    click_tab(page, "Batch")
    page.locator(".ftlab-table:visible", has_text="test.accuracy").first.wait_for(timeout=60_000)
    lab.shot(page, "lab-batch")
    click_tab(page, "Knobs")
    page.locator(".widget-html-content:visible", has_text="real runs").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot:visible").first.wait_for(timeout=60_000)
    lab.shot(page, "lab-knobs")
    page.get_by_role("button", name="Try it for real").click()                 # the shipped set's base point, into the Train tab
    page.get_by_role("button", name="Train").wait_for(timeout=60_000)
    page.locator(".widget-html-content:visible", has_text="--max-train-samples 256").first.wait_for(timeout=60_000)   # the form's command line
    lab.shot(page, "lab-knobs-to-train")
    assert set(TABS) == {"Data", "Augment", "Label", "Model", "Train", "Evaluate", "Compare", "Chat", "Batch", "Knobs"}
    assert not lab.errors(page)
