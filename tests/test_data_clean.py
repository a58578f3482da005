"""Cleaning: the steps and their counts, the removed table, restore, near-duplicates, recipes in training runs,
the leakage guard, and the data notebook headless."""
import numpy as np
import pandas as pd
import pytest

from fine_tune_lab.clean import CleanConfig, clean_frame, clean_source, leakage_report, lsh_bands, minhash_signatures, near_duplicate_pairs, shingles
from fine_tune_lab.core import RunDir
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.data import prepare_frame
from fine_tune_lab.prepare import prepare
from fine_tune_lab.train import train


@pytest.fixture
def messy_csv(tmp_path):
    rows = [(f"a genuinely <i>good</i> film, number {i}", "pos") for i in range(30)] + \
           [(f"a dull film that bored me, number {i}", "neg") for i in range(30)] + \
           [("a genuinely <i>good</i> film, number 3", "pos"), ("A dull film that bored me, number 4!", "neg"),
            ("same words, other label", "pos"), ("same words, other label", "neg"), ("   ", "pos"),
            ("a genuinely good film, number 5 indeed and truly", "pos")]
    p = tmp_path / "messy.csv"
    pd.DataFrame(rows, columns=["review", "stars"]).to_csv(p, index=False)
    return p


def test_every_row_is_kept_or_removed_with_a_reason(messy_csv):
    res = clean_source(str(messy_csv))
    assert sorted(res.data["row"].tolist() + res.removed["row"].tolist()) == list(range(66))
    assert res.counts == {"empty": 1, "length": 0, "language": 0, "label_conflict": 2, "exact_duplicate": 2, "near_duplicate": 0}
    r = res.removed.set_index("row")
    assert r.loc[64, "reason"] == "no text" and r.loc[64, "line"] == 66
    assert r.loc[60, "duplicate_of"] == 3 and r.loc[60, "reason"] == "same text as row 3"
    assert r.loc[61, "duplicate_of"] == 34 and r.loc[62, "reason"] == "same text labelled 'neg', 'pos'"
    assert res.changes["strip_html"] == 31 and "<i>" not in " ".join(res.data["text"])


def test_steps_switch_off_and_restore_is_kept_in_the_recipe(messy_csv):
    prep = prepare_frame(pd.read_csv(messy_csv), "review", "stars", keep_empty=True)
    none = clean_frame(prep, CleanConfig(drop_empty=False, min_chars=0, label_conflicts=False, exact_duplicates=False, near_duplicates=False))
    assert len(none.removed) == 0 and len(none.data) == 66
    raw = clean_frame(prep, CleanConfig(fix_mojibake=False, strip_html=False, normalize=False))
    assert raw.changes == {} and raw.changed == 0 and (raw.data["text"] == prep.set_index("row").loc[raw.data["row"], "text"].values).all()
    back = clean_frame(prep).restore([60])
    assert 60 in back.data["row"].values and back.config.restore == "60" and back.counts["exact_duplicate"] == 1
    again = clean_frame(prep, CleanConfig.from_dict(back.config.to_dict()))     # the saved recipe reproduces it
    assert again.data["row"].tolist() == back.data["row"].tolist()


def test_near_duplicates_threshold_and_reasons():
    base = "the cast is wonderful in every scene and the story moves from the city to the sea without one dull moment at all"
    texts = [base, base.replace("at all", "at really"), base.replace("dull moment at all", "boring minute anywhere"), "something else entirely, short"]
    jac = lambda a, b: len(shingles(a) & shingles(b)) / len(shingles(a) | shingles(b))
    assert jac(texts[0], texts[1]) > 0.9 and 0.6 < jac(texts[0], texts[2]) < 0.8
    df = pd.DataFrame({"text": texts, "label": ["a", None, "a", "b"], "row": range(4)})
    strict = clean_frame(df, CleanConfig(near_threshold=0.85))
    assert strict.removed[["row", "duplicate_of"]].values.tolist() == [[1, 0]]
    sim = float(strict.removed["reason"].str.extract(r"≈ ([\d.]+)")[0].iloc[0])
    assert sim >= 0.85
    loose = clean_frame(df, CleanConfig(near_threshold=0.5))
    assert sorted(loose.removed["row"]) == [1, 2] and set(loose.removed["duplicate_of"]) == {0}
    # the labelled copy stays even when an unlabelled near-duplicate comes first
    first_unlabelled = pd.DataFrame({"text": texts[:2], "label": [None, "a"], "row": [0, 1]})
    res = clean_frame(first_unlabelled, CleanConfig(near_threshold=0.85))
    assert res.removed[["row", "duplicate_of"]].values.tolist() == [[0, 1]] and res.data["row"].tolist() == [1]


def test_lsh_finds_pairs_at_the_threshold():
    "The bands make a pair just above the threshold a candidate ~95% of the time; below half the threshold, rarely."
    b, r = lsh_bands(0.85, 64)
    assert b * r <= 64 and 1 - (1 - 0.85 ** r) ** b >= 0.95 and 1 - (1 - 0.4 ** r) ** b < 0.05
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(5000)]
    found = 0
    for _ in range(40):
        t = list(rng.choice(words, 40))
        u = t.copy(); u[-1] = "changed"                        # 39 of 40 word pairs shared: Jaccard ~0.95
        found += len(near_duplicate_pairs(minhash_signatures([" ".join(t), " ".join(u)]), 0.85))
    assert found >= 36


def test_training_records_recipe_and_leakage(tmp_path, tiny_bert, messy_csv):
    clean_source(str(messy_csv), out=tmp_path / "c")
    res = train(TrainConfig(model=tiny_bert, data=str(messy_csv), epochs=1, clean=str(tmp_path / "c" / "recipe.yaml"),
                            output_dir=str(tmp_path / "runs"), val_size=0.2, test_size=0.2), progress=False, quiet=True)
    d = RunDir(res.path).read_json("data.json")
    assert d["cleaning"]["counts"]["label_conflict"] == 2 and d["cleaning"]["counts"]["empty"] == 1
    assert d["cleaning"]["recipe"]["near_threshold"] == 0.85 and d["cleaning"]["kept"] == sum(d["sizes"].values()) + d["leakage"]["removed"]
    assert "leakage" in d and d["empty_texts"] == 0


def test_leakage_guard_removes_from_evaluation_side():
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice([f"w{i}" for i in range(3000)], 12)) for _ in range(200)]   # unrelated texts
    df = pd.DataFrame({"text": texts + [t.upper() + "!" for t in texts[:20]], "label": (["a", "b"] * 100) + (["a", "b"] * 10)})
    sp = prepare(TrainConfig(seed=1), frame=df)
    assert len(sp.leaked) > 0 and set(sp.leaked["split"]) <= {"validation", "test"} and set(sp.leaked["step"]) == {"exact"}
    keys = {t.lower().strip("!") for t in sp["train"]["text"]}
    assert not any(t.lower().strip("!") in keys for k in ("validation", "test") for t in sp[k]["text"])
    assert sp.summary()["leakage"]["removed"] == len(sp.leaked)
    rep = prepare(TrainConfig(seed=1, leakage="report"), frame=df)
    assert len(rep.leaked) == len(sp.leaked) and sum(rep.sizes.values()) == sum(sp.sizes.values()) + len(sp.leaked)
    off = prepare(TrainConfig(seed=1, leakage="off"), frame=df)
    assert len(off.leaked) == 0 and sum(off.sizes.values()) == 220


def test_near_leakage_uses_the_recipe_threshold():
    base = "a long review that says the cast is wonderful in every scene and the story moves well from start to end number"
    tr = pd.DataFrame({"text": [f"{base} {i}" for i in range(3)], "row": [0, 1, 2]})
    ev = pd.DataFrame({"text": [f"{base} {i} indeed" for i in range(3)], "row": [3, 4, 5]})
    assert len(leakage_report({"train": tr, "test": ev}, 0.85)) == 3
    assert len(leakage_report({"train": tr, "test": ev}, 0.99)) == 0


def test_builtin_default_run_data_is_unchanged_by_the_guard():
    "The default run's data: rotten_tomatoes loses only a handful of evaluation rows to the guard."
    sp = prepare(TrainConfig(data="rotten_tomatoes"))
    assert 0 < len(sp.leaked) < 60 and sum(sp.sizes.values()) + len(sp.leaked) == 12808
    assert len(sp.unlabelled) == 0 and sp.empty == 0


def test_data_notebook_headless(tmp_path, messy_csv):
    from conftest import ROOT
    from fine_tune_lab.batch import run_notebook
    out = run_notebook(ROOT / "nbs/tutorials/data.ipynb", {"src": str(messy_csv), "out": str(tmp_path / "c"), "live": "false",
                                                           "tokenizer": "none"}, tmp_path / "o.ipynb")
    assert out.ok, out.error
    assert out.results["removed"]["label_conflict"] == 2 and out.results["kept"] == len(pd.read_csv(tmp_path / "c" / "clean.csv"))
    assert out.results["splits"]["train"] > 0 and out.results["leakage_removed"] >= 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["clean.csv", "recipe.yaml", "removed.csv"]
    assert "application/vnd.jupyter.widget-view+json" not in (tmp_path / "o.ipynb").read_text()
