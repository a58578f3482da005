"""Faults a real user meets, on real processes and a real small filesystem (a tmpfs, mounted when the tests run as root):
the disk fills while training, exporting, cleaning or labelling; a sweep's worker is killed; two people (or two kernels,
two trainings, two sweeps) work at once; a cache goes bad. Each test asserts the message (never a traceback), that nothing
complete was lost, and, where there is one, that the resume is exact."""
import json
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from safetensors.torch import load_file

FTLAB = str(Path(sys.executable).with_name("ftlab"))


@pytest.fixture
def small_disk(tmp_path):
    "A 16 MB tmpfs (root only; skipped where mounting is not allowed)."
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not allowed here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(mnt, leave:int=0):
    "Fill the small filesystem until only about `leave` bytes are free; returns the filler file (delete it to free space)."
    f = mnt / ".filler"
    with open(f, "ab") as h:
        try:
            while (room := shutil.disk_usage(mnt).free - leave) > 0:
                h.write(b"\0" * min(room, 2**20)); h.flush()
        except OSError: pass
    return f


def _train(*args, env=None):
    return subprocess.run([FTLAB, "train", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_disk_full_during_training_then_exact_resume(tmp_path, small_disk, tiny_bert, reviews_csv):
    common = ["--model", tiny_bert, "--data", str(reviews_csv), "--epochs", "2", "--save-steps", "2", "--batch-size", "8",
              "--max-train-samples", "48", "--precision", "fp32", "--eval-samples", "0", "--no-baseline", "--run-name", "r", "--quiet"]
    full = _train(*common, "--output-dir", str(small_disk / "runs"))
    assert full.returncode == 1, full.stderr[-2000:]
    err = full.stderr
    assert "Traceback" not in err, err[-3000:]
    assert "free in" in err and "checkpoints" in err                           # warned before training started
    assert "the disk is full" in err and "checkpoint-2, is safe" in err and f"--resume {small_disk / 'runs' / 'r'}" in err
    run = small_disk / "runs" / "r"
    assert "disk is full" in (run / "status.json").read_text() or not (run / "status.json").read_text().strip()
    assert (run / "checkpoints" / "checkpoint-2" / ".complete").exists()

    subprocess.run(["mount", "-o", "remount,size=400m", str(small_disk)], check=True)   # space freed
    resumed = subprocess.run([FTLAB, "train", "--resume", str(run), "--quiet"], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = _train(*common, "--output-dir", str(tmp_path / "runs"))
    assert straight.returncode == 0, straight.stderr[-3000:]
    a, b = load_file(run / "model" / "model.safetensors"), load_file(tmp_path / "runs" / "r" / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)       # bit-identical on CPU


def _ftlab(*args, timeout=600, **kw):
    return subprocess.run([FTLAB, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}, **kw)


def _plain(err: str):
    assert "Traceback" not in err and "SafetensorError" not in err, err[-3000:]


def test_export_and_clean_output_on_a_full_disk(tmp_path, small_disk, tiny_bert, reviews_csv):
    done = _train("--model", tiny_bert, "--data", str(reviews_csv), "--epochs", "1", "--max-train-samples", "16", "--eval-samples", "0",
                  "--no-baseline", "--precision", "fp32", "--output-dir", str(tmp_path / "runs"), "--run-name", "r", "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "runs" / "r"
    before = {p.name: p.read_bytes() for p in (run / "model").iterdir()}
    first = _ftlab("export", str(run), "--out", str(small_disk / "exp"))
    assert first.returncode == 0, first.stderr[-2000:]
    earlier = {p.name: p.read_bytes() for p in (small_disk / "exp").iterdir()}

    filler = fill(small_disk, leave=64 * 1024)
    again = _ftlab("export", str(run), "--out", str(small_disk / "exp"), "--force")
    assert again.returncode == 1, again.stderr[-2000:]
    _plain(again.stderr)
    assert "the disk is full" in again.stderr and "this write needs about" in again.stderr
    assert "the earlier export there is unchanged" in again.stderr and f"the run {run} is unchanged" in again.stderr
    assert {p.name: p.read_bytes() for p in (small_disk / "exp").iterdir()} == earlier     # the earlier export is whole
    assert not [p for p in small_disk.iterdir() if p.name.startswith(".exp.")]             # no half export left behind
    assert {p.name: p.read_bytes() for p in (run / "model").iterdir()} == before

    big = tmp_path / "big.csv"                                                             # more rows than the free space holds
    pd.DataFrame({"text": [f"review {i}: " + "a fine, long film " * 8 for i in range(2000)], "label": ["pos", "neg"] * 1000}).to_csv(big, index=False)
    data = big.read_bytes()
    clean = _ftlab("data", "clean", str(big), "--out", str(small_disk / "clean"))
    assert clean.returncode == 1, clean.stderr[-2000:]
    _plain(clean.stderr)
    assert "the disk is full" in clean.stderr and "nothing was written to" in clean.stderr and "your data is unchanged" in clean.stderr
    assert not (small_disk / "clean").exists() and big.read_bytes() == data

    filler.unlink()                                                                        # space freed: the same commands work
    (small_disk / ".exp2.k1ll3d").mkdir()                                                  # what a killed export leaves
    ok = _ftlab("export", str(run), "--out", str(small_disk / "exp2"))
    assert ok.returncode == 0 and (small_disk / "exp2" / "README.md").exists(), ok.stderr[-2000:]
    assert f"note: {small_disk / '.exp2.k1ll3d'} is left over from an interrupted export; it is not used" in ok.stderr
    ok = _ftlab("data", "clean", str(big), "--out", str(small_disk / "clean"))
    assert ok.returncode == 0 and (small_disk / "clean" / "recipe.yaml").exists(), ok.stderr[-2000:]


def test_labels_and_summaries_on_a_full_disk(small_disk):
    from fine_tune_lab.core import DiskFullError, atomic_write
    from fine_tune_lab.label import LabelStore
    store = LabelStore(small_disk, "ann")
    for row in range(3): store.record("label", row, label="pos")
    summary = atomic_write(small_disk / "summary.csv", "id,status\na,finished\n")
    log = store.log.path
    size, text = log.stat().st_size, summary.read_text()
    filler = fill(small_disk)
    with pytest.raises(DiskFullError, match="this record was not saved; the 3 before it are safe"):
        store.record("label", 3, label="neg", note="x" * 20_000)           # more than the last page of the file holds
    assert log.stat().st_size == size and len(store.log.read(strict=True)) == 3   # no torn line: the file ends as it was
    with pytest.raises(DiskFullError, match="summary.csv was not changed"):
        atomic_write(summary, "id,status\n" + "b,finished\n" * 10_000)
    assert summary.read_text() == text and not [p for p in small_disk.iterdir() if p.name.endswith(".tmp")]
    filler.unlink()
    store.record("label", 3, label="neg")
    assert [r["item"] for r in store.log.read(strict=True)] == [0, 1, 2, 3]


@pytest.fixture
def sweep_grid(tmp_path, tiny_bert, reviews_csv):
    spec = {"base": {"model": tiny_bert, "data": str(reviews_csv), "epochs": 6, "max_train_samples": 48, "batch_size": 4, "save_steps": 3,
                     "eval_samples": 0, "baseline": False, "precision": "fp32", "save_total_limit": 2},
            "grid": {"learning_rate": [1e-4, 2e-4]}}
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def _wait(cond, timeout=240, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (v := cond()): return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sweep_worker_killed_is_interrupted_then_resumed_and_a_second_sweep_is_refused(tmp_path, sweep_grid):
    out = tmp_path / "sw"
    sweep = subprocess.Popen([FTLAB, "sweep", "train", "--grid", str(sweep_grid), "--out", str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    def running():
        for st in out.glob("runs/*/run/status.json"):
            s = json.loads(st.read_text())
            if s.get("state") == "running" and list(st.parent.glob("checkpoints/checkpoint-*/.complete")): return st.parent, s["pid"]
    try:
        victim, pid = _wait(running, what="a run with a complete checkpoint")
        second = _ftlab("sweep", "train", "--grid", str(sweep_grid), "--out", str(out))
        assert second.returncode == 2 and "another sweep is running in this folder (pid" in second.stderr, second.stderr[-2000:]
        os.kill(pid, signal.SIGKILL)                                                   # the worker dies mid-run
        stdout, stderr = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None: sweep.kill()
    assert sweep.returncode == 1, stderr[-2000:]
    _plain(stderr)
    df = pd.read_csv(out / "summary.csv")
    vid = victim.parent.name
    assert dict(zip(df["id"], df["status"])) == {vid: "interrupted", **{i: "finished" for i in df["id"] if i != vid}}
    assert "1 of 2 runs finished" in stdout and "interrupted: " + vid in stdout and "resumes it from checkpoint-" in stdout
    other = next(p for p in out.glob("runs/*/run") if p != victim)
    finished_at = (other / "results.json").stat().st_mtime_ns

    again = _ftlab("sweep", "train", "--grid", str(sweep_grid), "--out", str(out))
    assert again.returncode == 0, again.stderr[-2000:] + again.stdout[-2000:]
    assert "2 of 2 runs finished" in again.stdout
    assert (other / "results.json").stat().st_mtime_ns == finished_at                # the finished run was skipped
    log = (victim.parent / "log.txt").read_text()
    assert "--- attempt started" in log and "--- attempt resumed from checkpoint-" in log
    assert any(m.get("event") == "resume" for m in map(json.loads, (victim / "metrics.jsonl").read_text().splitlines()))
    steps = json.loads((victim / "results.json").read_text())["train"]["steps"]
    assert steps == json.loads((other / "results.json").read_text())["train"]["steps"] == 6 * 48 // 4


def test_two_annotators_and_one_annotator_in_two_kernels_lose_no_decision(tmp_path):
    worker = str(Path(__file__).with_name("label_worker.py"))
    n = 500
    procs = {name: subprocess.Popen([sys.executable, worker, str(tmp_path / "q"), str(n), ann], stdout=subprocess.PIPE, text=True)
             for name, ann in (("kernel 1", "ann"), ("kernel 2", "ann"), ("other", "bob"))}
    printed = {k: p.communicate(timeout=300)[0].split() for k, p in procs.items()}
    assert all(p.returncode == 0 for p in procs.values())
    from fine_tune_lab.store import AppendLog
    ann = AppendLog(tmp_path / "q" / "labels" / "ann.jsonl").read(strict=True)      # strict: a torn or interleaved line fails
    bob = AppendLog(tmp_path / "q" / "labels" / "bob.jsonl").read(strict=True)
    assert len(ann) == len(printed["kernel 1"]) + len(printed["kernel 2"]) and len(bob) == len(printed["other"]) == n
    assert sorted(r["item"] for r in ann) == sorted(int(x) for x in printed["kernel 1"] + printed["kernel 2"])
    assert all((r.get("note") or "") == "x" * (r["item"] % 50) for r in ann + bob)                 # every record whole
    assert max(ann[0]["ts"], bob[0]["ts"]) < min(ann[-1]["ts"], bob[-1]["ts"])          # they really wrote at the same time


def test_two_trainings_started_in_the_same_second_get_their_own_folders(tmp_path, tiny_bert, reviews_csv):
    args = ["train", "--model", tiny_bert, "--data", str(reviews_csv), "--epochs", "1", "--max-train-samples", "16", "--eval-samples", "0",
            "--no-baseline", "--output-dir", str(tmp_path / "runs"), "--run-name", "same", "--quiet"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    ps = [subprocess.Popen([FTLAB, *args], stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in ps]
    assert [p.returncode for p in ps] == [0, 0], errs
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["same", "same-2"]
    assert all(json.loads((tmp_path / "runs" / r / "status.json").read_text())["state"] == "finished" for r in runs)
    assert len({json.loads((tmp_path / "runs" / r / "status.json").read_text())["pid"] for r in runs}) == 2


def test_a_token_stats_cache_cut_short_or_from_another_tokenizer_is_rebuilt(tmp_path, monkeypatch, capsys, tiny_bert, tiny_llama):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))
    from fine_tune_lab.models import load_tokenizer
    from fine_tune_lab.token_audit import _key, token_stats
    bert, llama = load_tokenizer(tiny_bert), load_tokenizer(tiny_llama)
    texts = [f"review number {i}: " + "good " * (i % 13) for i in range(300)]
    want = token_stats(texts, bert, cache=False)["length"]
    assert token_stats(texts, bert)["length"] == want
    f = tmp_path / "cache" / "token_stats" / f"{_key(texts, bert)}.arrow"
    assert f.exists() and "token-stats cache" not in capsys.readouterr().err

    token_stats(texts, llama)                                                # another tokenizer's file under this key
    shutil.copy(tmp_path / "cache" / "token_stats" / f"{_key(texts, llama)}.arrow", f)
    assert token_stats(texts, bert)["length"] == want
    assert "is from another tokenizer (its lengths differ): tokenising again" in capsys.readouterr().err

    with open(f, "r+b") as h: h.truncate(f.stat().st_size // 2)              # cut short
    assert token_stats(texts, bert)["length"] == want
    assert "tokenising again" in capsys.readouterr().err
    assert token_stats(texts, bert)["length"] == want and "tokenising again" not in capsys.readouterr().err   # whole again


def test_a_damaged_converted_gguf_in_the_cache_is_converted_again(tmp_path, monkeypatch, capsys, tiny_llama):
    """The conversion itself (transformers dequantising a GGUF file) is replaced by saving a tiny model, so this checks the
    cache's checks and rebuild in a second rather than a 40-second conversion; `nbs/04_models` converts the real SmolLM2 file."""
    import fine_tune_lab.models as models
    from transformers import AutoModelForCausalLM, AutoTokenizer
    calls = []
    def dequantise(gguf, folder):
        calls.append(gguf)
        AutoModelForCausalLM.from_pretrained(tiny_llama).save_pretrained(folder); AutoTokenizer.from_pretrained(tiny_llama).save_pretrained(folder)
    monkeypatch.setattr(models, "_dequantise", dequantise)
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "tiny.Q4.gguf"; gguf.write_bytes(b"GGUF" + b"\0" * 1000)
    dest = models.convert_gguf(gguf)
    assert models.converted_problem(dest) is None and models.convert_gguf(gguf) == dest and len(calls) == 1   # reused while whole
    w = dest / "model.safetensors"
    with open(w, "r+b") as h: h.truncate(w.stat().st_size - 4096)              # a copy cut short
    capsys.readouterr()
    assert models.convert_gguf(gguf) == dest and len(calls) == 2
    assert f"The converted model in {dest} is damaged (model.safetensors is" in capsys.readouterr().err
    assert models.converted_problem(dest) is None
    AutoModelForCausalLM.from_pretrained(dest)                                  # loads

    mine = tmp_path / "mine"; mine.mkdir(); (mine / "config.json").write_text("{}"); (mine / "notes.txt").write_text("keep")
    with pytest.raises(models.LabError, match="not a whole converted model"):   # a folder the user made is never removed
        models.convert_gguf(gguf, mine)
    assert (mine / "notes.txt").read_text() == "keep"


def test_converting_a_gguf_into_a_full_cache_says_so(tmp_path, small_disk, monkeypatch, tiny_llama):
    import fine_tune_lab.models as models
    from fine_tune_lab.core import DiskFullError
    from transformers import AutoModelForCausalLM
    monkeypatch.setattr(models, "_dequantise", lambda gguf, folder: AutoModelForCausalLM.from_pretrained(tiny_llama).save_pretrained(folder))
    monkeypatch.setenv("FTLAB_CACHE", str(small_disk / "cache"))
    gguf = tmp_path / "tiny.Q4.gguf"; gguf.write_bytes(b"GGUF" + b"\0" * 1000)
    (small_disk / "cache" / "models").mkdir(parents=True)
    fill(small_disk, leave=16 * 1024)
    with pytest.raises(DiskFullError, match="nothing was kept in the cache") as e:
        models.convert_gguf(gguf, verbose=False)
    assert "FTLAB_CACHE" in str(e.value) and list((small_disk / "cache" / "models").iterdir()) == []
