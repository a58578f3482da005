"""The labelling widget in JupyterLab: escaped text, buttons, keyboard shortcuts, decisions on disk."""
import pytest

from fine_tune_lab.label import LabelStore
from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_label_widget_buttons_and_keys(lab):
    write_notebook(lab.root / "label.ipynb", [
        "import pandas as pd\n"
        "from fine_tune_lab.data import prepare_frame\n"
        "from fine_tune_lab.label import LabelSession, unlabelled_queue\n"
        "from fine_tune_lab.ui.label import LabelWidget\n"
        "rows = prepare_frame(pd.DataFrame({'text': ['<img src=x onerror=alert(1)> first', 'second text', 'third text', 'fourth'],\n"
        "                                   'label': [None, None, None, None]}), 'text', 'label')\n"
        "w = LabelWidget(LabelSession(unlabelled_queue(rows), ['pos', 'neg'], 'lab', 'ann'), rows)\nw"])
    page = lab.open("label.ipynb")
    lab.run_all(page)
    page.get_by_role("button", name="1 · pos").wait_for(timeout=60_000)
    assert page.locator(".widget-html-content").get_by_text("<img src=x onerror=alert(1)> first").count() == 1
    assert page.locator(".widget-html img").count() == 0
    page.get_by_role("button", name="1 · pos").click()                            # row 0: pos
    page.locator(".widget-html-content").get_by_text("second text").wait_for(timeout=30_000)
    keys = page.locator(".ftlab-keys")
    keys.click()
    keys.press("2")                                                               # row 1: neg
    page.locator(".widget-html-content").get_by_text("third text").wait_for(timeout=30_000)
    keys.press("s")                                                               # row 2: skipped
    page.locator(".widget-html-content").get_by_text("fourth", exact=True).wait_for(timeout=30_000)
    keys.press("u")                                                               # undo the skip
    page.locator(".widget-html-content").get_by_text("third text").wait_for(timeout=30_000)
    page.locator(".widget-html-content", has_text="2/4 decided").wait_for(timeout=30_000)
    d = LabelStore(lab.root / "lab", "ann").decisions()
    assert {r: v.get("label") for r, v in d.items()} == {0: "pos", 1: "neg"}
    lab.shot(page, "label-widget")
    assert not lab.errors(page)
