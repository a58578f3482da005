"""The data dashboard in JupyterLab: profile plots, cleaning steps with counts and toggles, removed rows shown escaped, restore."""
import pandas as pd
import pytest

from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_data_dashboard_restores_a_row(lab):
    rows = [(f"a good film number {i}", "pos") for i in range(15)] + [(f"a bad film number {i}", "neg") for i in range(15)] + \
           [("a good film number 2", "pos"), ("<img src=x onerror=alert(1)> evil text", "neg"), ("<img src=x onerror=alert(1)> evil text", "pos")]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(lab.root / "d.csv", index=False)
    write_notebook(lab.root / "data.ipynb", [
        "from fine_tune_lab.ui.data import DataDashboard\nd = DataDashboard('d.csv', tokenizer=None)\nd"])
    page = lab.open("data.ipynb")
    lab.run_all(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)            # the profile's plots
    assert page.get_by_text("Warnings").count() >= 1
    page.get_by_role("tab", name="Clean").click()
    page.locator(".widget-html-content", has_text="kept").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="Removed rows").click()
    table = page.locator(".ftlab-table")
    table.wait_for(timeout=30_000)
    assert "<img src=x onerror=alert(1)> evil text" in table.inner_text()     # shown as text, never as markup
    assert page.locator(".ftlab-table img").count() == 0
    page.locator(".widget-select-multiple select").select_option(label="row 30 · exact_duplicate · a good film number 2")
    page.get_by_role("button", name="Restore selected").click()
    page.locator(".widget-html-content", has_text="restored 1 row").wait_for(timeout=30_000)
    assert "row 30" not in page.locator(".widget-select-multiple select").inner_text()
    # a step switched off in the form: Apply re-runs the recipe and the counts say so
    page.get_by_role("tab", name="Clean").click()
    page.get_by_text("Duplicates and conflicts").click()
    page.get_by_label("label_conflicts").uncheck()
    page.get_by_role("button", name="Apply").click()
    page.locator(".widget-html-content tr", has_text="label_conflict").filter(has_text="off").wait_for(timeout=30_000)
    assert "removed 0 rows" in page.locator(".widget-html-content tr", has_text="label_conflict").inner_text()
    lab.shot(page, "data-dashboard")
    assert not lab.errors(page)
