"""Issue 21: how fast the knob lab answers, and what the data map costs a run.

1. Opening the shipped knob set and building the widget, and replaying a move (every point of the set, in turn):
   wall times, against training the base point for real (its recorded `runtime_s`, measured when the set was built).
2. A quick MiniLM run with the data map at its default (automatic: a quarter of the training split, 64 to 512 rows)
   against the same run with it off (`data_map=0`), interleaved,
   `--repeats` times: training wall ratio (same run, same machine, same moment).

    python bench/bench_teaching.py [--repeats 2] [--train-samples 512] [--epochs 2] [--skip-map]
"""
import argparse, os, statistics, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def knob_lab_speed():
    t0 = time.perf_counter()
    from fine_tune_lab.knobs import KnobSet
    from fine_tune_lab.ui.knobs import KnobLab
    ks = KnobSet("rotten_tomatoes")
    lab = KnobLab(ks)
    opened = time.perf_counter() - t0
    moves = []
    for p in ks.points:
        moved = next((k for k in ks.knobs if p["settings"][k] != ks.base[k]), "learning_rate")
        t = time.perf_counter()
        lab.settings = dict(p["settings"]); lab.moved = moved; lab.redraw(range_too=True)
        moves.append(time.perf_counter() - t)
    base = ks.point({})["results"]["train"]["runtime_s"]
    return dict(opened_s=opened, move_ms_median=1000 * statistics.median(moves), move_ms_max=1000 * max(moves), points=len(moves),
                base_training_s=base, replay_vs_training=base / statistics.median(moves))


def map_overhead(repeats, train_samples, epochs):
    from fine_tune_lab.config import TrainConfig
    from fine_tune_lab.train import train
    out = Path(tempfile.mkdtemp(prefix="bench-map-"))
    cfg = TrainConfig(model="minilm", data="rotten_tomatoes", max_train_samples=train_samples, max_eval_samples=200, epochs=epochs,
                      max_length=64, eval_samples=0, baseline=False, output_dir=str(out), save_total_limit=1)
    times = {0: [], None: []}
    for i in range(repeats):
        for dm in (0, None):
            t = time.perf_counter()
            r = train(cfg.replace(data_map=dm, run_name=f"dm{dm}-{i}"), progress=False, quiet=True)
            times[dm].append((time.perf_counter() - t, r.results["train"]["runtime_s"], r.results["test"]["accuracy"]))
    import shutil; shutil.rmtree(out, ignore_errors=True)
    med = lambda xs, j: statistics.median(x[j] for x in xs)
    return dict(off_wall=med(times[0], 0), on_wall=med(times[None], 0), off_train=med(times[0], 1), on_train=med(times[None], 1),
                acc_off=med(times[0], 2), acc_on=med(times[None], 2))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2); ap.add_argument("--train-samples", type=int, default=512)
    ap.add_argument("--epochs", type=float, default=2); ap.add_argument("--skip-map", action="store_true")
    a = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    k = knob_lab_speed()
    print(f"knob lab: opened in {k['opened_s']:.2f} s (imports included); a move replays in {k['move_ms_median']:.0f} ms median, "
          f"{k['move_ms_max']:.0f} ms worst, over {k['points']} points; training the base point took {k['base_training_s']:.1f} s "
          f"-> replay is {k['replay_vs_training']:,.0f}x faster than running it")
    if not a.skip_map:
        m = map_overhead(a.repeats, a.train_samples, a.epochs)
        from fine_tune_lab.tasks import map_rows
        print(f"data map ({a.train_samples} train rows, {a.epochs:g} epochs, automatic sample of {map_rows(a.train_samples)} rows, medians of {a.repeats}): "
              f"trainer.train() {m['off_train']:.1f} s off, "
              f"{m['on_train']:.1f} s on -> ratio {m['on_train'] / m['off_train']:.3f}; whole run {m['off_wall']:.1f} s vs {m['on_wall']:.1f} s "
              f"-> {m['on_wall'] / m['off_wall']:.3f}; test accuracy {m['acc_off']:.3f} vs {m['acc_on']:.3f} (the map only reads the model)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
