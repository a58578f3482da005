"""Issues 11 and 20: padding-free causal-LM packing keeps texts apart, every packing mode trains, throughput/MFU arithmetic, no repeated evaluation."""
import pandas as pd
import pytest
import torch

from fine_tune_lab.core import RunDir
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.tokens import RowCollator, lm_collators
from fine_tune_lab.trainer import mfu_metrics, peak_flops, train_throughput
from fine_tune_lab.train import resume, train

TEXTS = ["the cat sat on the mat", "a dog", "hello there, my friend, how are you today?", "ok",
         "a much longer text that goes on and on about nothing in particular, for a while"]


@pytest.mark.parametrize("impl,capacity", [("sdpa", None), ("eager", None), ("sdpa", 24), ("eager", 24)])
def test_flattened_batch_loss_equals_per_text_losses(tiny_llama, impl, capacity):
    "A flattened batch's loss is the token-weighted mean of the texts' losses computed one by one: no attention across texts."
    from transformers import AutoModelForCausalLM
    from fine_tune_lab.models import load_tokenizer
    tok = load_tokenizer(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation=impl)
    model.train()                                          # as in training (the tiny model has no dropout)
    ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in TEXTS]
    flat, pad = lm_collators(tok, "flatten", max_length=capacity)
    feats = lambda: [{"input_ids": x, "attention_mask": [1] * len(x), "length": len(x), "row": i} for i, x in enumerate(ids)]
    fb, pb = RowCollator(flat)(feats()), RowCollator(pad)(feats())
    assert "attention_mask" not in fb and fb.pop("real_tokens") == sum(map(len, ids))
    if capacity is None: assert fb["input_ids"].shape == (1, sum(map(len, ids)))
    else:                                                  # rows of at most `capacity` (or the longest text), nearly full
        assert fb["input_ids"].shape[1] <= max(capacity, max(map(len, ids))) and fb["input_ids"].shape[0] > 1
        assert fb["input_ids"].numel() < 1.5 * sum(map(len, ids))
    fb.pop("row_ids"); pb.pop("row_ids")
    with torch.no_grad():
        alone = [(model(input_ids=torch.tensor([x]), labels=torch.tensor([x])).loss.item(), len(x) - 1) for x in ids]
        want = sum(l * n for l, n in alone) / sum(n for _, n in alone)
        assert model(**fb).loss.item() == pytest.approx(want, abs=1e-5)
        assert model(**pb).loss.item() == pytest.approx(want, abs=1e-5)
        # and the logits of each text inside a packed row are those of the text alone
        logits, seen = model(**fb).logits, 0
        for r in range(fb["input_ids"].shape[0]):
            pos = fb["position_ids"][r].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            for a, b in zip(starts, starts[1:]):
                x = fb["input_ids"][r, a:b].tolist()
                if x in ids:                                # a text (not the filler tail)
                    torch.testing.assert_close(logits[r, a:b], model(input_ids=torch.tensor([x])).logits[0], atol=1e-5, rtol=1e-4)
                    seen += 1
        assert seen == len(ids)


def _lm_csv(tmp_path):
    rows = [" ".join(["word"] * (3 + i % 17)) + f" number {i} ends here." for i in range(80)]
    p = tmp_path / "texts.csv"
    pd.DataFrame({"text": rows}).to_csv(p, index=False)
    return p


@pytest.mark.parametrize("packing", ["flatten", "blocks", "pad"])
def test_packing_modes_train_a_causal_lm(tmp_path, tiny_llama, packing):
    "Each packing mode trains end to end: before/after perplexity, generations, throughput fields, resume."
    cfg = TrainConfig(task="causal-lm", model=tiny_llama, data=str(_lm_csv(tmp_path)), packing=packing, epochs=1,
                      batch_size=8, max_length=32, learning_rate=3e-3, eval_samples=2, output_dir=str(tmp_path / "runs"))
    res = train(cfg, progress=False, quiet=True)
    r, t = res.results, res.results["train"]
    assert r["after"]["perplexity"] < r["before"]["perplexity"]
    assert (res.path / "samples.jsonl").exists()
    assert t["tokens"] > 0 and t["tokens_per_second"] > 0 and t["flops_per_second"] > 0 and t["mfu"] is None
    if packing == "pad": assert 0 < t["padding_fraction"] < 1 and t["padded_tokens"] > t["tokens"]
    elif packing == "flatten": assert 0 <= t["padding_fraction"] < 0.2                 # only the rows' filler tails
    else: assert t["padding_fraction"] < 0.05              # blocks: only the short last block is padded
    if packing != "blocks":
        # a flattened batch is one row of many tokens: the count is every text's tokens once per epoch
        from fine_tune_lab.prepare import prepare
        from fine_tune_lab.models import load_tokenizer
        from fine_tune_lab.tokens import text_ids
        sp = prepare(cfg)
        assert t["tokens"] == sum(map(len, text_ids(sp["train"]["text"], load_tokenizer(tiny_llama), 32)))
    again = resume(res.path, epochs=2, progress=False, quiet=True)
    assert again.results["train"]["steps"] == 2 * t["steps"] and RunDir(res.path).status == "finished"


def test_mfu_formula():
    "6 x params x tokens / seconds, over a known peak; no MFU without one."
    m = mfu_metrics(params=135_000_000, tokens=2_000_000, seconds=100.0, peak=989e12)
    assert m["tokens_per_second"] == 20_000
    assert m["flops_per_second"] == pytest.approx(6 * 135e6 * 2e4)
    assert m["mfu"] == pytest.approx(6 * 135e6 * 2e4 / 989e12)
    assert mfu_metrics(100, 10, 0)["tokens_per_second"] == 0
    assert peak_flops("NVIDIA H200") == 989e12 and peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12 and peak_flops("cpu") is None
    t = train_throughput({"real": 750, "padded": 1000}, params=10, seconds=2.0, device="cpu")
    assert t["padding_fraction"] == 0.25 and t["tokens_per_second"] == 375 and t["flops_per_second"] == 6 * 10 * 375
    assert t["mfu"] is None and t["peak_memory_mb"] > 0


def test_flatten_packs_only_the_training_split(tmp_path, tiny_llama):
    "Training rows hold several whole texts (position ids restart at each); evaluation keeps one row per text."
    from types import SimpleNamespace
    from fine_tune_lab.prepare import prepare
    from fine_tune_lab.models import load_tokenizer
    from fine_tune_lab.tasks import CausalLMTask
    tok = load_tokenizer(tiny_llama)
    cfg = TrainConfig(task="causal-lm", data=str(_lm_csv(tmp_path)), val_size=0.2, test_size=0.2, max_length=96, packing="flatten")
    sp = prepare(cfg)
    tokenize_splits = lambda sp, tok, task, n, packing: CausalLMTask().tokenize(SimpleNamespace(data=sp, tok=tok, cfg=cfg.replace(max_length=n, packing=packing)))
    dd = tokenize_splits(sp, tok, "causal-lm", 96, packing="flatten")
    train, val = dd["train"], dd["validation"]
    assert "position_ids" in train.column_names and "position_ids" not in val.column_names
    assert len(train) < len(sp["train"]) and max(train["length"]) <= 96      # several texts per row
    assert sum(p.count(0) for p in train["position_ids"]) == len(sp["train"])          # every text, once
    assert sum(train["length"]) == sum(len(x) for x in tokenize_splits(sp, tok, "causal-lm", 96, packing="pad")["train"]["input_ids"])
    assert len(val) == len(sp["validation"])


def test_each_split_is_evaluated_once_per_evaluation_point(tmp_path, tiny_bert, reviews_csv):
    "No second pass over validation at the end (the best checkpoint's metrics are reused), one pass over test."
    from fine_tune_lab.config import TrainConfig
    from fine_tune_lab.train import TrainingSession
    from fine_tune_lab import trainer as tr
    calls = []
    orig = tr.LabTrainerMixin.evaluate
    def counting(self, *a, **kw):
        calls.append(kw.get("metric_key_prefix", "eval")); return orig(self, *a, **kw)
    s = TrainingSession(TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=2, output_dir=str(tmp_path / "runs"), precision="fp32",
                                    eval_samples=0, baseline=False, data_map=0))
    tr.LabTrainerMixin.evaluate = counting
    try: r = s.run_now()
    finally: tr.LabTrainerMixin.evaluate = orig
    assert calls.count("eval") == 2                                           # one per epoch, none repeated at the end
    assert r.results["validation"]["accuracy"] is not None and "test" not in calls   # test: one predict pass, for metrics and rows at once
