"""Token audit (issue 9): truncation statistics on fixed data, numbers worked out by hand."""
import pandas as pd
import pytest

from fine_tune_lab.core import DataError
from fine_tune_lab.models import load_tokenizer, resolve_model
from fine_tune_lab.token_audit import suggest_max_length, token_audit, token_stats, token_view


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(resolve_model("minilm"))


def test_truncation_per_class_by_hand(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    # every word is one WordPiece token in MiniLM's vocabulary; [CLS] and [SEP] add 2
    words = lambda n: " ".join(["good"] * n)
    df = pd.DataFrame(dict(text=[words(n) for n in (3, 6, 8, 8, 10, 20, 30, 40)], label=list("aaaabbbb")))
    au = token_audit(df, tok, max_length=12)
    assert au.lengths["length"].tolist() == [5, 8, 10, 10, 12, 22, 32, 42]
    per = au.per_class.set_index("label")
    assert per.loc["a"].to_dict() == dict(rows=4, mean=8.25, median=9.0, p95=10, max=10, truncated=0, truncated_share=0.0, tokens_lost_share=0.0)
    # b: lengths 12, 22, 32, 42 -> 3 of 4 cut; tokens lost 10 + 20 + 30 = 60 of 108
    assert per.loc["b"].to_dict() == dict(rows=4, mean=27.0, median=27.0, p95=42, max=42, truncated=3, truncated_share=0.75,
                                          tokens_lost_share=round(60 / 108, 4))
    assert len(au.warnings) == 1 and "'b' loses 75%" in au.warnings[0] and "0% for 'a'" in au.warnings[0]
    assert au.suggested == 48            # 95% quantile (next value up: 42) rounded up to a multiple of 8
    assert token_audit(df, tok, max_length=12, model_max=40).suggested == 40   # capped at the model's positions
    assert au.unk_rate == 0.0
    fig = au.figure()
    assert len(fig.data) == 2


def test_no_warning_when_classes_lose_alike_and_unknown_tokens(tok):
    df = pd.DataFrame(dict(text=["good " * 20, "bad " * 20, "😀 ☃ good", "good"], label=["a", "b", "a", "b"]))
    au = token_audit(df, tok, max_length=12)
    assert au.per_class["truncated_share"].tolist() == [0.5, 0.5]
    assert au.unk_rate == pytest.approx(2 / 44)    # 2 unknown of 20 + 20 + 3 + 1 text tokens
    assert any("unknown" in w for w in au.warnings) and not any("loses" in w for w in au.warnings)


def test_suggest_and_errors(tok):
    assert suggest_max_length([1, 2, 3], 0.95) == 8
    assert suggest_max_length(list(range(1, 101)), 0.95) == 96
    with pytest.raises(DataError, match="no rows"):
        token_audit(pd.DataFrame(dict(text=[], label=[])), tok)


def test_cached(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path))
    a = token_stats(["one text", "two texts"], tok)
    files = list((tmp_path / "token_stats").glob("*.arrow"))
    assert len(files) == 1 and a.cache_files[0]["filename"] == str(files[0])
    b = token_stats(["one text", "two texts"], tok)
    assert b.cache_files == a.cache_files and b["length"] == a["length"]


def test_token_view_marks_special_cut_and_masked(tok, tiny_llama):
    v = token_view("good film", tok, max_length=3)
    assert v["kind"].tolist() == ["special", "text", "text", "cut"] and not v["masked"].any()
    lt = load_tokenizer(tiny_llama)
    lv = token_view("To be", lt, task="causal-lm")
    assert lv["masked"].tolist()[-1] and lv["kind"].tolist()[-1] == "special" and not lv["masked"][:-1].any()
