"""Cleaning: `ftlab data clean/profile`, the removed table, restore, recipes in training runs, the leakage guard."""
import pandas as pd
import pytest
import yaml

from fine_tune_lab.clean import CleanConfig, clean_frame, clean_source
from fine_tune_lab.cli import main
from fine_tune_lab.core import RunDir, TrainConfig
from fine_tune_lab.data import load_splits, prepare_frame
from fine_tune_lab.train import train


@pytest.fixture
def messy_csv(tmp_path):
    rows = [(f"a genuinely <i>good</i> film, number {i}", "pos") for i in range(30)] + \
           [(f"a dull film that bored me, number {i}", "neg") for i in range(30)] + \
           [("a genuinely <i>good</i> film, number 3", "pos"), ("A dull film that bored me, number 4!", "neg"),
            ("same words, other label", "pos"), ("same words, other label", "neg"), ("   ", "pos"),
            ("a genuinely good film, number 5 indeed", "pos")]
    p = tmp_path / "messy.csv"
    pd.DataFrame(rows, columns=["review", "stars"]).to_csv(p, index=False)
    return p


def test_cli_clean_writes_data_removed_and_recipe(tmp_path, messy_csv, capsys):
    out = tmp_path / "out"
    assert main(["data", "clean", str(messy_csv), "--out", str(out), "--near-threshold", "0.8"]) == 0
    printed = capsys.readouterr().out
    assert "label_conflict: 2" in printed and "exact_duplicate: 2" in printed
    removed = pd.read_csv(out / "removed.csv")
    assert set(removed["step"]) >= {"label_conflict", "exact_duplicate", "near_duplicate"}
    dup = removed[removed["step"] == "exact_duplicate"].sort_values("row")
    assert dup["duplicate_of"].tolist() == [3, 34] and dup["reason"].str.contains("same text").all()
    clean = pd.read_csv(out / "clean.csv")
    assert list(clean.columns) == ["review", "row", "stars"] and "<i>" not in " ".join(clean["review"])
    assert len(clean) + len(removed) == 65                                   # 66 rows, one of them empty text
    assert CleanConfig.load(out / "recipe.yaml").near_threshold == 0.8
    assert main(["data", "clean", str(messy_csv), "--out", str(out)]) == 2  # never overwrites
    assert "not empty" in capsys.readouterr().err
    assert main(["data", "clean", str(messy_csv), "--out", str(out), "--force", "--no-near-duplicates"]) == 0


def test_steps_switch_off_and_restore_is_kept_in_the_recipe(messy_csv):
    df = pd.read_csv(messy_csv)
    prep = prepare_frame(df, "review", "stars")
    none = clean_frame(prep, CleanConfig(label_conflicts=False, exact_duplicates=False, near_duplicates=False))
    assert len(none.removed) == 0
    res = clean_frame(prep)
    back = res.restore([60])
    assert 60 in back.data["row"].values and back.config.restore == "60"
    again = clean_frame(prep, CleanConfig.from_dict(back.config.to_dict()))     # the saved recipe reproduces it
    assert again.data["row"].tolist() == back.data["row"].tolist()


def test_profile_cli_and_html(tmp_path, messy_csv, capsys):
    assert main(["data", "profile", str(messy_csv), "--html", str(tmp_path / "p.html")]) == 0
    out = capsys.readouterr().out
    assert "66 rows" in out and "only 65 labelled examples" in out and "tokens: median" in out
    assert "plotly" in (tmp_path / "p.html").read_text()


def test_training_records_recipe_and_leakage(tmp_path, tiny_bert, messy_csv):
    clean_source(str(messy_csv), out=tmp_path / "c")
    res = train(TrainConfig(model=tiny_bert, data=str(messy_csv), epochs=1, clean=str(tmp_path / "c" / "recipe.yaml"),
                            output_dir=str(tmp_path / "runs"), val_size=0.2, test_size=0.2), progress=False, quiet=True)
    d = RunDir(res.path).read_json("data.json")
    assert d["cleaning"]["counts"]["label_conflict"] == 2 and d["cleaning"]["recipe"]["near_threshold"] == 0.85
    assert "leakage" in d and d["leakage"]["removed"] >= 0


def test_leakage_guard_removes_from_evaluation_side(tmp_path):
    texts = [f"an entirely unique sentence about film number {i}" for i in range(200)]
    df = pd.DataFrame({"text": texts + texts[:20], "label": (["a", "b"] * 100) + (["a", "b"] * 10)})
    sp = load_splits(df, seed=1)
    assert len(sp.leaked) > 0 and set(sp.leaked["split"]) <= {"validation", "test"}
    keys = set(sp["train"]["text"])
    assert not any(t in keys for k in ("validation", "test") for t in sp[k]["text"])
    rep = load_splits(df, seed=1, leakage="report")
    assert len(rep.leaked) == len(sp.leaked) and sum(rep.sizes.values()) == sum(sp.sizes.values()) + len(sp.leaked)


def test_data_notebook_headless(tmp_path, messy_csv):
    from conftest import ROOT
    from fine_tune_lab.batch import read_glued, run_notebook
    out = run_notebook(ROOT / "nbs/tutorials/data.ipynb", {"src": str(messy_csv), "out": str(tmp_path / "c"), "live": "false",
                                                           "tokenizer": "none"}, tmp_path / "o.ipynb")
    assert out.ok, out.error
    assert out.results["removed"]["label_conflict"] == 2 and out.results["kept"] == len(pd.read_csv(tmp_path / "c" / "clean.csv"))
    assert "application/vnd.jupyter.widget-view+json" not in (tmp_path / "o.ipynb").read_text()
