"""The browser check sees errors a learner would find only in JupyterLab's log console (a fresh JupyterLab of its own)."""
import pytest

from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_errors_catch_what_only_the_log_console_would_show(lab):
    "A widget callback that raises shows nothing in the notebook; the lab's browser check must still see it (else it proves nothing)."
    write_notebook(lab.root / "raises.ipynb", [
        "import ipywidgets as w\n"
        "b = w.Button(description='Break')\n"
        "def bad(_): float(None)\n"
        "b.on_click(bad); b",
    ])
    page = lab.open("raises.ipynb")
    lab.run_all(page)
    assert not lab.errors(page)
    page.get_by_role("button", name="Break").click()
    page.wait_for_timeout(3000)
    errs = lab.errors(page)
    assert any("kernel error" in e and "NoneType" in e for e in errs), errs
