"""The blind A/B widget in JupyterLab: outputs escaped and unnamed, a click recorded, names revealed only at the end."""
import pandas as pd
import pytest

from fine_tune_lab.human import create_ab, judgements
from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_ab_widget_records_and_reveals(lab):
    items = pd.DataFrame({"id": range(3), "prompt": ["Say hi", "Count", "Greet"],
                          "outputs": [{"alpha": "<img src=x onerror=alert(1)> hi", "omega": "Hello there"},
                                      {"alpha": "1 2", "omega": "1 2 3"}, {"alpha": "yo", "omega": "Good day"}]})
    create_ab(lab.root / "ab", items, seed=3)
    write_notebook(lab.root / "ab.ipynb", ["from fine_tune_lab.human import ABSession\nfrom fine_tune_lab.ui.human import ABWidget\n"
                                           "ABWidget(ABSession('ab', 'ana'))"])
    page = lab.open("ab.ipynb")
    lab.run_all(page)
    page.get_by_role("button", name="◀ left better").wait_for(timeout=60_000)
    assert page.locator(".widget-html img").count() == 0
    assert page.locator(".widget-html-content").filter(has_text="alpha").count() == 0      # names hidden
    page.get_by_role("button", name="◀ left better").click()
    page.get_by_role("button", name="tie").click()
    page.wait_for_timeout(500)
    assert len(judgements(lab.root / "ab")) == 2
    page.get_by_role("button", name="End session & reveal").click()
    page.locator(".widget-html-content", has_text="Revealed").wait_for(timeout=30_000)
    assert page.locator(".widget-html-content").filter(has_text="alpha").count() >= 1
    assert page.get_by_role("button", name="tie").is_disabled()
    lab.shot(page, "human-ab")
    assert not lab.errors(page)
