"""The lab app for generators in JupyterLab, driven like a person: the Train form switches to SFT fields, Evaluate
shows the side by side, Compare starts a blind A/B session a rater judges in place, Chat streams two replies."""
import json

import pandas as pd
import pytest

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.project import starter_notebook
from fine_tune_lab.train import train
from jupyter_browser import click_tab

pytestmark = pytest.mark.browser


def _project(root):
    proj = root / "sftproj"
    proj.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(task="sft", max_train_samples=8, max_eval_samples=6, batch_size=8, epochs=1, learning_rate=1e-4, max_new_tokens=16,
                      eval_samples=2, output_dir=str(proj / "runs"))
    train(cfg.replace(run_name="headlines-a"), progress=False, quiet=True)
    train(cfg.replace(run_name="headlines-b", learning_rate=3e-4), progress=False, quiet=True)
    cfg.replace(run_name="ui").save(proj / "train.yaml")
    return proj


def test_lab_app_for_generators(lab):
    proj = _project(lab.root)
    starter_notebook(proj)
    page = lab.open("sftproj/lab.ipynb")
    try:
        lab.run_all(page)
        page.get_by_role("button", name="Train").wait_for(timeout=60_000)
        page.get_by_text("Prompts and generation", exact=True).click()
        page.locator(".widget-inline-hbox:visible", has_text="max_new_tokens").first.wait_for(timeout=30_000)
        assert page.locator(".widget-inline-hbox:visible", has_text="label_col").count() == 0      # SFT: no label column
        lab.shot(page, "sft-train-form")

        click_tab(page, "Evaluate")
        page.locator(".lm-TabBar-tab:visible", has_text="Side by side").first.click()
        page.locator(".ftlab-table:visible", has_text="reference").first.wait_for(timeout=60_000)
        lab.shot(page, "sft-evaluate")

        click_tab(page, "Compare")
        page.get_by_role("button", name="Compare").click()
        page.locator(".widget-html-content:visible", has_text="paired bootstrap").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Start a blind A/B session").click()
        page.locator(".widget-html-content:visible", has_text="A/B session ready").first.wait_for(timeout=60_000)
        page.locator(".widget-text:visible", has_text="rater").locator("input").fill("ana")
        page.locator("button[title='Judge']:visible").click()
        left = page.get_by_role("button", name="◀ left better").first
        left.wait_for(timeout=30_000); left.click()
        ratings = proj / "ab"
        for _ in range(60):                                           # the judgement reaches the rater's file
            files = list(ratings.glob("*/ratings/ana.jsonl"))
            if files and files[0].read_text().strip(): break
            page.wait_for_timeout(500)
        assert json.loads(files[0].read_text().splitlines()[0])["choice"] == "left"
        lab.shot(page, "sft-compare-ab")

        click_tab(page, "Chat")
        box = page.locator("textarea:visible").first
        box.wait_for(timeout=120_000)
        box.fill("Write a headline for this BBC News story.\n\nThe Bank of England held interest rates at 4.75% on Thursday.")
        page.get_by_role("button", name="Send").click()
        page.locator(".widget-html-content:visible", has_text="you:").nth(1).wait_for(timeout=120_000)
        page.wait_for_function("() => ![...document.querySelectorAll('.widget-html-content')].some(e => e.textContent.includes('▌'))",
                               timeout=120_000)
        lab.shot(page, "sft-chat")
        assert len(list((proj / "runs").glob("*/chats/*.jsonl"))) == 1
        assert not lab.errors(page)
    finally:
        lab.shot(page, "sft-last")
