"""Preference tuning (DPO with TRL): from an A/B session or a pairs file, pair checks before any model loads, split
by prompt, ties left out and counted, preference accuracy rising on the training pairs, the blind re-test, the CLI."""
import json, subprocess, sys
from pathlib import Path

import pandas as pd
import pytest

from fine_tune_lab.core import DataError, LabError
from fine_tune_lab.config import TrainConfig, get_task
from fine_tune_lab.human import ABSession, create_ab, scripted_judgements
from fine_tune_lab.models import load_model, load_tokenizer, resolve_model
from fine_tune_lab.prepare import prepare
from fine_tune_lab.sft import set_chat_template
from fine_tune_lab.train import train


def _items(n=40):
    return pd.DataFrame({"id": range(n), "prompt": [f"Write a headline for story {i}." for i in range(n)],
                         "reference": [f"Firm {i} profits rise" for i in range(n)],
                         "outputs": [{"good": f"Firm {i} profits rise", "bad": "the the the"} if i % 8 else {"good": "same", "bad": "same"}
                                     for i in range(n)]})


def _cfg(tmp_path, model, data, **kw):
    base = dict(task="dpo", model=model, data=str(data), epochs=3, batch_size=8, learning_rate=5e-3, max_length=96, max_new_tokens=6,
                precision="fp32", output_dir=str(tmp_path / "runs"), seed=0)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def session(tmp_path):
    folder = create_ab(tmp_path / "ab", _items(), seed=3)
    scripted_judgements(folder)                     # ROUGE-L against the reference; identical outputs are ties
    return folder


def test_unended_session_is_refused(tmp_path, tiny_llama):
    folder = create_ab(tmp_path / "ab", _items(), seed=3)
    s = ABSession(folder, "ana")
    s.choose("left"); s.choose("right")
    with pytest.raises(LabError, match="ana has not ended the session"):
        prepare(_cfg(tmp_path, tiny_llama, folder))


def test_session_pairs_ties_left_out_and_split_by_prompt(tmp_path, tiny_llama, session):
    sp = prepare(_cfg(tmp_path, tiny_llama, session, val_size=0.2, test_size=0.2))
    load = next(s for s in sp.steps if s["step"] == "load")
    assert load["ties_left_out"] == 5 and load["judgements"] == 40 and sum(sp.sizes.values()) == 35
    groups = {k: set(v["group"]) for k, v in sp.items()}
    assert not groups["train"] & (groups["test"] | groups["validation"])
    assert (sp["train"]["chosen"] != sp["train"]["rejected"]).all()


@pytest.mark.parametrize("bad, problem, column", [
    ({"prompt": "Headline?", "chosen": "Same text", "rejected": "Same text"}, "chosen and rejected are the same", "rejected"),
    ({"prompt": "", "chosen": "a", "rejected": "b"}, "an empty prompt", "prompt"),
    ({"prompt": "Headline?", "chosen": " ", "rejected": "b"}, "an empty chosen output", "chosen"),
    ({"prompt": "Headline?", "chosen": "a", "rejected": None}, "no rejected output", "rejected"),
    ({"prompt": [{"role": "assistant", "content": "x"}], "chosen": "a", "rejected": "b"}, "must end on a user turn", "prompt"),
])
def test_bad_pairs_are_named_before_any_model_loads(tmp_path, tiny_llama, bad, problem, column, monkeypatch):
    good = {"prompt": "Headline?", "chosen": "Profits soar", "rejected": "Weather"}
    p = tmp_path / "pairs.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [good, bad, good]) + "\n")
    import fine_tune_lab.models as models
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(DataError) as e:
        train(_cfg(tmp_path, tiny_llama, p), progress=False, quiet=True)
    msg = str(e.value)
    assert "pairs.jsonl" in msg and "row 2" in msg and f"column '{column}'" in msg and problem in msg, msg
    assert not (tmp_path / "runs").exists()


def test_missing_columns_say_what_preference_data_needs(tmp_path, tiny_llama):
    p = tmp_path / "x.csv"; pd.DataFrame({"prompt": ["a"], "answer": ["b"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="no 'chosen', 'rejected' columns"):
        prepare(_cfg(tmp_path, tiny_llama, p))
    with pytest.raises(LabError, match="no default data"):
        prepare(TrainConfig(task="dpo", model=tiny_llama))


def _train_pair_accuracy(model, tok, rows, cfg):
    return get_task("dpo").score(model, tok, rows, cfg, "train pairs")[0]["loglik_accuracy"]


def test_dpo_from_a_session_raises_preference_accuracy_and_prepares_the_retest(tmp_path, tiny_llama, session):
    cfg = _cfg(tmp_path, tiny_llama, session, val_size=0.1, test_size=0.2, epochs=4)
    res = train(cfg, progress=False, quiet=True)
    assert res.run.status == "finished" and res.results["params"]["trainable"] < res.results["params"]["total"]   # LoRA by default
    rows = prepare(cfg)["train"]
    start, tok = load_model(resolve_model(tiny_llama), "causal-lm"), load_tokenizer(tiny_llama)
    set_chat_template(tok)
    from fine_tune_lab.evaluation import load_run_model
    tuned, ttok, _ = load_run_model(res.path)
    before, after = _train_pair_accuracy(start, tok, rows, cfg.resolved()), _train_pair_accuracy(tuned, ttok, rows, cfg.resolved())
    assert after > before and after >= 0.9, (before, after)
    assert res.results["before"]["pref_accuracy"] == 0.5 and res.results["after"]["pref_accuracy"] >= 0.7
    assert res.results["after"]["reward_margin_low"] > 0
    assert any("rewards/margins" in r for r in res.run.metrics() if r.get("event") == "train")   # TRL's preference metrics, for the curves
    retest = Path(res.results["retest"])
    meta = json.loads((retest / "session.json").read_text())
    assert meta["kind"] == "ab" and meta["models"][0] == "tuned" and meta["items"] > 0
    test_prompts = set(prepare(cfg)["test"]["prompt"])
    assert {json.loads(l)["prompt"] for l in (retest / "items.jsonl").read_text().splitlines()} == test_prompts


def _ftlab(*args):
    return subprocess.run([str(Path(sys.executable).with_name("ftlab")), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_train_eval_compare_from_an_sft_run(tmp_path, tiny_llama):
    heads = pd.DataFrame({"prompt": [f"Story {i}: shares rose." for i in range(40)], "completion": [f"Shares up {i}" for i in range(40)]})
    heads.to_json(tmp_path / "h.jsonl", orient="records", lines=True)
    sft = train(TrainConfig(task="sft", model=tiny_llama, data=str(tmp_path / "h.jsonl"), epochs=1, max_new_tokens=4, precision="fp32",
                            output_dir=str(tmp_path / "runs"), run_name="sft"), progress=False, quiet=True)
    pairs = pd.DataFrame({"prompt": [[{"role": "user", "content": p}] for p in heads["prompt"]], "chosen": heads["completion"], "rejected": "no"})
    pairs.to_json(tmp_path / "pairs.jsonl", orient="records", lines=True)
    t = _ftlab("train", "--task", "dpo", "--model", sft.path, "--data", tmp_path / "pairs.jsonl", "--epochs", "2", "--learning-rate", "0.005",
               "--max-length", "96", "--precision", "fp32", "--output-dir", tmp_path / "runs", "--run-name", "dpo", "--quiet")
    assert t.returncode == 0, t.stderr
    dpo = tmp_path / "runs" / "dpo"
    assert "task: dpo" in (dpo / "config.yaml").read_text() and (dpo / "retest" / "session.json").exists()
    c = _ftlab("compare", sft.path, dpo, "--n-boot", "200")
    assert c.returncode == 0 and "loglik_accuracy" in c.stdout and "McNemar" in c.stdout, c.stderr
    e = _ftlab("eval", dpo, "--data", tmp_path / "pairs.jsonl", "--show", "1")
    assert e.returncode == 0 and "loglik_accuracy" in e.stdout and "margin" in e.stdout, e.stderr
