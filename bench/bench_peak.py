"""The machine as the yardstick: training FLOP/s as a share of this machine's own matmul peak (issue 20).

In one process, on torch's current thread count (the one training uses):
  1. the measured matrix-multiply peak, fp32 and bf16: the fastest square GEMM (2n^3 FLOPs) of n in --sizes,
     `fine_tune_lab.trainer.matmul_peak`;
  2. two lab runs with their defaults: MiniLM classification (rotten_tomatoes) and SmolLM2 SFT (bbc_headlines);
     achieved FLOP/s = (4 x matmul weights + 2 x trained matmul weights) x real tokens / seconds of the
     optimisation steps (`results["train"]`; embeddings are lookups, not matmuls, and are not counted),
     and its share of the peak in the run's precision;
  3. where a step's time goes: one training step (forward, backward, optimizer) of each under torch.profiler,
     operators grouped (matmul, attention, norms, optimizer, embedding, loss, elementwise and the rest), plus
     the data collation of one batch timed apart.

Usage: python bench/bench_peak.py [--cls-rows 640] [--sft-rows 64] [--sizes 1024 2048 4096] [--seconds 2]
"""
import argparse, os, re, statistics, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

import torch

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.train import Run, train
from fine_tune_lab.trainer import matmul_peak
from fine_tune_lab.lr_find import _autocast_forward, optimizer_step

GROUPS = [("matmul", r"aten::(mm|addmm|bmm|baddbmm|_mm|mkldnn_.*linear|_weight_int|linear_backward)|mkldnn"),
          ("attention", r"scaled_dot_product|flash_attention|_efficient_attention|softmax"),
          ("norms", r"layer_norm|rms_norm|aten::rsqrt|aten::pow|aten::mean"),
          ("optimizer", r"adam|_foreach|optimizer"),
          ("embedding", r"embedding"),
          ("loss", r"cross_entropy|nll_loss|log_softmax"),
          ("copies, casts", r"aten::(copy_|to|_to_copy|clone|contiguous|cat|index|gather|scatter)"),
          ("elementwise", r"aten::(add|mul|sub|div|gelu|silu|tanh|neg|where|masked_fill|fill_|zero_|sum|exp|sigmoid|threshold)")]


def group(name: str) -> str:
    return next((g for g, rx in GROUPS if re.search(rx, name)), "other")


def peaks(sizes, seconds):
    out = {}
    for prec in ("fp32", "bf16"):
        per = {n: matmul_peak(prec, "cpu", n=n, seconds=seconds) for n in sizes}
        out[prec] = max(per.values())
        print(f"matmul peak {prec}: " + ", ".join(f"n={n} {v / 1e9:.0f} GFLOP/s" for n, v in per.items())
              + f" -> {out[prec] / 1e9:.0f} GFLOP/s", flush=True)
    return out


def configs(a, out: Path) -> dict:
    return {"MiniLM classification": TrainConfig(model="minilm", data="rotten_tomatoes", epochs=1, max_train_samples=a.cls_rows,
                                                 max_eval_samples=64, output_dir=str(out / "cls"), logging_steps=50),
            "SmolLM2 SFT": TrainConfig(task="sft", epochs=1, max_train_samples=a.sft_rows, max_eval_samples=16, eval_samples=0,
                                       output_dir=str(out / "sft"), logging_steps=50)}


def profile_step(cfg: TrainConfig):
    "One training step of the run's own trainer under torch.profiler: seconds per operator group, and collation apart."
    from torch.profiler import ProfilerActivity, profile
    r = Run.new(cfg.replace(run_name="profile"), quiet=True, progress=False)
    r.build()
    tr = r.trainer
    tr.create_optimizer()
    dl = tr.get_train_dataloader()
    it = iter(dl)
    batches = [next(it) for _ in range(3)]
    feats = [tr.train_dataset[i] for i in range(cfg.batch_size)]
    t = time.perf_counter()
    for _ in range(5): tr.data_collator(feats)
    collate = (time.perf_counter() - t) / 5
    model = tr.model
    model.train()
    _autocast_forward(model, r.precision, r.device)            # bf16 forward as Trainer.train runs it
    def step(b): optimizer_step(tr, [b])
    step(batches[0])                                        # warm-up: allocator, kernel choice
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter(); step(batches[1]); wall = time.perf_counter() - t
    by = {}
    for e in prof.key_averages():
        g = group(e.key)
        by[g] = by.get(g, 0.0) + e.self_cpu_time_total / 1e6
    tokens = int(batches[1]["attention_mask"].sum()) if "attention_mask" in batches[1] else batches[1]["input_ids"].numel()
    c = model.config
    shape = (batches[1]["input_ids"].numel(), c.hidden_size, c.intermediate_size)
    return by, wall, collate, tokens, shape, gemm_rate(*shape, r.precision)


def gemm_rate(m, k, n, precision, seconds=1.0):
    "FLOP/s of the run's own largest GEMM shape (tokens of a step x hidden @ hidden x intermediate): the ceiling its matmuls can reach."
    dt = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(m, k, dtype=dt), torch.randn(k, n, dtype=dt)
    for _ in range(3): a @ b
    t, reps = time.perf_counter(), 0
    while time.perf_counter() - t < seconds: a @ b; reps += 1
    return 2 * m * k * n * reps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cls-rows", type=int, default=640); ap.add_argument("--sft-rows", type=int, default=64)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096]); ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--skip-profile", action="store_true")
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ftlab-peak-"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}", flush=True)
    peak = peaks(a.sizes, a.seconds)
    rows = []
    for name, cfg in configs(a, out).items():
        res = train(cfg, progress=False, quiet=True).results
        t, p = res["train"], res["params"]
        share = t["flops_per_second"] / peak[res["precision"]]
        rows.append((name, res["precision"], t["tokens_per_second"], t["flops_per_second"], share, p))
        print(f"{name}: {res['precision']}, {t['steps']} steps in {t['steps_s']:.1f} s, {t['tokens_per_second']:.0f} real tokens/s, "
              f"{t['flops_per_second'] / 1e9:.1f} GFLOP/s = {share:.1%} of the {res['precision']} peak "
              f"(matmul weights {p['matmul']:,} of {p['total']:,}, {p['matmul_trainable']:,} trained)", flush=True)
        if a.skip_profile: continue
        by, wall, collate, tokens, shape, rate = profile_step(cfg)
        tot = sum(by.values())
        print(f"  the run's own GEMM shape {shape[0]}x{shape[1]} @ {shape[1]}x{shape[2]} ({res['precision']}): {rate / 1e9:.0f} GFLOP/s "
              f"= {rate / peak[res['precision']]:.0%} of the square-GEMM peak; training reaches {t['flops_per_second'] / rate:.0%} of that shape's rate")
        print(f"  one profiled step ({tokens} real tokens, {wall * 1e3:.0f} ms wall; collation of a batch {collate * 1e3:.1f} ms "
              f"= {collate / wall:.1%} of a step, in the loader):")
        for g, s in sorted(by.items(), key=lambda kv: -kv[1]):
            print(f"    {g:14s} {s * 1e3:8.1f} ms  {s / tot:6.1%}")
    print("\n| run | precision | real tokens/s | achieved GFLOP/s | measured peak GFLOP/s | share |\n|---|---|---|---|---|---|")
    for name, prec, tps, f, share, p in rows:
        print(f"| {name} | {prec} | {tps:.0f} | {f / 1e9:.1f} | {peak[prec] / 1e9:.0f} | {share:.1%} |")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
