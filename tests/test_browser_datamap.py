"""A run's data map in the Evaluate dashboard of JupyterLab: the Data map tab, the map drawn, the hard-to-learn rows queued."""
import pytest

from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_the_data_map_in_the_evaluate_dashboard(lab, tiny_bert, reviews_csv):
    from fine_tune_lab.config import TrainConfig
    from fine_tune_lab.train import train
    from test_datamap import _flipped_csv
    data, _ = _flipped_csv(reviews_csv, lab.root)                            # a few labels the model will refuse to learn
    r = train(TrainConfig(model=tiny_bert, data=str(data), epochs=6, learning_rate=3e-3, batch_size=8, output_dir=str(lab.root / "runs"),
                          precision="fp32", val_size=0.15, test_size=0.15, run_name="mapped", data_map=1000), progress=False, quiet=True)
    write_notebook(lab.root / "map.ipynb", ["from fine_tune_lab.ui.evaluate import EvalDashboard\nEvalDashboard('runs/mapped')"])
    page = lab.open("map.ipynb")
    try:
        _map(lab, page)
    finally:
        lab.shot(page, "evaluate-datamap")


def _map(lab, page):
    lab.run_all(page)
    page.locator(".lm-TabBar-tab", has_text="Data map").first.click()
    page.locator(".widget-html-content:visible", has_text="training examples measured at 24 points over 6 epochs: ").first.wait_for(timeout=60_000)
    page.locator(".widget-html-content:visible", has_text="hard_to_learn.jsonl").first.wait_for(timeout=30_000)   # learned, and queued
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.offsetParent && (p.data || []).length >= 3)",
                           timeout=60_000)                                   # the map: one trace per region, drawn
    assert not lab.errors(page)
