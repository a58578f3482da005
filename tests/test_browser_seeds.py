"""The seed band in the lab, as a learner meets it: two configurations trained over seeds (`repeats`), the Compare tab's
second row pairs them by seed — verdict, table and the seed-band plot render in JupyterLab (screenshot)."""
import pytest

from fine_tune_lab.project import starter_notebook
from fine_tune_lab.train import train
from jupyter_browser import click_tab
from lab_project import base_config, write_reviews

pytestmark = pytest.mark.browser


def test_compare_tab_pairs_repeated_runs_by_seed(lab, tiny_bert):
    proj = lab.root / "seeds"
    write_reviews(proj)
    cfg = base_config(proj, tiny_bert).replace(repeats=2, eval_samples=0, baseline=False)
    for name, lr in (("slow", 1e-4), ("fast", 5e-3)): train(cfg.replace(run_name=name, learning_rate=lr), progress=False, quiet=True)
    starter_notebook(proj)
    page = lab.open("seeds/lab.ipynb")
    try:
        lab.run_all(page)
        click_tab(page, "Compare")
        page.get_by_role("button", name="Pair by seed").click()
        page.locator(".widget-html-content:visible", has_text="2 paired seeds").first.wait_for(timeout=60_000)
        verdict = page.locator(".widget-html-content:visible", has_text="Over 2 paired seeds").first.inner_text()
        assert "B − A in accuracy" in verdict and ("seed noise" in verdict)
        page.locator(".js-plotly-plot:visible").first.wait_for(timeout=60_000)                 # the seed band
        names = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.offsetParent)"
                              ".flatMap(p => (p.data || []).map(t => t.name))")
        assert "A: mean, 95% CI" in names and "B: mean, 95% CI" in names and sum(n.startswith("seed ") for n in names) == 2
        assert page.locator(".ftlab-error:visible").count() == 0
    finally:
        lab.shot(page, "seeds-compare")
