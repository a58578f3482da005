"""Where a quick run's time goes: `ftlab train` end to end, phase by phase (issue 20).

Each job runs as a user runs it — `ftlab train ...` in a fresh process, in a temporary folder — and is timed
from outside (wall, the first line it prints, the first progress line). The phases come from the run's own
`results.json` ("timings": imports, data, model, tokenize, train = the optimisation steps, evaluate,
checkpoints, data map, baseline, save); "startup" is the wall time outside them (the interpreter, the CLI,
the config). Jobs:

  quick   ftlab train --max-train-samples 200 --epochs 1      (target: wall <= 2x the train phase)
  main    ftlab train                                          (the main job on the embedded default)

Also `ftlab --help` and `ftlab --version` (target: under 1 s). Medians over --repeats.

Usage: python bench/bench_quick_run.py [--repeats R] [--skip-main] [--ftlab PATH]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time
from pathlib import Path

JOBS = {"quick": ["train", "--max-train-samples", "200", "--epochs", "1"], "main": ["train"]}


def run_job(ftlab: str, args: list, folder: Path) -> dict:
    "One `ftlab` process: wall, seconds to its first output line and to its first progress line, the run's timings."
    t0 = time.perf_counter()
    p = subprocess.Popen([ftlab, *args, "--output-dir", str(folder / "runs")], cwd=folder, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    first, progress, tail = None, None, []
    def read():
        nonlocal first, progress
        buf = ""
        while (ch := p.stdout.read(1)):              # tqdm redraws with \r: read characters, not lines
            buf += ch
            if ch in "\r\n":
                line, buf = buf.strip(), ""
                if not line: continue
                now = time.perf_counter() - t0
                first = first if first is not None else now
                if progress is None and ("it/s]" in line or "s/it]" in line): progress = now
                tail.append(line); del tail[:-5]
    th = threading.Thread(target=read); th.start()
    rc = p.wait(); th.join()
    wall = time.perf_counter() - t0
    if rc: raise SystemExit(f"ftlab {' '.join(args)} failed ({rc}):\n" + "\n".join(tail))
    res = json.loads(next((folder / "runs").glob("*/results.json")).read_text())
    return dict(wall=wall, first_line=first, first_progress=progress, timings=res["timings"], steps=res["train"]["steps"])


def cli_seconds(ftlab: str, arg: str, repeats: int) -> float:
    "Median wall seconds of `ftlab ARG` (a fresh process each time)."
    out = []
    for _ in range(repeats):
        t = time.perf_counter(); subprocess.run([ftlab, arg], capture_output=True, check=True); out.append(time.perf_counter() - t)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-main", action="store_true", help="only the quick run")
    ap.add_argument("--ftlab", default=str(Path(sys.executable).with_name("ftlab")) if Path(sys.executable).with_name("ftlab").exists()
                    else shutil.which("ftlab"), help="the ftlab to time (default: the one beside this Python)")
    a = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; {a.ftlab}", flush=True)
    for arg in ("--help", "--version"):
        s = cli_seconds(a.ftlab, arg, 5)
        print(f"ftlab {arg}: {s:.2f} s (median of 5; target < 1 s: {'met' if s < 1 else 'NOT met'})", flush=True)
    jobs = {k: v for k, v in JOBS.items() if not (a.skip_main and k == "main")}
    for name, args in jobs.items():
        runs = []
        for rep in range(a.repeats):
            with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as d:
                runs.append(run_job(a.ftlab, args, Path(d)))
            print(f"{name} {rep + 1}/{a.repeats}: wall {runs[-1]['wall']:.1f} s, train {runs[-1]['timings'].get('train', 0):.1f} s", flush=True)
        med = lambda f: statistics.median(f(r) for r in runs)
        wall = med(lambda r: r["wall"])
        phases = [k for k in runs[0]["timings"] if k != "total"]
        rows = {k: med(lambda r, k=k: r["timings"].get(k, 0.0)) for k in phases}
        rows["startup (interpreter, CLI, config)"] = med(lambda r: r["wall"] - r["timings"]["total"])
        print(f"\n### {name}: ftlab {' '.join(args)} ({runs[0]['steps']} steps; medians of {a.repeats})\n")
        print("| phase | seconds | share of wall |\n|---|---|---|")
        for k, v in sorted(rows.items(), key=lambda kv: -kv[1]):
            print(f"| {k} | {v:.2f} | {v / wall:.0%} |")
        print(f"| **wall** | **{wall:.2f}** | 100% |")
        train = rows.get("train", 0.0)
        print(f"\nfirst output line after {med(lambda r: r['first_line']):.2f} s, first progress line after "
              f"{med(lambda r: r['first_progress'] or float('nan')):.2f} s; wall / train phase = {wall / train:.2f}x"
              + (" (target <= 2x: " + ("met" if wall <= 2 * train else "NOT met") + ")" if name == "quick" else ""), flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
