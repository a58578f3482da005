"""Data cleaning and profiling speed on synthetic short texts (2 cores), with baselines measured in the same run.

1. exact + near-duplicate cleaning of 1,000,000 short texts (`clean_frame`); target: exact dedup < 30 s
   baseline: pandas `drop_duplicates` on the raw strings (finds fewer duplicates: no normalisation)
2. near-duplicate detection on 100,000 texts: rows/s of the lab's MinHash + numpy banding, against
   datasketch's `MinHashLSH` insert + query on the same signatures (on a 20,000-text slice, scaled)
3. profile of 100,000 rows (with MiniLM token lengths); target < 10 s

Usage: python bench/bench_data.py [--rows 1000000]
"""
import argparse, os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np, pandas as pd

from fine_tune_lab.clean import CleanConfig, clean_frame, match_key, minhash_signatures, near_duplicate_pairs, profile
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


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--rows", type=int, default=1_000_000); a = ap.parse_args()
    print(f"cores: {os.cpu_count()}")
    df = synthetic(a.rows)
    prep = prepare_frame(df, "text", "label")
    base, t_base = timed(lambda: df.drop_duplicates("text"))
    exact, t_exact = timed(lambda: clean_frame(prep, CleanConfig(near_duplicates=False, label_conflicts=False)))
    print(f"\n1. exact dedup of {a.rows:,} texts: {t_exact:.1f} s, removed {exact.counts['exact_duplicate']:,} "
          f"(target < 30 s: {'MET' if t_exact < 30 else 'NOT MET'})")
    print(f"   baseline pandas drop_duplicates on raw text: {t_base:.1f} s, removed {a.rows - len(base):,} "
          f"(ratio ours/baseline time {t_exact / t_base:.1f}x; ours also normalises Unicode/case/spacing)")
    full, t_full = timed(lambda: clean_frame(prep, CleanConfig()))
    print(f"   all steps (normalise, conflicts, exact, near) on {a.rows:,}: {t_full:.1f} s; removed {full.counts}")

    n = min(100_000, a.rows); texts = prep["text"].tolist()[:n]
    sig, t_sig = timed(lambda: minhash_signatures(texts))
    pairs, t_band = timed(lambda: near_duplicate_pairs(sig, 0.85))
    print(f"\n2. near-dup detection on {n:,} texts: {n / (t_sig + t_band):,.0f} rows/s "
          f"(signatures {t_sig:.1f} s, banding + verification {t_band:.2f} s, {len(pairs):,} pairs)")
    import xxhash
    from datasketch import MinHash, MinHashLSH
    from fine_tune_lab.clean import shingles
    m = min(20_000, n)
    hs = MinHash.bulk([[x.encode() for x in shingles(t)] or [b""] for t in texts[:m]], num_perm=sig.shape[1], seed=1,
                      hashfunc=xxhash.xxh32_intdigest)                       # the same signatures, as datasketch objects
    assert all((h.hashvalues == sig[i]).all() for i, h in enumerate(hs[:100]))
    def lsh():
        idx = MinHashLSH(threshold=0.85, num_perm=sig.shape[1])
        with idx.insertion_session() as s:
            for i, h in enumerate(hs): s.insert(i, h)
        return sum(len(idx.query(h)) - 1 for h in hs)
    found, t_lsh = timed(lsh)
    ours, t_ours = timed(lambda: near_duplicate_pairs(sig[:m], 0.85))
    print(f"   same signatures, {m:,} texts: datasketch MinHashLSH insert+query {t_lsh:.2f} s ({m / t_lsh:,.0f} rows/s), "
          f"lab banding {t_ours:.2f} s ({m / t_ours:,.0f} rows/s): {t_lsh / t_ours:.1f}x faster")

    pdf = df.head(100_000)
    _, t_prof = timed(lambda: profile(pdf, "text", "label", tokenizer="minilm"))
    print(f"\n3. profile of {len(pdf):,} rows with MiniLM token lengths: {t_prof:.1f} s (target < 10 s: {'MET' if t_prof < 10 else 'NOT MET'})")


if __name__ == "__main__":
    main()
