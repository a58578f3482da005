"""The knob lab in JupyterLab, moved like a learner moves it: a toggle and a slider replay real runs (no training),
the numbers follow the shipped set, "Try it for real" gives the command; and a run's data map drawn in the Evaluate dashboard."""
import pytest

from fine_tune_lab.knobs import KnobSet
from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def _acc(ks, **s):
    return f"test accuracy {ks.point(s)['results']['test']['accuracy']:.3f}"


def test_knob_lab_replays_the_shipped_runs(lab):
    ks = KnobSet("rotten_tomatoes")
    write_notebook(lab.root / "knobs.ipynb", ["from fine_tune_lab.ui.knobs import KnobLab\nKnobLab('rotten_tomatoes')"])
    page = lab.open("knobs.ipynb")
    lab.run_all(page)
    numbers = page.locator(".widget-html-content", has_text="test accuracy").first
    numbers.wait_for(timeout=60_000)
    assert _acc(ks) in numbers.inner_text()                                   # the base run
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    lab.shot(page, "knobs-base")
    # LoRA on: a toggle
    page.locator(".widget-toggle-buttons", has_text="lora").get_by_role("button", name="on").click()
    page.locator(".widget-html-content", has_text=_acc(ks, lora=True)).first.wait_for(timeout=30_000)
    # the learning rate one step up, with the keyboard on the slider's handle (crossed with LoRA: both kept)
    handle = page.locator(".widget-slider", has_text="learning rate").locator(".noUi-handle").first
    handle.click(); handle.press("ArrowRight")
    page.locator(".widget-html-content", has_text=_acc(ks, lora=True, learning_rate=1e-3)).first.wait_for(timeout=30_000)
    page.locator(".widget-html-content", has_text="The learning rate is the size").first.wait_for(timeout=30_000)   # the moved knob's paragraph
    # batch size moved too: not crossed, so the others go back to the base and the note says so
    bs = page.locator(".widget-slider", has_text="batch size").locator(".noUi-handle").first
    bs.click(); bs.press("ArrowRight")
    page.locator(".widget-html-content", has_text="went back to").first.wait_for(timeout=30_000)
    page.locator(".widget-html-content", has_text=_acc(ks, batch_size=32)).first.wait_for(timeout=30_000)
    lab.shot(page, "knobs-moved")
    page.get_by_role("button", name="Try it for real").click()
    page.locator(".widget-html-content", has_text="ftlab train").first.wait_for(timeout=30_000)
    assert "--batch-size 32" in page.locator(".widget-html-content", has_text="ftlab train").first.inner_text()
    assert not lab.errors(page)
