"""The training notebooks run headless with papermill; the output notebook holds the curves and the metrics."""
import json

import papermill as pm

from conftest import ROOT


def _outputs(nb):
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            for o in c.get("outputs", []):
                yield o


def test_training_notebook_headless(tmp_path, tiny_bert, reviews_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "nbs/tutorials/train.ipynb"), str(out), kernel_name="python3", progress_bar=False,
                        parameters=dict(model=tiny_bert, data=str(reviews_csv), epochs=1, max_train_samples=48,
                                        output_dir=str(tmp_path / "runs")))
    nb = json.loads(out.read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    outs = list(_outputs(nb))
    text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) +
                     "".join(o.get("data", {}).get("text/markdown", "")) for o in outs)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    res = json.loads((runs[0] / "results.json").read_text())
    assert "accuracy" in text and "macro_f1" in text and json.dumps(res["test"]["accuracy"]) in text
    # the curves are static plotly output (saved with the notebook), not a widget that needs a kernel
    figs = [o["data"]["application/vnd.plotly.v1+json"] for o in outs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figs, "no static figure in the output notebook"
    names = {t.get("name") for t in figs[-1]["data"]}
    assert {"train loss", "eval loss", "accuracy"} <= names
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)
    assert "finished" in text
