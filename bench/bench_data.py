"""Data cleaning and profiling speed on synthetic short texts (2 cores), with baselines measured in the same run.

1. exact-duplicate cleaning of 1,000,000 short texts (`clean_frame`: repair, strip HTML, normalise, match key,
   exact duplicates); target < 30 s. Baseline: pandas `drop_duplicates` on the raw strings (finds far fewer:
   no normalisation). Then every default step, near-duplicates included, on the same million.
2. near-duplicate detection on 100,000 texts: rows/s of the lab's MinHash signatures + numpy banding; against
   datasketch's `MinHashLSH` insert + query on the same signatures (20,000-text slice): time and pairs found.
3. profile of 100,000 rows (MiniLM token lengths, oddities, languages of a 5,000 sample); target < 10 s.
   Baseline: the same token lengths computed one text at a time (10,000 texts, scaled).

Usage: python bench/bench_data.py [--rows 1000000]
"""
import argparse, os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np, pandas as pd

from fine_tune_lab.clean import CleanConfig, clean_frame, minhash_signatures, near_duplicate_pairs, profile, shingles
from fine_tune_lab.data import prepare_frame

WORDS = ("film story actor plot scene director score music camera light dark funny sad long short slow fast great "
         "poor brilliant dull moving boring charming clumsy tense witty warm cold bright bold quiet loud").split()


def synthetic(n, seed=0):
    "Short reviews; ~8% exact duplicates (case/spacing variants), ~4% near-duplicates (one word changed)."
    rng = np.random.default_rng(seed)
    base = [" ".join(rng.choice(WORDS, rng.integers(6, 14))) for _ in range(n)]
    texts, labels = list(base), rng.choice(["pos", "neg"], n).tolist()
    for i in rng.choice(n, n // 12, replace=False):
        j = int(rng.integers(n)); texts[i] = "  " + base[j].upper() + " "; labels[i] = labels[j]
    for i in rng.choice(n, n // 25, replace=False):
        w = base[int(rng.integers(n))].split(); w[int(rng.integers(len(w)))] = str(rng.choice(WORDS)); texts[i] = " ".join(w)
    return pd.DataFrame({"text": texts, "label": labels})


def timed(f):
    t = time.perf_counter(); r = f(); return r, time.perf_counter() - t


def bench_exact(df, prep, rows):
    base, t_base = timed(lambda: df.drop_duplicates("text"))
    exact, t_exact = timed(lambda: clean_frame(prep, CleanConfig(near_duplicates=False, label_conflicts=False)))
    print(f"\n1. exact-duplicate cleaning of {rows:,} texts: {t_exact:.1f} s, removed {exact.counts['exact_duplicate']:,} "
          f"(target < 30 s: {'MET' if t_exact < 30 else 'NOT MET'})")
    print(f"   baseline pandas drop_duplicates on raw text: {t_base:.1f} s, removed {rows - len(base):,} "
          f"(time ratio lab/baseline {t_exact / t_base:.1f}x; the lab also repairs, normalises and ignores case/spacing)")
    full, t_full = timed(lambda: clean_frame(prep, CleanConfig()))
    print(f"   every default step (repair, HTML, normalise, conflicts, exact, near) on {rows:,}: {t_full:.1f} s "
          f"({rows / t_full:,.0f} rows/s); removed {sum(full.counts.values()):,}: {full.counts}")


def bench_near(texts):
    n = len(texts)
    sig, t_sig = timed(lambda: minhash_signatures(texts))
    pairs, t_band = timed(lambda: near_duplicate_pairs(sig, 0.85))
    print(f"\n2. near-duplicate detection on {n:,} texts: {n / (t_sig + t_band):,.0f} rows/s "
          f"(signatures {t_sig:.1f} s, banding + verification {t_band:.2f} s, {len(pairs):,} pairs >= 0.85)")
    import xxhash
    from datasketch import MinHash, MinHashLSH
    m = min(20_000, n)
    hs = MinHash.bulk([[x.encode() for x in shingles(t)] or [b""] for t in texts[:m]], num_perm=sig.shape[1], seed=1,
                      hashfunc=xxhash.xxh32_intdigest)                       # the same signatures, as datasketch objects
    assert all((h.hashvalues == sig[i]).all() for i, h in enumerate(hs[:100]))
    def lsh():
        idx = MinHashLSH(threshold=0.85, num_perm=sig.shape[1])
        with idx.insertion_session() as s:
            for i, h in enumerate(hs): s.insert(i, h)
        found = {(min(i, j), max(i, j)) for i, h in enumerate(hs) for j in idx.query(h) if j != i}
        return {p for p in found if (sig[p[0]] == sig[p[1]]).mean() >= 0.85}   # verified as the lab verifies
    found, t_lsh = timed(lsh)
    ours, t_ours = timed(lambda: near_duplicate_pairs(sig[:m], 0.85))
    print(f"   same signatures, {m:,} texts: datasketch MinHashLSH insert+query {t_lsh:.2f} s ({m / t_lsh:,.0f} rows/s, "
          f"{len(found):,} pairs), lab banding {t_ours:.2f} s ({m / t_ours:,.0f} rows/s, {len(ours):,} pairs): "
          f"{t_lsh / t_ours:.1f}x the speed, {len(ours) / max(1, len(found)):.2f}x the pairs")
    bench_recall()


def bench_recall(k=2000, seed=1):
    "Recall on planted pairs just above the threshold: 30-word texts whose last word differs (Jaccard 28/30 ≈ 0.93)."
    from datasketch import MinHash, MinHashLSH
    rng = np.random.default_rng(seed); vocab = [f"w{i}" for i in range(20_000)]
    a = [list(rng.choice(vocab, 30)) for _ in range(k)]
    texts = [" ".join(t) for t in a] + [" ".join(t[:-1] + ["changed"]) for t in a]
    sig = minhash_signatures(texts)
    ours = near_duplicate_pairs(sig, 0.85)
    hit = int(((ours["j"] - ours["i"]) == k).sum())
    import xxhash
    hs = MinHash.bulk([[x.encode() for x in shingles(t)] for t in texts], num_perm=sig.shape[1], seed=1, hashfunc=xxhash.xxh32_intdigest)
    assert all((h.hashvalues == sig[i]).all() for i, h in enumerate(hs))   # the same signatures
    idx = MinHashLSH(threshold=0.85, num_perm=sig.shape[1])
    for i in range(k): idx.insert(i, hs[i])
    lsh = sum(i in idx.query(hs[k + i]) for i in range(k))
    print(f"   recall on {k:,} planted pairs (Jaccard ≈ 0.93, threshold 0.85): lab {hit / k:.1%} (then verified: estimates "
          f"below 0.85 dropped), MinHashLSH candidates {lsh / k:.1%}: {hit / max(1, lsh):.2f}x the pairs found")


def bench_profile(df):
    from fine_tune_lab.models import load_tokenizer, resolve_model
    tok = load_tokenizer(resolve_model("minilm"))
    _, t_prof = timed(lambda: profile(df, "text", "label", tokenizer=tok))
    k = min(10_000, len(df))
    _, t_one = timed(lambda: [len(tok(t)["input_ids"]) for t in df["text"][:k]])
    base = t_one * len(df) / k
    print(f"\n3. profile of {len(df):,} rows (MiniLM tokens, oddities, languages): {t_prof:.1f} s "
          f"(target < 10 s: {'MET' if t_prof < 10 else 'NOT MET'})")
    print(f"   baseline token lengths one text at a time: {base:.1f} s for {len(df):,} (measured on {k:,}, scaled); "
          f"the whole profile takes {t_prof / base:.2f}x that")


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--rows", type=int, default=1_000_000); a = ap.parse_args()
    print(f"cores: {os.cpu_count()}")
    df = synthetic(a.rows)
    prep = prepare_frame(df, "text", "label")
    bench_exact(df, prep, a.rows)
    bench_near(prep["text"].tolist()[:min(100_000, a.rows)])
    bench_profile(df.head(100_000))


if __name__ == "__main__":
    main()
