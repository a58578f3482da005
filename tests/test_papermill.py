"""The training notebook runs headless with papermill and its output holds the metrics."""
import json

import papermill as pm

from conftest import ROOT


def test_training_notebook_headless(tmp_path, tiny_bert, reviews_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "nbs/tutorials/train.ipynb"), str(out), kernel_name="python3", progress_bar=False,
                        parameters=dict(model=tiny_bert, data=str(reviews_csv), epochs=1, max_train_samples=48,
                                        output_dir=str(tmp_path / "runs")))
    nb = json.loads(out.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected, "papermill did not inject the parameters"
    text = "\n".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "accuracy" in text and "macro_f1" in text and "test" in text
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "results.json").exists()
    res = json.loads((runs[0] / "results.json").read_text())
    assert json.dumps(res['test']['accuracy']) in text
