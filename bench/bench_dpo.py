"""The preference loop on BBC headlines (2 CPU cores) with the scripted judge standing in for people.

An SFT run of SmolLM2 (or `--sft-run`) samples two candidate headlines for `--pairs` training stories it did not
see; the scripted judge (prefers the candidate with the higher ROUGE-L against the real headline, recorded as
`scripted-judge`) judges them blind; DPO (TRL's DPOTrainer, LoRA) trains on the judgements. Printed:

1. held-out preference accuracy before -> after (DPO's implicit reward margin > 0; the start is 0.5 by
   construction) and the log-likelihood accuracy of the start and the tuned model. Target: after >= 0.70 and
   >= before + 0.15.
2. the scripted judge's win rate of the tuned model over its start on the held-out re-test prompts, with its
   Wilson interval. Target: the interval above 0.5.
3. wall time and peak memory of LoRA-DPO against full-model DPO (a second model as the reference), same pairs,
   same run of this script.

Usage: python bench/bench_dpo.py [--sft-run RUN] [--pairs 200] [--skip-full]
"""
import argparse, json, os, shlex, subprocess, sys, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.dpo import sample_candidates
from fine_tune_lab.human import ab_table, judgements, scripted_judgements
from fine_tune_lab.prepare import prepare
from fine_tune_lab.train import train


def main(a):
    out = Path(a.out or tempfile.mkdtemp(prefix="bench-dpo-"))
    print(f"load average at start: {os.getloadavg()[0]:.2f}; runs in {out}", flush=True)
    t0 = time.time()
    sft_cfg = TrainConfig(task="sft", max_train_samples=a.sft_rows, epochs=1, learning_rate=1e-4, max_new_tokens=24, max_eval_samples=32,
                          eval_samples=0, output_dir=str(out))
    sft = a.sft_run or str(train(sft_cfg, progress=False, quiet=True).path)
    print(f"SFT start: {sft} ({time.time() - t0:.0f} s)", flush=True)
    start = TrainConfig.load(Path(sft) / "config.yaml")
    used = set(prepare(start)["train"]["row"])
    pool = prepare(start.replace(max_train_samples=None, max_eval_samples=None))["train"]
    fresh = pool[~pool["row"].isin(used)].head(a.pairs).rename(columns={"completion": "reference"})
    t = time.time()
    session = sample_candidates(sft, fresh, out / "ab" / "candidates")
    judged = scripted_judgements(session)
    print(f"candidates for {len(fresh)} stories, judged by the scripted judge: {judged} ({time.time() - t:.0f} s)", flush=True)
    res = {}
    for name, lora in [("lora", True)] + ([] if a.skip_full else [("full", False)]):
        cfg = TrainConfig(task="dpo", model=sft, data=str(session), lora=lora, beta=a.beta, learning_rate=a.lr if lora else a.lr / 10,
                          epochs=a.epochs, batch_size=8, max_new_tokens=24, val_size=0.1, test_size=0.25, eval_samples=0,
                          output_dir=str(out), run_name=f"dpo-{name}")
        t = time.time()     # each DPO run in its own process: its peak memory is its own
        subprocess.run([str(Path(sys.executable).with_name("ftlab")), "train", "--quiet", *shlex.split(cfg.to_command())[2:]], check=True)
        r = json.loads((out / f"dpo-{name}" / "results.json").read_text())
        res[name] = dict(wall_s=round(time.time() - t, 1), train_s=r["train"]["runtime_s"], peak_memory_mb=r["train"]["peak_memory_mb"],
                         trainable=r["params"]["trainable"], before=r["before"], after=r["after"], retest=r.get("retest"), pairs=r["sizes"])
        print(f"DPO {name}: {json.dumps(res[name], indent=1)}", flush=True)
    b, af = res["lora"]["before"], res["lora"]["after"]
    print(f"\npreference accuracy (held-out pairs, {af['pairs']}): {b['pref_accuracy']:.3f} -> {af['pref_accuracy']:.3f} "
          f"(95% CI {af['pref_accuracy_low']:.3f}-{af['pref_accuracy_high']:.3f}); target >= 0.70 and >= before + 0.15; "
          f"log-likelihood accuracy {b['loglik_accuracy']:.3f} -> {af['loglik_accuracy']:.3f}")
    retest = res["lora"]["retest"]
    scripted_judgements(retest)
    tab = ab_table(judgements(retest))
    row = tab.iloc[0].to_dict()
    print(f"re-test ({row['a']} vs {row['b']}), scripted judge: {json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})}")
    if "full" in res:
        l, f = res["lora"], res["full"]
        print(f"LoRA vs full DPO: wall {l['wall_s']} s vs {f['wall_s']} s ({f['wall_s'] / l['wall_s']:.2f}x), peak memory {l['peak_memory_mb']:.0f} MB "
              f"vs {f['peak_memory_mb']:.0f} MB ({f['peak_memory_mb'] / l['peak_memory_mb']:.2f}x); trainable {l['trainable']:,} vs {f['trainable']:,}")
    print(f"total {time.time() - t0:.0f} s; load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sft-run", help="a finished SFT run to start from (default: train one, --sft-rows rows)")
    ap.add_argument("--sft-rows", type=int, default=512); ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--beta", type=float, default=0.1); ap.add_argument("--lr", type=float, default=5e-5); ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--skip-full", action="store_true", help="skip the full-model DPO run"); ap.add_argument("--out")
    main(ap.parse_args())
