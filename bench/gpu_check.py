"""The GPU check: what the lab does on one GPU, measured in one command of under 8 minutes (issue 20).

Checks, in order; each one is timed and either passes with its figures or fails with its reason, and the others
still run:

  peak        the GPU's measured bf16 matmul peak (square GEMMs, `matmul_peak`; the dry run: fp32, what it trains in),
              measured again after the runs and the higher kept (a busier moment cannot put a run over it), next to the
              data-sheet figure
  cls         MiniLM classification, the lab's defaults (bf16): real tokens/s, peak memory, MFU against both peaks,
              and batches padded to a multiple of 8
  lm-packed   SmolLM2 causal LM, packed rows (packing="flatten": position_ids restart at each text); with
              flash-attn installed the model loads with attn_implementation="flash_attention_2" (varlen kernels),
              else transformers' sdpa with the block mask built from position_ids
  sft         SmolLM2 SFT on bbc_headlines with the lab's defaults (completion-only loss)
  trl-peer    TRL's `SFTTrainer` with its default `SFTConfig` on the same rows, same process: the peer of `sft`
  oom         a real CUDA out-of-memory at step 3 (a callback asks for more memory than the GPU has): the lab must
              halve the batch, double the accumulation and finish
  accelerate  the same classification run under `accelerate launch --num_processes 1`

`--dry-run` runs every check on the CPU with tiny random models (AutoConfig -> save_pretrained) and a few rows,
so that the script cannot rot: CI runs it (tests/test_gpu_check.py). The out-of-memory is raised by the callback
itself there (`torch.OutOfMemoryError`), since a CPU has no allocator limit to hit.

Writes `gpu_check.json` (every figure) into --out and prints a table for bench/RESULTS.md.
Exit status: 0 when every check passed, 1 otherwise.

Usage: bench/gpu_check.sh [--dry-run] [--out DIR] [--only cls,sft,...]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, traceback
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from pathlib import Path

import torch

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.models import resolve_model, tiny_model
from fine_tune_lab.prepare import prepare
from fine_tune_lab.train import train
from fine_tune_lab.trainer import matmul_peak, peak_flops

CHECKS = ["peak", "cls", "lm-packed", "sft", "trl-peer", "oom", "accelerate"]


class Plan:
    "Models, sizes and device of a full check (a GPU) or a dry run (the CPU, tiny models)."
    def __init__(self, dry: bool, out: Path):
        self.dry, self.out = dry, out
        self.device = "cpu" if dry else "cuda"
        if dry:
            self.cls_model = str(tiny_model(out / "models" / "tiny-bert", "bert"))
            self.lm_model = str(tiny_model(out / "models" / "tiny-llama", "llama"))
            self.rows = dict(cls=64, lm=48, sft=24, oom=64, eval=16)
            self.batch, self.precision = 8, "fp32"
        else:
            self.cls_model, self.lm_model = "minilm", "smollm2"
            self.rows = dict(cls=8000, lm=2000, sft=1000, oom=640, eval=500)
            self.batch, self.precision = 32, "auto"

    def cfg(self, name: str, **kw) -> TrainConfig:
        base = dict(epochs=1, batch_size=self.batch, precision=self.precision, device=self.device, output_dir=str(self.out / "runs"),
                    run_name=name, max_eval_samples=self.rows["eval"], logging_steps=10, eval_samples=0)
        return TrainConfig(**{**base, **kw})


def peak_memory_reset(device):
    if device == "cuda": torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()


def run_figures(res, peak: float) -> dict:
    "The figures of a finished lab run: tokens/s, FLOP/s, MFU against the measured and the data-sheet peak, memory, padding."
    t = res.results["train"]
    return dict(run=str(res.path), precision=res.results["precision"], steps=t["steps"], steps_s=t["steps_s"], tokens=t["tokens"],
                tokens_per_second=t["tokens_per_second"], flops_per_second=t["flops_per_second"],
                mfu_measured_peak=round(t["flops_per_second"] / peak, 4) if peak else None,
                mfu_datasheet=round(t["mfu"], 4) if t.get("mfu") else None, peak_memory_mb=t["peak_memory_mb"],
                padding_fraction=t["padding_fraction"], padded_tokens=t["padded_tokens"], timings=res.results.get("timings"))


def peak_precision(p: Plan) -> str:
    "The number format the runs train in, so MFU compares like with like (a CPU without bf16 units multiplies bf16 ~100x slower)."
    return "fp32" if p.dry else "bf16"


def measure_peak(p: Plan) -> float:
    if p.dry: return matmul_peak(peak_precision(p), "cpu", n=512, seconds=0.3)
    return matmul_peak("bf16", "cuda", seconds=3.0)


def check_peak(p: Plan, state: dict) -> dict:
    state["peak"] = measure_peak(p)
    name = torch.cuda.get_device_name() if p.device == "cuda" else "cpu"
    sheet = peak_flops(name) if p.device == "cuda" else None
    return dict(device=name, measured_peak=float(f"{state['peak']:.4g}"), peak_precision=peak_precision(p), datasheet_bf16_peak=sheet,
                measured_share_of_datasheet=round(state["peak"] / sheet, 3) if sheet else None,
                torch=torch.__version__, cuda=torch.version.cuda, flash_attn=_has_flash_attn())


def check_cls(p: Plan, state: dict) -> dict:
    peak_memory_reset(p.device)
    res = train(p.cfg("cls", model=p.cls_model, data="rotten_tomatoes", max_train_samples=p.rows["cls"]), progress=False, quiet=True)
    f = run_figures(res, state.get("peak"))
    if p.device == "cuda":        # every batch padded to a multiple of 8 (tensor cores): the collator's pad_to_multiple_of
        f["pad_to_8"] = _lengths_multiple_of_8(res.path)
        if not f["pad_to_8"]: raise AssertionError("training batches were not padded to a multiple of 8")
    state["cls"] = f
    return f


def _lengths_multiple_of_8(run: Path) -> bool:
    "Re-collate a few training batches with the run's own task and check every padded length."
    from fine_tune_lab.train import Run
    cfg = TrainConfig.load(run / "config.yaml").replace(run_name=None, output_dir=str(run.parent / "_pad8"))
    r = Run.new(cfg, quiet=True, progress=False).build()
    dl = r.trainer.get_train_dataloader()
    ok = all(b["input_ids"].shape[1] % 8 == 0 for _, b in zip(range(5), dl))
    shutil.rmtree(run.parent / "_pad8", ignore_errors=True)
    return ok


def _has_flash_attn() -> bool:
    try:
        import flash_attn  # noqa: F401
        return True
    except Exception: return False


def check_lm_packed(p: Plan, state: dict) -> dict:
    import transformers
    attn = "flash_attention_2" if p.device == "cuda" and _has_flash_attn() else "sdpa"
    orig = transformers.AutoModelForCausalLM.from_pretrained
    def with_attn(*a, **kw):                      # the check's own switch: the lab itself loads with transformers' default
        kw.setdefault("attn_implementation", attn); return orig(*a, **kw)
    transformers.AutoModelForCausalLM.from_pretrained = with_attn
    peak_memory_reset(p.device)
    try:
        res = train(p.cfg("lm-packed", task="causal-lm", model=p.lm_model, data="rotten_tomatoes", packing="flatten", max_length=256,
                          max_train_samples=p.rows["lm"]), progress=False, quiet=True)
    finally: transformers.AutoModelForCausalLM.from_pretrained = orig
    return {**run_figures(res, state.get("peak")), "attn_implementation": attn, "test_perplexity": res.results["test"].get("perplexity")}


def check_sft(p: Plan, state: dict) -> dict:
    peak_memory_reset(p.device)
    res = train(p.cfg("sft", task="sft", model=p.lm_model, data="bbc_headlines", max_train_samples=p.rows["sft"], max_new_tokens=8,
                      eval_steps=10_000, save_steps=10_000), progress=False, quiet=True)
    f = run_figures(res, state.get("peak"))
    state["sft"] = f
    return f


CHATML = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def check_trl_peer(p: Plan, state: dict) -> dict:
    "TRL's SFTTrainer, default SFTConfig, the same training rows as `sft`: real tokens/s and the ratio."
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    datasets.disable_progress_bars()
    rows = prepare(p.cfg("sft", task="sft", model=p.lm_model, data="bbc_headlines", max_train_samples=p.rows["sft"]))["train"]
    path = resolve_model(p.lm_model)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.chat_template is None: tok.chat_template = CHATML       # the tiny dry-run tokenizer has none
    model = AutoModelForCausalLM.from_pretrained(path)
    ds = datasets.Dataset.from_dict({"prompt": [list(m) for m in rows["messages"]],
                                     "completion": [[{"role": "assistant", "content": c}] for c in rows["completion"]]})
    peak_memory_reset(p.device)
    args = SFTConfig(output_dir=str(p.out / "trl"), report_to=[], save_strategy="no", disable_tqdm=True, num_train_epochs=1,
                     use_cpu=p.device == "cpu", **({"bf16": False} if p.dry else {}))
    tr = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    real = sum(len(x) for x in tr.train_dataset["input_ids"])
    t = time.perf_counter(); tr.train(); secs = time.perf_counter() - t
    mem = torch.cuda.max_memory_allocated() / 2**20 if p.device == "cuda" else None
    tps = real / secs
    lab = state.get("sft")
    return dict(tokens=real, train_seconds=round(secs, 2), tokens_per_second=round(tps, 1), peak_memory_mb=mem and round(mem, 1),
                bf16=args.bf16, activation_checkpointing=getattr(args, "activation_checkpointing", None), batch_size=args.per_device_train_batch_size,
                lab_over_trl=round(lab["tokens_per_second"] / tps, 2) if lab else None)


def check_oom(p: Plan, state: dict) -> dict:
    "A real out-of-memory at step 3 (CUDA: an allocation larger than the GPU), once: the lab halves the batch and goes on."
    from transformers import TrainerCallback
    class OOMOnce(TrainerCallback):
        fired = False
        def on_step_end(self, args, state_, control, **kw):
            if state_.global_step == 3 and not OOMOnce.fired:
                OOMOnce.fired = True
                if p.device == "cuda":
                    free, total = torch.cuda.mem_get_info()
                    torch.empty(int(total * 2), dtype=torch.uint8, device="cuda")     # raises torch.OutOfMemoryError
                raise torch.OutOfMemoryError("dry run: out of memory raised by the check")
    res = train(p.cfg("oom", model=p.cls_model, data="rotten_tomatoes", max_train_samples=p.rows["oom"], save_steps=2, eval_steps=2),
                progress=False, quiet=True, callbacks=[OOMOnce()])
    events = [json.loads(l) for l in (res.path / "metrics.jsonl").read_text().splitlines() if l.strip()]
    oom = [e for e in events if e.get("event") == "oom"]
    cfg = TrainConfig.load(res.path / "config.yaml")
    status = json.loads((res.path / "status.json").read_text())["state"]
    if not OOMOnce.fired or len(oom) != 1: raise AssertionError(f"expected one out-of-memory event, saw {len(oom)}")
    if (cfg.batch_size, cfg.grad_accum) != (p.batch // 2, 2) or status != "finished":
        raise AssertionError(f"after the OOM: batch_size {cfg.batch_size}, grad_accum {cfg.grad_accum}, status {status}")
    return dict(message=oom[0]["message"], batch_size=cfg.batch_size, grad_accum=cfg.grad_accum, status=status,
                steps=res.results["train"]["steps"], test_accuracy=res.results["test"].get("accuracy"))


def check_accelerate(p: Plan, state: dict) -> dict:
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    ftlab = shutil.which("ftlab", path=str(Path(sys.executable).parent)) or shutil.which("ftlab")
    if not launcher or not ftlab: raise AssertionError("accelerate or ftlab is not on PATH")
    cmd = [launcher, "launch", "--num_processes", "1", "--num_machines", "1", "--dynamo_backend", "no",
           "--mixed_precision", "no", *(["--cpu"] if p.device == "cpu" else []), ftlab, "train", "--model", p.cls_model,
           "--data", "rotten_tomatoes", "--max-train-samples", str(p.rows["cls"]), "--max-eval-samples", str(p.rows["eval"]),
           "--epochs", "1", "--batch-size", str(p.batch), "--precision", p.precision, "--device", p.device,
           "--output-dir", str(p.out / "runs"), "--run-name", "accelerate", "--quiet"]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=420, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t
    if out.returncode: raise AssertionError(f"accelerate launch failed ({out.returncode}):\n{out.stderr[-2000:]}")
    res = json.loads((p.out / "runs" / "accelerate" / "results.json").read_text())
    f = dict(wall_s=round(wall, 1), steps=res["train"]["steps"], tokens_per_second=res["train"]["tokens_per_second"],
             test_accuracy=res["test"].get("accuracy"))
    if "cls" in state:
        f["vs_plain_process"] = round(f["tokens_per_second"] / state["cls"]["tokens_per_second"], 2)
        if f["steps"] != state["cls"]["steps"]: raise AssertionError(f"{f['steps']} steps under accelerate, {state['cls']['steps']} without")
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="the CPU, tiny models, a few rows: the check of the check (CI)")
    ap.add_argument("--out", default=None, help="folder for the runs and gpu_check.json (default: a temporary one)")
    ap.add_argument("--only", default=",".join(CHECKS), help="comma-separated checks to run: " + ",".join(CHECKS))
    a = ap.parse_args()
    if not a.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run with --dry-run to check the script on the CPU")
    out = Path(a.out or tempfile.mkdtemp(prefix="gpu-check-")); out.mkdir(parents=True, exist_ok=True)
    p, state, report = Plan(a.dry_run, out), {}, {}
    print(f"gpu check ({'dry run, CPU' if a.dry_run else torch.cuda.get_device_name()}); torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}; folder {out}", flush=True)
    t_all = time.perf_counter()
    for name in [c for c in CHECKS if c in a.only.split(",")]:
        t = time.perf_counter()
        try:
            fig = globals()["check_" + name.replace("-", "_")](p, state)
            report[name] = dict(ok=True, seconds=round(time.perf_counter() - t, 1), **fig)
        except Exception as e:
            report[name] = dict(ok=False, seconds=round(time.perf_counter() - t, 1), error=f"{type(e).__name__}: {e}",
                                traceback=traceback.format_exc()[-3000:])
        r = report[name]
        print(f"[{'ok' if r['ok'] else 'FAILED'}] {name} ({r['seconds']} s): "
              + (", ".join(f"{k}={v}" for k, v in r.items() if k not in ("ok", "seconds", "timings", "run", "traceback"))), flush=True)
    if report.get("peak", {}).get("ok"):
        # the peak again, after the runs: a machine busier during one measurement (a shared CPU) would otherwise put a run's
        # FLOP/s over its "peak"; the higher of the two is the machine's, and every MFU is against it
        again = measure_peak(p)
        if again > state["peak"]:
            state["peak"] = again
            report["peak"].update(measured_peak=float(f"{again:.4g}"), measured_again_after_runs=True)
            for r in report.values():
                if isinstance(r, dict) and r.get("flops_per_second"): r["mfu_measured_peak"] = round(r["flops_per_second"] / again, 4)
    report["total_seconds"] = round(time.perf_counter() - t_all, 1)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    print("\n| check | ok | seconds | real tokens/s | MFU (measured peak) | MFU (data sheet) | peak memory MB |\n|---|---|---|---|---|---|---|")
    for name, r in report.items():
        if not isinstance(r, dict): continue
        print(f"| {name} | {'yes' if r['ok'] else 'NO'} | {r['seconds']} | {r.get('tokens_per_second', '')} | "
              f"{r.get('mfu_measured_peak') or ''} | {r.get('mfu_datasheet') or ''} | {r.get('peak_memory_mb') or ''} |")
    print(f"total {report['total_seconds']} s; gpu_check.json in {out}")
    sys.exit(0 if all(r["ok"] for r in report.values() if isinstance(r, dict)) else 1)


if __name__ == "__main__":
    main()
