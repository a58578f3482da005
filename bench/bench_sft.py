"""SFT on the BBC headline task (2 CPU cores): quality against the base model, speed against TRL's defaults.

1. quality: the lab's SFT of the offline SmolLM2-135M-Instruct on `bbc_headlines` for at most `--minutes` of
   training (default 10); ROUGE-L of the fine-tuned model on the held-out test rows (>= 200) against the base
   model's, same greedy decoding. Target: at least +5 points.
2. speed: real (non-padding) training tokens per second of the lab's SFT against TRL's `SFTTrainer` with its
   default settings (`SFTConfig(output_dir=...)`: gradient checkpointing, bf16, batch 8, lr 2e-5, padded
   batches, TRL's fused LM head; one epoch for both, no evaluation or checkpoint during it for either), on the same
   training rows in the same process, one after the other; then
   both models' held-out completion loss on the same validation rows (the lab's `completion_loss`). Target:
   >= 1.5x at equal-or-better loss.

Usage: python bench/bench_sft.py [--minutes 10] [--speed-rows 256] [--skip-quality] [--skip-speed]
"""
import argparse, json, os, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

import pandas as pd

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.prepare import prepare
from fine_tune_lab.train import train


def quality(minutes: float, out: Path) -> dict:
    "Train for at most `minutes` (rows sized from a measured step time), report base vs fine-tuned on the test split."
    rows_per_s = 2.0                            # measured here: ~6.5 s per step of 16 rows (bf16, 2 quiet cores), plus evaluations
    n = int(minutes * 60 * rows_per_s)
    cfg = TrainConfig(task="sft", max_train_samples=n, epochs=1, batch_size=16, learning_rate=1e-4, max_new_tokens=24,
                      eval_steps=max(1, n // 16 // 2), save_steps=max(1, n // 16 // 2), eval_samples=2, output_dir=str(out))
    t = time.time()
    res = train(cfg, progress=False)
    wall = time.time() - t
    b, a = res.results["before"], res.results["after"]
    return dict(train_rows=res.results["sizes"]["train"], test_rows=res.results["sizes"]["test"], train_s=res.results["train"]["runtime_s"],
                wall_s=round(wall, 1), rougeL_base=b["rougeL"], rougeL_tuned=a["rougeL"], gain=round(a["rougeL"] - b["rougeL"], 2),
                chrf_base=b["chrf"], chrf_tuned=a["chrf"], bleu_base=b["bleu"], bleu_tuned=a["bleu"], run=str(res.path))


def _trl_default(rows: pd.DataFrame, val: pd.DataFrame, out: Path) -> tuple:
    "TRL's SFTTrainer with its defaults on the same rows: (train seconds, real tokens, model)."
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    from fine_tune_lab.models import resolve_model
    path = resolve_model("smollm2")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ds = datasets.Dataset.from_dict({"prompt": [list(m) for m in rows["messages"]],
                                     "completion": [[{"role": "assistant", "content": c}] for c in rows["completion"]]})
    # TRL's defaults for everything that sets the speed; one epoch (a run length, not a speed setting), no checkpoints
    args = SFTConfig(output_dir=str(out / "trl"), report_to=[], save_strategy="no", disable_tqdm=True, use_cpu=True, num_train_epochs=1)
    tr = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    real = sum(len(x) for x in tr.train_dataset["input_ids"]) * args.num_train_epochs
    t = time.perf_counter(); tr.train(); secs = time.perf_counter() - t
    return secs, real, model, tok, args


def speed(n_rows: int, out: Path) -> dict:
    "The lab's SFT and TRL's defaults on the same `n_rows` training rows: real tokens/s and held-out completion loss."
    from fine_tune_lab.sft import completion_loss
    base = TrainConfig(task="sft", max_train_samples=n_rows, max_eval_samples=64, output_dir=str(out))
    sp = prepare(base)
    rows, val = sp["train"], sp["validation"]
    trl_s, trl_tokens, trl_model, trl_tok, trl_args = _trl_default(rows, val, out)
    trl_loss = completion_loss(trl_model, trl_tok, val, 1024, 16, "bf16")["loss"]
    del trl_model
    epochs = trl_args.num_train_epochs
    # TRL's run evaluates and saves nothing while it trains; the lab's does neither here either (both at the end only)
    lab = train(base.replace(epochs=epochs, eval_samples=0, eval_steps=10_000, save_steps=10_000, run_name="lab-speed"), progress=False)
    t = lab.results["train"]
    from fine_tune_lab.evaluation import load_run_model
    m, tk, _ = load_run_model(lab.path)
    lab_loss = completion_loss(m, tk, val, 1024, 16, "bf16")["loss"]
    lab_tps, trl_tps = t["tokens"] / t["runtime_s"], trl_tokens / trl_s
    return dict(rows=len(rows), epochs=epochs, trl_seconds=round(trl_s, 1), trl_tokens=int(trl_tokens), trl_tokens_per_s=round(trl_tps, 1),
                trl_val_loss=round(trl_loss, 4), lab_seconds=t["runtime_s"], lab_tokens=t["tokens"], lab_tokens_per_s=round(lab_tps, 1),
                lab_val_loss=round(lab_loss, 4), ratio=round(lab_tps / trl_tps, 2), lab_padding=t["padding_fraction"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of the quality run")
    ap.add_argument("--speed-rows", type=int, default=160, help="training rows of the speed comparison")
    ap.add_argument("--skip-quality", action="store_true"); ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="bench-sft-"))
    print(f"load average at start: {os.getloadavg()[0]:.2f}; runs in {out}", flush=True)
    if not a.skip_speed:
        s = speed(a.speed_rows, out)
        print(json.dumps(s, indent=1))
        print(f"speed: lab {s['lab_tokens_per_s']} real tokens/s vs TRL defaults {s['trl_tokens_per_s']}: {s['ratio']}x "
              f"(target >= 1.5x); held-out completion loss lab {s['lab_val_loss']} vs TRL {s['trl_val_loss']} "
              f"({'equal or better' if s['lab_val_loss'] <= s['trl_val_loss'] else 'WORSE'})", flush=True)
    if not a.skip_quality:
        q = quality(a.minutes, out)
        print(json.dumps(q, indent=1))
        print(f"quality: ROUGE-L {q['rougeL_base']:.2f} (base) -> {q['rougeL_tuned']:.2f} (fine-tuned) on {q['test_rows']} test rows: "
              f"{q['gain']:+.2f} points (target >= +5) after {q['train_s']:.0f} s of training", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
