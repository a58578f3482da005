"""Training throughput of the lab's default against the guide's recipe and a good-defaults Trainer (issue 11).

Same data (rotten_tomatoes, the same train/test rows), same model (offline MiniLM), same hyperparameters
(lr 5e-5, batch 16, max_length 128, 1 epoch, seed 42), same machine, one process, variants interleaved within
each repeat so that load changes on a shared machine hit all of them:

  (a) the guide's recipe: tokenizer pads every text to max_length, plain `Trainer`, default collator, fp32
  (b) good defaults: `DataCollatorWithPadding` (dynamic padding), plain `Trainer`, fp32
  (c) the lab's default: `fine_tune_lab.train.train` — dynamic padding, seeded length-grouped batches, SDPA
      attention, fused AdamW, precision auto (bf16 where the CPU/GPU has it natively, else fp32), pad to a
      multiple of 8 on GPU; its train() wall also includes the end-of-epoch validation and a checkpoint save
  (d) the lab's default forced to fp32 — separates batching from the number format
  (e) with --compile: (c) with `torch_compile=True` (transformers' TrainingArguments)

For each: samples/s and real (non-padding) tokens/s over the optimisation steps (time between the Trainer's
step-begin and step-end events, summed), padding fraction of the training batches, peak memory (GPU: max
allocated; CPU: peak resident set sampled every 20 ms, minus the resident set at the start of the variant),
train() wall time, test accuracy. Medians over --repeats; the ratios c/a and c/b come last.
Then the dashboard/callback overhead of a live `TrainMonitor` (skip with --no-overhead).

Usage: python bench/bench_train_speed.py [--train N] [--test N] [--repeats R] [--compile] [--no-overhead]
"""
import argparse, os, statistics, threading, time, tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np, pandas as pd, torch
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainerCallback, TrainingArguments, default_data_collator)
from transformers.utils import logging as tl

import fine_tune_lab.tasks as TK
import fine_tune_lab.train as T
import fine_tune_lab.trainer as TR
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.prepare import prepare
from fine_tune_lab.models import resolve_model
from fine_tune_lab.trainer import MetricsLog
from fine_tune_lab.train import train

tl.set_verbosity_error()
CUDA = torch.cuda.is_available()


class StepTimer(TrainerCallback):
    "Seconds spent between step begin and step end, per optimisation step."
    def __init__(self): self.steps, self._t = [], None
    def on_step_begin(self, args, state, control, **kw): self._t = time.perf_counter()
    def on_step_end(self, args, state, control, **kw): self.steps.append(time.perf_counter() - self._t)


class PeakMemory:
    "Peak memory while the block runs: CUDA max allocated, else sampled RSS minus the RSS at the start (MB)."
    def __enter__(self):
        if CUDA: torch.cuda.reset_peak_memory_stats(); return self
        import psutil
        self.proc, self.stop = psutil.Process(), threading.Event()
        self.start = self.peak = self.proc.memory_info().rss
        def sample():
            while not self.stop.wait(0.02): self.peak = max(self.peak, self.proc.memory_info().rss)
        self.thread = threading.Thread(target=sample, daemon=True); self.thread.start(); return self
    def __exit__(self, *a):
        if CUDA: self.mb = torch.cuda.max_memory_allocated() / 2**20; return
        self.stop.set(); self.thread.join(); self.mb = (self.peak - self.start) / 2**20


class CountingCollator:
    "Counts real and padded tokens of the batches it makes (training only: reset before predicting)."
    def __init__(self, base): self.base, self.real, self.padded = base, 0, 0
    def __call__(self, features):
        b = self.base(features)
        self.real += int(b["attention_mask"].sum()); self.padded += b["input_ids"].numel()
        return b


def plain_trainer(splits, pad_to_max: bool, out: Path, n_train: int):
    "The guide's recipe (pad_to_max) or good defaults (dynamic padding) with a plain Trainer."
    import datasets
    path = resolve_model("minilm")
    tok = AutoTokenizer.from_pretrained(path)
    labels = splits.labels
    def ds(df):
        enc = tok(df["text"].tolist(), truncation=True, max_length=128, padding="max_length" if pad_to_max else False)
        return datasets.Dataset.from_dict({**{k: enc[k] for k in enc.keys()}, "labels": [labels.index(l) for l in df["label"]]})
    with PeakMemory() as mem:
        train_ds, test_ds = ds(splits["train"]), ds(splits["test"])
        torch.manual_seed(42)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
        # the guide's TrainingArguments snippet; fp32 (no bf16/fp16 flag), default optimizer (fused AdamW in transformers 5)
        args = TrainingArguments(str(out), num_train_epochs=1, per_device_train_batch_size=16, learning_rate=5e-5, seed=42,
                                 report_to=[], save_strategy="no", disable_tqdm=True, logging_steps=50, use_cpu=not CUDA)
        coll = CountingCollator(default_data_collator if pad_to_max else DataCollatorWithPadding(tok))
        timer = StepTimer()
        tr = Trainer(model=model, args=args, train_dataset=train_ds, data_collator=coll, callbacks=[timer])
        t0 = time.perf_counter(); tr.train(); wall = time.perf_counter() - t0
    real, padded = coll.real, coll.padded
    pred = tr.predict(test_ds)                       # a plain Trainer evaluates in order: split order
    correct = pd.Series(pred.predictions.argmax(-1) == pred.label_ids, index=splits["test"]["row"].values).sort_index()
    return dict(steps_s=sum(timer.steps), wall=wall, real=real, padded=padded, mem=mem.mb, acc=float(correct.mean()),
                correct=correct.to_numpy(), n=n_train, step_times=timer.steps)


def lab(precision: str, out: Path, n_train: int, n_test: int, log=None, compile=False):
    cfg = TrainConfig(model="minilm", data="rotten_tomatoes", epochs=1, max_train_samples=n_train, max_eval_samples=n_test,
                      val_size=0.1, test_size=0.1, precision=precision, output_dir=str(out), logging_steps=50)
    timer, orig = StepTimer(), TK.training_args
    if compile: TK.training_args = lambda *a, **k: _compiled(orig(*a, **k))
    try:
        with PeakMemory() as mem: res = train(cfg, progress=False, quiet=True, log=log, callbacks=[timer])
    finally: TK.training_args = orig
    t = res.results["train"]
    p = pd.read_json(res.path / "predictions.jsonl", lines=True).sort_values("row")   # by row, as (a) and (b)
    correct = (p["label"] == p["pred"]).to_numpy()
    return dict(steps_s=sum(timer.steps), wall=t["runtime_s"], real=t["tokens"], padded=t["padded_tokens"], mem=mem.mb,
                acc=res.results["test"]["accuracy"], correct=correct, n=n_train, step_times=timer.steps,
                flops=t["flops_per_second"], mfu=t["mfu"])


def _compiled(args):
    # set after TrainingArguments.__post_init__, so the backend must be named too (else nothing compiles)
    args.torch_compile, args.torch_compile_backend = True, "inductor"
    return args


def overhead(out: Path, n_train: int, n_test: int):
    "Share of training time spent inside the metrics log and a live monitor's listener."
    from fine_tune_lab.ui.train import TrainMonitor
    log = MetricsLog()
    mon = TrainMonitor(log, live=True, interval=0.5)
    spent = [0.0, 0]
    inner = mon._on_event
    def timed(kind, payload):
        t = time.perf_counter(); inner(kind, payload); spent[0] += time.perf_counter() - t; spent[1] += 1
    log.listeners = [timed]
    for name in ("record", "set_progress"):               # time the log's own work too (file appends, fsync)
        f = getattr(log, name)
        def wrap(*a, _f=f, **k):
            t = time.perf_counter(); r = _f(*a, **k); spent[0] += time.perf_counter() - t; return r
        setattr(log, name, wrap)
    r = lab("auto", out, n_train, n_test, log=log)
    return spent[0] / r["wall"], spent[1], mon.redraws, r["wall"]


def med(runs, f): return statistics.median(f(r) for r in runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=2000); ap.add_argument("--test", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3); ap.add_argument("--compile", action="store_true")
    ap.add_argument("--no-overhead", action="store_true")
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ftlab-speed-"))
    splits = prepare(TrainConfig(data="rotten_tomatoes", max_train_samples=a.train, max_eval_samples=a.test))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cuda: {CUDA}, cpu bf16: {TR.cpu_has_bf16()}; "
          f"train {len(splits['train'])}, test {len(splits['test'])}; repeats {a.repeats}; load average {os.getloadavg()[0]:.1f}")
    names = {"a": "(a) guide: pad to max_length, fp32", "b": "(b) Trainer + DataCollatorWithPadding, fp32",
             "c": "(c) lab default (auto precision)", "d": "(d) lab default, fp32"}
    if a.compile: names["e"] = "(e) lab default + torch.compile"
    runs = {k: [] for k in names}
    for rep in range(a.repeats):
        for k in names:
            o = out / f"{k}{rep}"
            r = (plain_trainer(splits, k == "a", o, a.train) if k in "ab" else
                 lab("fp32" if k == "d" else "auto", o, a.train, a.test, compile=k == "e"))
            runs[k].append(r)
            print(f"  repeat {rep + 1} {names[k]}: steps {r['steps_s']:.1f} s, wall {r['wall']:.1f} s, acc {r['acc']:.4f}, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\nmedians over {a.repeats} repeats (samples/s and tokens/s over the optimisation steps; real tokens = non-padding)")
    print(f"{'variant':46s} {'samples/s':>9s} {'tokens/s':>9s} {'padding':>8s} {'peak MB':>8s} {'steps s':>8s} {'wall s':>7s} {'test acc':>9s}")
    m = {}
    for k, rs in runs.items():
        m[k] = dict(sps=med(rs, lambda r: r["n"] / r["steps_s"]), tps=med(rs, lambda r: r["real"] / r["steps_s"]),
                    pad=1 - rs[0]["real"] / rs[0]["padded"], mem=med(rs, lambda r: r["mem"]), steps=med(rs, lambda r: r["steps_s"]),
                    wall=med(rs, lambda r: r["wall"]), wsps=med(rs, lambda r: r["n"] / r["wall"]), acc=med(rs, lambda r: r["acc"]))
        x = m[k]
        print(f"{names[k]:46s} {x['sps']:9.1f} {x['tps']:9.0f} {x['pad']:8.1%} {x['mem']:8.0f} {x['steps']:8.1f} {x['wall']:7.1f} {x['acc']:9.4f}")
    c = runs["c"][0]
    print(f"\nlab default's achieved FLOP/s (6 x params x real tokens / train() wall): {c['flops']:.3g}; "
          f"MFU: {c['mfu'] if c['mfu'] is not None else 'n/a (no known peak: CPU)'}")
    if a.compile:
        late = lambda r: statistics.median(r["step_times"][len(r["step_times"]) // 4:])   # after warm-up (first quarter)
        print(f"torch.compile: steady-state median step {med(runs['e'], late) * 1e3:.0f} ms vs {med(runs['c'], late) * 1e3:.0f} ms "
              f"without (e/c speed {med(runs['c'], late) / med(runs['e'], late):.2f}x); whole run e/c samples/s "
              f"{m['e']['sps'] / m['c']['sps']:.2f}x, wall {m['e']['wall']:.0f} s vs {m['c']['wall']:.0f} s")
    from fine_tune_lab.stats import mcnemar
    for x, y in (("c", "a"), ("c", "b"), ("d", "b")):
        mc = mcnemar(runs[y][0]["correct"], runs[x][0]["correct"])   # same test rows in the same order
        print(f"accuracy ({x}) - ({y}): {m[x]['acc'] - m[y]['acc']:+.4f}  (McNemar, first repeat, {len(runs[x][0]['correct'])} test rows: "
              f"{mc['a_wrong_b_right']} better, {mc['a_right_b_wrong']} worse, p = {mc['p_value']:.3f})")
    if not a.no_overhead:
        share, calls, redraws, secs = overhead(out / "overhead", a.train, a.test)
        print(f"\ndashboard/callback overhead: {share:.2%} of {secs:.1f} s training ({calls} listener calls, {redraws} redraws; target <= 3%)")
    r = lambda f, x, y: f(m[x]) / f(m[y])
    print(f"\nratios, medians of {a.repeats}: samples/s over steps d/a {r(lambda v: v['sps'], 'd', 'a'):.2f}x  d/b {r(lambda v: v['sps'], 'd', 'b'):.2f}x;"
          f"  samples/s over train() wall c/a {r(lambda v: v['wsps'], 'c', 'a'):.2f}x  c/b {r(lambda v: v['wsps'], 'c', 'b'):.2f}x")
    print(f"RATIOS (samples/s over the optimisation steps): c/a {r(lambda v: v['sps'], 'c', 'a'):.2f}x (target >= 2.0)  "
          f"c/b {r(lambda v: v['sps'], 'c', 'b'):.2f}x (target >= 1.2)  at accuracy c-a {m['c']['acc'] - m['a']['acc']:+.4f}, "
          f"c-b {m['c']['acc'] - m['b']['acc']:+.4f}")


if __name__ == "__main__":
    main()
