"""Evaluation dashboards in JupyterLab: confusion heatmap toggles, escaped errors, flips sent to the queue."""
import pandas as pd
import pytest

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.train import train
from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_eval_and_compare_dashboards(lab, tiny_bert):
    df = pd.DataFrame({"text": [f"<script>x</script> a {'good' if i % 2 else 'bad'} film {i}" for i in range(80)],
                       "label": ["pos" if i % 2 else "neg" for i in range(80)]})
    df.to_csv(lab.root / "r.csv", index=False)
    cfg = TrainConfig(model=tiny_bert, data=str(lab.root / "r.csv"), epochs=1, output_dir=str(lab.root / "runs"), precision="fp32",
                      val_size=0.2, test_size=0.3)
    a = train(cfg.replace(run_name="a"), progress=False, quiet=True)
    b = train(cfg.replace(run_name="b", learning_rate=5e-3, epochs=3), progress=False, quiet=True)
    write_notebook(lab.root / "ev.ipynb", [
        "from fine_tune_lab.ui.evaluate import EvalDashboard, CompareDashboard\nEvalDashboard('runs/b')",
        "CompareDashboard('runs/a', 'runs/b', n_boot=200)"])
    page = lab.open("ev.ipynb")
    lab.run_all(page)
    page.get_by_role("tab", name="Confusion").click()
    page.get_by_role("button", name="normalised").click()
    page.locator(".js-plotly-plot text", has_text="%").first.wait_for(timeout=30_000)      # shares, after the toggle
    page.get_by_role("tab", name="Worst errors").click()
    assert page.locator(".ftlab-table script").count() == 0
    page.get_by_role("button", name="Send flips to labelling queue").click()
    page.locator(".widget-html-content", has_text="flipped examples queued").wait_for(timeout=30_000)
    assert (b.path / "queues" / "flipped.jsonl").exists()
    lab.shot(page, "evaluate-compare")
    assert not lab.errors(page)
