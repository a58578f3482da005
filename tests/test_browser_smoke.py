"""JupyterLab renders ipywidgets and plotly FigureWidget, and widget clicks reach the kernel."""
import pytest

from jupyter_browser import write_notebook

pytestmark = pytest.mark.browser


def test_widgets_render_and_respond(lab):
    write_notebook(lab.root / "smoke.ipynb", [
        "import ipywidgets as w, plotly.graph_objects as go\n"
        "from fine_tune_lab.ui.core import View, esc\n"
        "class Demo(View):\n"
        "    def __init__(self):\n"
        "        self.clicks = 0\n"
        "        self.out = w.HTML(esc('<b>not bold</b>'))\n"
        "        self.btn = w.Button(description='Press me')\n"
        "        self.btn.on_click(self.press)\n"
        "        self.fig = go.FigureWidget(data=[go.Scatter(y=[1, 3, 2])])\n"
        "        self.widget = w.VBox([self.btn, self.out, self.fig])\n"
        "    def press(self, _):\n"
        "        self.clicks += 1; self.out.value = esc(f'clicked {self.clicks}')\n"
        "d = Demo(); d",
    ])
    page = lab.open("smoke.ipynb")
    lab.run_all(page)
    page.get_by_role("button", name="Press me").wait_for(timeout=60_000)
    assert page.locator(".widget-html-content", has_text="<b>not bold</b>").count() == 1  # shown as text, not markup
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Press me").click()
    page.locator(".widget-html-content", has_text="clicked 1").wait_for(timeout=30_000)
    lab.shot(page, "smoke-slider-figure")

