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


def test_sft_tutorial_headless(tmp_path, tiny_llama, monkeypatch):
    "The headline tutorial end to end under papermill, on a tiny decoder and a few rows: train, side by side, chat, export."
    import pandas as pd
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"instruction": ["Write a headline for this story."] * 40, "input": [f"Shares in firm {i} rose {i}% on Monday." for i in range(40)],
                  "output": [f"Firm {i} shares up {i}%" for i in range(40)]}).to_json(tmp_path / "h.jsonl", orient="records", lines=True)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "nbs/tutorials/sft.ipynb"), str(out), kernel_name="python3", progress_bar=False,
                        parameters=dict(model=tiny_llama, data=str(tmp_path / "h.jsonl"), train_rows=24, test_rows=6, max_new_tokens=6,
                                        live=False, export_to=str(tmp_path / "export"), output_dir=str(tmp_path / "runs")))
    nb = json.loads(out.read_text())
    text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in _outputs(nb))
    run = next((tmp_path / "runs").iterdir())
    res = json.loads((run / "results.json").read_text())
    assert {"before", "after"} <= set(res) and "rougeL" in text and "### Response:" in text
    assert (tmp_path / "export" / "README.md").exists() and list((run / "chats").glob("*.jsonl"))


def test_preference_loop_headless(tmp_path, monkeypatch):
    "The whole human loop under papermill on the real offline decoder, a few stories, the scripted judge standing in."
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "nbs/tutorials/preference_loop.ipynb"), str(out), kernel_name="python3", progress_bar=False,
                        parameters=dict(sft_rows=16, pairs=24, retest=8, epochs=1, live=False, output_dir=str(tmp_path / "runs"),
                                        sessions_dir=str(tmp_path / "ab")))
    import yaml
    dpo = next(p for p in (tmp_path / "runs").iterdir() if yaml.safe_load((p / "config.yaml").read_text())["task"] == "dpo")
    res = json.loads((dpo / "results.json").read_text())
    assert res["before"]["pref_accuracy"] == 0.5 and "pref_accuracy" in res["after"]
    retest = json.loads((dpo / "retest" / "session.json").read_text())
    ratings = list((dpo / "retest" / "ratings").glob("*.jsonl"))
    assert retest["models"][0] == "tuned" and [p.stem for p in ratings] == ["scripted-judge"]
    text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in _outputs(json.loads(out.read_text())))
    assert "win_rate" in text or "wins" in text


def test_knobs_tutorial_headless(tmp_path, tiny_bert, reviews_csv, monkeypatch):
    "The knob-lab tutorial under papermill: the shipped set's static figures, then a mapped run (a tiny model here)."
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(ROOT / "nbs/tutorials/knobs.ipynb"), str(out), kernel_name="python3", progress_bar=False,
                        parameters=dict(live=False, map_model=tiny_bert, map_data=str(reviews_csv), map_train_samples=64, map_epochs=6,
                                        map_learning_rate=3e-3, output_dir=str(tmp_path / "runs")))
    nb = json.loads(out.read_text())
    figs = [o for o in _outputs(nb) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figs) >= 9                                                   # the knob figures and the map, drawn static
    assert (tmp_path / "runs" / "mapped" / "dynamics.jsonl").exists()
    text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in _outputs(nb))
    assert "25 real runs, 0 failed" in text and "training examples measured at 24 points" in text
