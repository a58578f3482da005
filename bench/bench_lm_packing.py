"""Causal-LM fine-tuning: padding-free flattening against padded batches (issue 11).

The same texts (rotten_tomatoes snippets as language-modelling text: short, lengths vary 5-60 tokens), the same
decoder, the same hyperparameters (lr 5e-5, batch 16, max_length 128, 1 epoch, seed 42, precision auto), trained
through `fine_tune_lab.train.train` with `packing`:

  pad      one right-padded row per text, length-grouped batches (the lab's sampler)
  pad-rnd  the same, batches in random order (a plain Trainer's order): the usual padded baseline
  flatten  the lab's default: whole texts packed into rows of max_length tokens (best fit), position ids restart
           per text (no attention across texts), as many rows per step as hold about batch_size texts
  blocks   texts joined with EOS, cut into max_length blocks (attention crosses texts; for reference)

Real (non-padding) tokens/s are measured over the optimisation steps (step-begin to step-end, summed). The
held-out loss is computed the same way for every variant, after training, from the saved model: each test text
alone (padded rows, padding ignored), summed token negative log-likelihood / number of predicted tokens.
Medians over --repeats (variants interleaved). Last: flatten against padded batches in a plain Trainer's order
(pad-rnd), the issue's target; flatten against the lab's own length-grouped padded batches is printed just above.

Usage: python bench/bench_lm_packing.py [--model smollm2|tiny] [--train N] [--test N] [--repeats R]
  --model tiny: a 4-layer, hidden-256 Llama built with AutoConfig (random weights) and SmolLM2's tokenizer.
"""
import argparse, os, statistics, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from transformers import TrainerCallback
from transformers.utils import logging as tl

import fine_tune_lab.tasks as TK
import fine_tune_lab.train as T
import fine_tune_lab.trainer as TR
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.prepare import prepare
from fine_tune_lab.models import load_tokenizer, resolve_model

tl.set_verbosity_error()


class StepTimer(TrainerCallback):
    def __init__(self): self.steps, self._t = [], None
    def on_step_begin(self, args, state, control, **kw): self._t = time.perf_counter()
    def on_step_end(self, args, state, control, **kw): self.steps.append(time.perf_counter() - self._t)


def tiny_decoder(folder: Path) -> str:
    "A small random Llama with SmolLM2's tokenizer (when the real model is too slow here)."
    from transformers import AutoConfig, AutoModelForCausalLM
    tok = load_tokenizer(resolve_model("smollm2"))
    cfg = AutoConfig.for_model("llama", vocab_size=len(tok), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                               num_key_value_heads=4, intermediate_size=768, max_position_embeddings=512,
                               eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id,
                               tie_word_embeddings=True)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(folder); tok.save_pretrained(folder)
    return str(folder)


@torch.no_grad()
def heldout_loss(model_dir: Path, texts: list, max_length: int) -> float:
    "Token-weighted mean NLL of each text on its own (padded rows, padding ignored)."
    from transformers import AutoModelForCausalLM
    from fine_tune_lab.tokens import PadLMCollator, text_ids
    tok = load_tokenizer(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    coll = PadLMCollator(tok.pad_token_id)
    ids = sorted(text_ids(texts, tok, max_length), key=len)
    nll, n = 0.0, 0
    for i in range(0, len(ids), 32):
        b = coll([{"input_ids": x} for x in ids[i:i + 32]])
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False).logits[:, :-1].float()
        labels = b["labels"][:, 1:]
        nll += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum").item()
        n += int((labels != -100).sum())
    return nll / n


def run(model: str, data, packing: str, out: Path, random_order=False):
    cfg = TrainConfig(task="causal-lm", model=model, data=data, packing=packing, epochs=1, batch_size=16, max_length=128,
                      learning_rate=5e-5, val_size=0.0, test_size=0.2, eval_samples=0, output_dir=str(out), logging_steps=50)
    timer, orig = StepTimer(), TK.training_args
    if random_order:
        def args(*a, **k):
            x = orig(*a, **k); x.train_sampling_strategy = "random"; return x
        TK.training_args = args
    try: res = T.train(cfg, callbacks=[timer], progress=False, quiet=True)
    finally: TK.training_args = orig
    t = res.results["train"]
    return dict(steps_s=sum(timer.steps), real=t["tokens"], padded=t["padded_tokens"], wall=t["runtime_s"],
                path=res.path, params=res.results["params"]["total"], precision=res.results["precision"], flops=t["flops_per_second"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2"); ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--test", type=int, default=100); ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ftlab-pack-"))
    model = tiny_decoder(out / "tiny-llama") if a.model == "tiny" else a.model
    sp = prepare(TrainConfig(task="causal-lm", data="rotten_tomatoes", val_size=0.0, test_size=0.2, max_train_samples=a.train, max_eval_samples=a.test))
    data = out / "texts.csv"
    import pandas as pd
    pd.concat([sp["train"], sp["test"]])[["text"]].to_csv(data, index=False)     # train() re-splits with the same seed
    test_texts = prepare(TrainConfig(task="causal-lm", data=str(data), val_size=0.0, test_size=0.2))["test"]["text"].tolist()
    print(f"model: {a.model} ({'random-weight Llama from AutoConfig' if a.model == 'tiny' else 'SmolLM2-135M-Instruct, offline GGUF'}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(test_texts)} held-out texts; repeats {a.repeats}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    variants = {"pad": ("pad", False), "pad-rnd": ("pad", True), "flatten": ("flatten", False), "blocks": ("blocks", False)}
    runs = {k: [] for k in variants}
    for rep in range(a.repeats):
        for k, (packing, rnd) in variants.items():
            r = run(model, str(data), packing, out / f"{k}{rep}", rnd)
            if rep == 0: r["loss"] = heldout_loss(r["path"] / "model", test_texts, 128)   # deterministic per variant: once
            import shutil; shutil.rmtree(r["path"] / "checkpoints", ignore_errors=True)
            runs[k].append(r)
            print(f"  repeat {rep + 1} {k}: steps {r['steps_s']:.1f} s, {r['real'] / r['steps_s']:.0f} real tokens/s, "
                  f"padding {1 - r['real'] / r['padded']:.1%}, load {os.getloadavg()[0]:.1f}", flush=True)
    base = heldout_loss(Path(resolve_model(model)) if a.model != "tiny" else Path(model), test_texts, 128)
    r0 = runs["flatten"][0]
    print(f"\n{r0['params']:,} parameters, precision {r0['precision']}; held-out loss before fine-tuning {base:.4f}")
    print(f"{'variant':10s} {'real tok/s':>10s} {'padding':>8s} {'tokens':>8s} {'steps s':>8s} {'wall s':>7s} {'held-out loss':>13s}")
    m = {}
    for k, rs in runs.items():
        m[k] = dict(tps=statistics.median(r["real"] / r["steps_s"] for r in rs), steps=statistics.median(r["steps_s"] for r in rs),
                    wall=statistics.median(r["wall"] for r in rs), pad=1 - rs[0]["real"] / rs[0]["padded"], loss=rs[0]["loss"])
        print(f"{k:10s} {m[k]['tps']:10.0f} {m[k]['pad']:8.1%} {rs[0]['real']:8d} {m[k]['steps']:8.1f} {m[k]['wall']:7.1f} {m[k]['loss']:13.4f}")
    print(f"\nachieved FLOP/s of flatten (6 x params x real tokens / train() wall): {r0['flops']:.3g}; MFU: n/a (CPU, no known peak)")
    print(f"blocks/pad tokens/s {m['blocks']['tps'] / m['pad']['tps']:.2f}x (held-out loss {m['blocks']['loss'] / m['pad']['loss'] - 1:+.2%}: attention crosses texts)")
    print(f"flatten/pad, both length-grouped (the lab's own padded path): real tokens/s {m['flatten']['tps'] / m['pad']['tps']:.2f}x, "
          f"held-out loss {m['flatten']['loss'] / m['pad']['loss'] - 1:+.2%}")
    print(f"RATIO flatten/padded batches (a plain Trainer's order): real tokens/s {m['flatten']['tps'] / m['pad-rnd']['tps']:.2f}x (target >= 1.4), "
          f"held-out loss {m['flatten']['loss'] / m['pad-rnd']['loss'] - 1:+.2%} (target within 1%)")


if __name__ == "__main__":
    main()
