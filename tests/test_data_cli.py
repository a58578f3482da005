"""`ftlab data check/profile/clean` on good input: a one-screen summary, plots that open offline, clean data
written to a new folder only — and the inputs never change."""
import hashlib

import pandas as pd
import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.clean import CleanConfig


def sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def extra_cols_csv(tmp_path):
    "Reviews with an id and a split column the user needs to keep, a duplicate, HTML and one unlabelled row."
    rows = [(f"id{i}", f"a <b>good</b> film, number {i} of many" if i % 2 else f"a dull film, number {i} of many",
             "pos" if i % 2 else "neg", "test" if i % 5 == 0 else "train") for i in range(40)]
    rows += [("id40", "A dull film, number 2 of many!", "neg", "train"), ("id41", "a film nobody labelled", None, "train")]
    p = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=["id", "review", "stars", "split"]).to_csv(p, index=False)
    return p


def test_check_builtin_one_screen(capsys):
    assert main(["data", "check", "rotten_tomatoes", "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "rotten_tomatoes: 12,808 rows, 12,808 labelled" in out and "labels: fresh 7," in out
    assert "splits: train 10,246" in out and "leakage removed: 23" in out
    assert "some texts are not in 'en'" in out and out.rstrip().endswith("ok: ready to train")
    assert len(out.splitlines()) <= 25


def test_check_with_overrides_and_model_tokens(capsys, reviews_csv, tiny_bert):
    assert main(["data", "check", str(reviews_csv), "--text-col", "review", "--label-col", "sentiment", "--model", tiny_bert]) == 0
    out = capsys.readouterr().out
    assert "120 rows, 120 labelled" in out and "median length:" in out and "tokens" in out
    assert main(["data", "check", "rotten_tomatoes", "--text-col", "txt", "--no-tokens"]) == 2
    assert "column 'txt'" in capsys.readouterr().err


def test_profile_prints_and_writes_offline_plots(tmp_path, extra_cols_csv, tiny_bert, capsys):
    before = sha(extra_cols_csv)
    html = tmp_path / "p.html"
    args = ["data", "profile", str(extra_cols_csv), "--text-col", "review", "--label-col", "stars", "--model", tiny_bert, "--html", str(html)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "42 rows (41 labelled, 1 unlabelled, 0 empty, 1 duplicates" in out and "tokens: median" in out
    assert "HTML tags or entities: 20" in out and "1 row has no label in column 'stars' (rows 43)" in out
    text = html.read_text()
    assert "Plotly.newPlot" in text and 'src="https://cdn.plot.ly' not in text and len(text) > 1e6   # plotly.js inside: opens offline
    assert main(args) == 2 and "exists" in capsys.readouterr().err        # never overwrites the user's file
    assert main(args + ["--force"]) == 0
    assert sha(extra_cols_csv) == before


def test_profile_causal_lm_builtin(capsys):
    assert main(["data", "profile", "hamlet", "--task", "causal-lm", "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "hamlet:" in out and "characters: median" in out


def test_clean_keeps_every_column_and_never_overwrites(tmp_path, extra_cols_csv, capsys):
    before = sha(extra_cols_csv)
    out = tmp_path / "clean"
    assert main(["data", "clean", str(extra_cols_csv), "--text-col", "review", "--label-col", "stars", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "kept 41 rows, removed 1" in printed and "exact_duplicate: 1" in printed and "strip_html: changed 20" in printed
    clean = pd.read_csv(out / "clean.csv")
    assert list(clean.columns) == ["row", "id", "review", "stars", "split"] and len(clean) == 41
    assert "<b>" not in " ".join(clean["review"]) and clean.set_index("id").loc["id5", "split"] == "test"
    removed = pd.read_csv(out / "removed.csv")
    assert removed[["row", "line", "step", "duplicate_of"]].values.tolist() == [[40, 42, "exact_duplicate", 2]]
    assert CleanConfig.load(out / "recipe.yaml") == CleanConfig()
    (out / "mine.txt").write_text("the user's notes")
    cols = ["--text-col", "review", "--label-col", "stars"]
    assert main(["data", "clean", str(extra_cols_csv), *cols, "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err and (out / "mine.txt").read_text() == "the user's notes"
    assert main(["data", "clean", str(extra_cols_csv), *cols, "--out", str(out), "--force", "--no-exact-duplicates", "--no-near-duplicates"]) == 0
    assert len(pd.read_csv(out / "clean.csv")) == 42 and (out / "mine.txt").exists()
    assert sha(extra_cols_csv) == before


def test_clean_recipe_and_parquet(tmp_path, extra_cols_csv, capsys):
    CleanConfig(strip_html=False, restore="40").save(tmp_path / "r.yaml")
    out = tmp_path / "pq"
    assert main(["data", "clean", str(extra_cols_csv), "--label-col", "stars", "--out", str(out), "--recipe", str(tmp_path / "r.yaml"),
                 "--near-threshold", "0.9", "--format", "parquet"]) == 0
    clean = pd.read_parquet(out / "clean.parquet")
    assert len(clean) == 42 and "<b>" in " ".join(clean["review"])          # html kept, row 40 restored
    rec = CleanConfig.load(out / "recipe.yaml")
    assert (rec.strip_html, rec.restore, rec.near_threshold) == (False, "40", 0.9)
    assert len(pd.read_parquet(out / "removed.parquet")) == 0


def test_multi_label_written_joined(tmp_path, capsys):
    import json
    f = tmp_path / "ml.jsonl"
    f.write_text("".join(json.dumps({"text": f"review {i} of a film", "label": ["a", "b"] if i % 2 else ["a"]}) + "\n" for i in range(10)))
    assert main(["data", "clean", str(f), "--out", str(tmp_path / "o"), "--label-sep", ";"]) == 0
    assert set(pd.read_csv(tmp_path / "o" / "clean.csv")["label"]) == {"a", "a;b"}
