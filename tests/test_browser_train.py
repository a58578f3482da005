"""The trainer dashboard in JupyterLab: train in the background with live curves, stop, resume, static curves at the end."""
import json

import pytest

from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_dashboard_trains_stops_resumes(lab, tiny_bert, reviews_csv):
    runs = lab.root / "runs"
    write_notebook(lab.root / "dash.ipynb", [
        "import os; os.environ['HF_HUB_OFFLINE'] = '1'\n"
        "from fine_tune_lab.config import TrainConfig\n"
        "from fine_tune_lab.ui.train import TrainDashboard\n"
        f"d = TrainDashboard(TrainConfig(model={tiny_bert!r}, data={str(reviews_csv)!r}, epochs=300, batch_size=8,\n"
        f"    logging_steps=1, eval_steps=24, save_steps=24, output_dir={str(runs)!r}, run_name='ui', precision='fp32'))\n"
        "d",
    ])
    page = lab.open("dash.ipynb")
    try:
        _drive(lab, page, runs)
    finally:
        lab.shot(page, "train-dashboard")


def _drive(lab, page, runs):
    lab.run_all(page)
    page.get_by_role("button", name="Train").wait_for(timeout=60_000)
    page.locator("text=parameters train").wait_for(timeout=60_000)        # live count from the meta device
    page.get_by_role("button", name="Train").click()
    page.locator(".widget-html-content", has_text="running · step").wait_for(timeout=60_000)
    page.wait_for_function("() => /step (2[5-9]|[3-9][0-9]|[0-9]{3,})\\//.test(document.body.innerText)", timeout=120_000)
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= 2",
                           timeout=60_000)                                   # train loss + eval curves drawn live
    page.get_by_role("button", name="Stop").click()
    page.locator(".widget-html-content", has_text="Resume it to finish").wait_for(timeout=120_000)
    status = json.loads((runs / "ui" / "status.json").read_text())
    assert status["state"] == "stopped"
    stopped_at = int(status["message"].split("step ")[1].split(";")[0])
    assert (runs / "ui" / "checkpoints" / f"checkpoint-{stopped_at}").exists()

    page.get_by_text("Hyperparameters", exact=True).click()
    epochs = page.locator(".widget-inline-hbox", has_text="epochs").locator("input").first
    epochs.fill(str(stopped_at / 12 + 1)); epochs.press("Enter")      # 12 steps per epoch: one more epoch
    page.get_by_role("button", name="Resume").click()
    page.locator(".widget-html-content", has_text="finished.").wait_for(timeout=180_000)
    assert json.loads((runs / "ui" / "status.json").read_text())["state"] == "finished"
    # the final curves are static output (saved with the notebook), and the results table is shown
    assert page.locator(".ftlab-table", has_text="accuracy").count() == 1
    # the lasting record: the result displayed in a cell is static output (curves + table), saved with the notebook
    page.locator(".jp-Cell").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape"); page.keyboard.press("b")
    page.keyboard.press("Enter"); page.keyboard.type("d.result()"); page.keyboard.press("Shift+Enter")
    static = page.locator(".jp-Cell").nth(1).locator(".jp-RenderedPlotly")     # plotly's mimetype renderer
    static.wait_for(timeout=60_000)
    assert static.filter(has_text="train loss").count() == 1
    assert not lab.errors(page)
