"""Drive JupyterLab in headless Debian Chromium with Playwright, to prove dashboards render and respond.

Usage (see the `lab` fixture in conftest.py):
    page = lab.open("demo.ipynb"); lab.run_all(page); page.locator(".widget-button").first.click()
"""
import json
import re
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Screenshots are test artefacts: kept after the run (CI uploads this folder) and ignored by git.
ARTIFACTS = Path(os.environ.get("FTLAB_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")) / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def available() -> str:
    "Empty if browser tests can run here, else the reason they cannot."
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (apt-get install chromium; .ci/install does it as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def click_tab(page, name: str):
    "Click the JupyterLab/ipywidgets tab whose title holds `name` (the lab app's tabs, a dashboard's sub-tabs)."
    page.locator(".lm-TabBar-tab", has_text=name).first.click()


ERROR_MSG = re.compile(r'"msg_type"\s*:\s*"error"')
EVALUE = re.compile(r'"evalue"\s*:\s*"((?:[^"\\]|\\.)*)"')


class Lab:
    "A JupyterLab server on localhost over `root`, and a headless Chromium to look at it."

    def __init__(self, root: Path, env: dict = None):
        self.root, self.port, self.token = Path(root), _free_port(), "ftlab-test-token"
        cfg = self.root / ".jupyter-config"
        (cfg / "labconfig").mkdir(parents=True, exist_ok=True)
        (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
        e = {**os.environ, **(env or {}), "JUPYTER_CONFIG_DIR": str(cfg)}
        jupyter = Path(sys.executable).with_name("jupyter")
        self.proc = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", "--LabApp.news_url=", "--ServerApp.disable_check_xsrf=True"],
            cwd=self.root, env=e, stdout=subprocess.DEVNULL, stderr=open(self.root / "jupyter.log", "wb"))
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_http()
        from playwright.sync_api import sync_playwright
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

    def _wait_http(self, timeout=90):
        t0 = time.time()
        while time.time() - t0 < timeout:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("jupyter lab exited:\n" + (self.root / "jupyter.log").read_text()[-3000:])
                time.sleep(0.5)
        raise TimeoutError("jupyter lab did not start")

    def open(self, notebook: str, width=1400, height=1000):
        "Open a notebook (path relative to root) and wait for its kernel to be idle."
        page = self.browser.new_page(viewport={"width": width, "height": height})
        self._watch(page)
        page.goto(f"{self.url}/lab/tree/{notebook}?token={self.token}")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        self.wait_idle(page)
        return page

    def wait_idle(self, page, timeout=180_000):
        "Wait until the kernel status reads Idle (keys sent before that are lost)."
        page.wait_for_function(
            """() => { const s = document.querySelector('.jp-StatusBar-TextItem[title*="Kernel"], .jp-Notebook-ExecutionIndicator');
                       const txt = document.body.innerText; return /\\| Idle/.test(txt) || (s && /Idle/.test(s.getAttribute('title') || '')); }""",
            timeout=timeout)

    def run_all(self, page, timeout=300_000):
        "Run every cell and wait for the kernel to finish."
        page.locator(".jp-Notebook").first.click()
        page.keyboard.press("Escape")
        page.evaluate("() => window.jupyterapp && window.jupyterapp.commands.execute('notebook:run-all-cells')") \
            if page.evaluate("() => !!window.jupyterapp") else self._run_all_menu(page)
        page.wait_for_timeout(1000)
        page.wait_for_function("() => !document.querySelector('.jp-InputArea-prompt') || "
                               "![...document.querySelectorAll('.jp-InputArea-prompt')].some(p => p.innerText.includes('[*]'))",
                               timeout=timeout)
        self.wait_idle(page, timeout)

    def _run_all_menu(self, page):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()

    def shot(self, page, name: str) -> Path:
        "Save a full-page screenshot as a test artefact, `test-artifacts/screenshots/<name>.png`."
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        p = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(p), full_page=True)
        return p

    def _watch(self, page):
        """Collect what a learner would only see in JupyterLab's log console: errors the kernel reports outside a cell
        (a widget callback that raised) read off the kernel websocket, and uncaught exceptions in the page."""
        page._ftlab_errors = []
        def frame(payload):
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
            if ERROR_MSG.search(text):
                m = EVALUE.search(text)
                page._ftlab_errors.append("kernel error: " + (m.group(1) if m else text[:300]))
        page.on("websocket", lambda ws: ws.on("framereceived", frame))
        def page_error(e):
            # ipywidgets' front end rejects a message for a widget the kernel has just closed (a view replaced while
            # the page still held it): a race of the widget manager, not an error a learner meets; everything else counts
            if "no comm channel defined" not in str(e): page._ftlab_errors.append(f"page error: {e}")
        page.on("pageerror", page_error)

    def errors(self, page) -> list:
        "Error outputs in the notebook, errors the kernel sent outside any cell (widget callbacks), and uncaught page errors."
        cells = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()
        return cells + list(getattr(page, "_ftlab_errors", []))

    def close(self):
        for f in (lambda: self.browser.close(), lambda: self._pw.stop()):
            try:
                f()
            except Exception:
                pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def write_notebook(path: Path, cells: list):
    "A notebook whose code cells are the given source strings."
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, str(path))
    return path
