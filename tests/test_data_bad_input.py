"""Every kind of bad input gives one specific message (file, row/line, column, what to do) before any training,
through the library (`load_splits`) and through `ftlab data check` (exit 2, no traceback) — and input files are
never modified."""
import hashlib
import json

import pandas as pd
import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.core import DataError
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.data import MAX_LINE, load_source, line_of
from fine_tune_lab.prepare import prepare

GOOD = "".join(f"a fine review number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(40))
SPLIT = "".join(f"a review {i},{'pos' if i % 2 else 'neg'},train\n" for i in range(30))


def _empty_dir(p):
    p.mkdir()


def _broken_datasets_dir(p):
    p.mkdir(); (p / "state.json").write_text("{}")


CASES = {  # name: (file name, content (text, bytes, or a function making a folder), settings, message parts)
    "ragged_csv": ("r.csv", "text,label\n" + GOOD + "great, fun film,pos\n", {},
                   ["r.csv, row 42", "3 fields but the header has 2", "quote"]),
    "short_csv_row": ("s.csv", "text,label\ngood film,pos\nbad film\n" + GOOD, {}, ["s.csv, row 3", "1 fields but the header has 2"]),
    "ragged_after_multiline_field": ("ml.csv", 'text,label\n"a review\nover\nthree lines",pos\n' + GOOD + "x,y,z\n", {},
                                     ["ml.csv, row 45", "3 fields"]),
    "broken_jsonl": ("b.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n', {},
                     ["b.jsonl, row 2", "not valid JSON", "fix or remove that line"]),
    "jsonl_not_object": ("o.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n', {}, ["o.jsonl, row 2", "not a JSON object"]),
    "non_utf8": ("l.csv", ("text,label\n" + "a fine review,pos\n" * 3 + "café noir à la française,pos\n").encode("cp1252"), {},
                 ["l.csv, row 5", "byte 0xe9 is not UTF-8", "iconv -f cp1252 -t utf-8 l.csv"]),
    "empty_file": ("e.csv", "", {}, ["e.csv: the file is empty", "header"]),
    "header_only": ("h.csv", "text,label\n", {}, ["h.csv: the file has a header but no rows"]),
    "missing_text_col": ("m.csv", "text,label\n" + GOOD, dict(text_col="txt"), ["m.csv, column 'txt'", "Did you mean 'text'?", "text, label"]),
    "misspelled_label_col": ("m2.csv", "review,sentiment\n" + GOOD, dict(label_col="sentimnt"),
                             ["m2.csv, column 'sentimnt'", "Did you mean 'sentiment'?"]),
    "no_label_column": ("nl.csv", "review,id\n" + "".join(f"a fine long review {i},{i}\n" for i in range(30)), {},
                        ["nl.csv: cannot tell which column holds the label", "--label-col"]),
    "all_empty_text": ("a.csv", "text,label\n" + " ,pos\n\t,neg\n" * 5, {}, ["a.csv, column 'text'", "every text is empty"]),
    "empty_label_column": ("n.csv", "text,label\n" + "a fine long review text here,\n" * 5, {}, ["n.csv, column 'label'", "empty in every row"]),
    "no_row_has_text_and_label": ("x.jsonl", '{"text": "a review without label"}\n{"label": "pos"}\n', {},
                                  ["x.jsonl, column 'label'", "no row has both a text and a label"]),
    "numeric_text": ("num.csv", "text,label\n" + "".join(f"{i}.5,{'a' if i % 2 else 'b'}\n" for i in range(20)), dict(text_col="text"),
                     ["num.csv, row 2, column 'text'", "holds numbers, not text", "--text-col"]),
    "single_class": ("one.csv", "text,label\n" + "".join(f"a fine review {i},pos\n" for i in range(30)), {},
                     ["one.csv, column 'label'", "only one label ('pos')", "at least two classes"]),
    "unseen_eval_labels": ("u.csv", "text,label,split\n" + SPLIT + "a strange review,meh,test\n", dict(split_col="split"),
                           ["u.csv, row 32, column 'label'", "test split has labels never seen in training: ['meh']"]),
    "unknown_split_name": ("us.csv", "text,label,split\n" + SPLIT + "a review x,pos,holdout\n", dict(split_col="split"),
                           ["us.csv, row 32, column 'split'", "unknown split name 'holdout'"]),
    "gigantic_line": ("g.jsonl", "x" * (MAX_LINE + 5), {}, ["g.jsonl, row 1", "characters long (the limit is 10,000,000)", "split its text"]),
    "missing_file": ("nope.csv", None, {}, ["nope.csv: no such file", "check the path"]),
    "empty_folder": ("empty", _empty_dir, {}, ["empty: the folder has no data files", "<label>/*.txt"]),
    "broken_datasets_folder": ("ds", _broken_datasets_dir, {}, ["ds: cannot load this datasets folder", "save_to_disk"]),
}


def _gz(text): import gzip; return gzip.compress(text.encode())


def _zipped(names):
    import io, zipfile
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for n in names: z.writestr(n, "text,label\na,b\n")
    return b.getvalue()


def _datasets_without_state(p):
    import datasets
    datasets.disable_progress_bars()
    datasets.Dataset.from_dict({"text": [f"good {i}" for i in range(20)], "label": ["a", "b"] * 10}).save_to_disk(str(p))
    (p / "state.json").unlink()


def _symlink_loop(p):
    (p.parent / "other.csv").symlink_to(p); p.symlink_to(p.parent / "other.csv")


JSONL = "".join(json.dumps({"text": f"a fine review number {i}", "label": "pos" if i % 2 else "neg"}) + "\n" for i in range(30))
CASES.update({   # the corpus of issue 18: each kind of hostile or broken input, and what the message must name
    "nested_jsonl": ("deep.jsonl", JSONL + '{"text": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "a"}\n', {},
                     ["deep.jsonl, row 31", "too deeply", "one flat JSON object"]),
    "nested_json": ("deep.json", "[" * 100_000 + "]" * 100_000, {}, ["deep.json", "too deeply"]),
    "huge_csv_field": ("big.csv", "text,label\n" + GOOD + '"' + "x" * (MAX_LINE + 10) + '",pos\n', {},
                       ["big.csv, row 42", "10,000,016 characters long", "split its text"]),
    "unclosed_quote": ("q.csv", "text,label\n" + GOOD + '"I loved every minute and then it broke,pos\n"I hated every minute",neg\n' + GOOD, {},
                       ["q.csv, row 42", "lines 42–43", "a quote in it is not closed", "written twice"]),
    "text_holds_objects": ("obj.jsonl", "".join(json.dumps({"text": {"a": i}, "label": "pos" if i % 2 else "neg"}) + "\n" for i in range(30)), {},
                           ["obj.jsonl, row 1, column 'text'", "holds a JSON object, not text", "30 rows do", "--text-col"]),
    "text_object_in_one_row": ("obj1.jsonl", JSONL + json.dumps({"text": ["a", "list"], "label": "pos"}) + "\n", {},
                               ["obj1.jsonl, row 31, column 'text'", "holds a JSON list"]),
    "two_label_columns": ("dup.csv", "text,label,label\n" + "".join(f"a fine review {i},pos,neg\n" for i in range(30)), {},
                          ["dup.csv, row 1, column 'label'", "columns 2 and 3 are both named 'label'", "rename one"]),
    "absurd_label": ("al.csv", "text,label\n" + GOOD + "one more review," + "p" * 200_000 + "\n", {},
                     ["al.csv, row 42, column 'label'", "a label of 200,000 characters", "--label-col"]),
    "gzip_named_csv": ("gz.csv", _gz("text,label\n" + GOOD), {}, ["gz.csv: the file holds gzip-compressed data, not text", "gz.csv.gz"]),
    "zip_named_csv": ("zp.csv", _zipped(["data.csv"]), {}, ["zp.csv: the file holds a zip archive", "zp.csv.zip"]),
    "xlsx_named_csv": ("wb.csv", _zipped(["[Content_Types].xml", "xl/workbook.xml"]), {}, ["wb.csv: the file holds an Excel workbook", "wb.xlsx"]),
    "parquet_named_csv": ("pq.csv", b"PAR1" + b"\x00" * 64, {}, ["pq.csv: the file holds a Parquet file", "pq.parquet"]),
    "nul_bytes": ("nul.csv", ("text,label\n" + GOOD + "a broken\x00\x00 review,neg\n").encode(), {}, ["nul.csv, row 42", "NUL bytes", "tr -d"]),
    "datasets_folder_without_state": ("ds2", _datasets_without_state, {}, ["ds2: this looks like a datasets save_to_disk folder", "state.json is missing"]),
    "symlink_loop": ("loop.csv", _symlink_loop, {}, ["loop.csv: a symbolic link that loops back on itself"]),
})
MULTI_LABEL = "".join(json.dumps({"text": f"review {i}", "label": ["a", "b"] if i == 3 else ["a"] if i % 2 else "b"}) + "\n" for i in range(20))


def make(path, content):
    if callable(content): content(path)
    elif isinstance(content, bytes): path.write_bytes(content)
    elif content is not None: path.write_text(content)
    return path


def digest(path):
    "A fingerprint of a file or of every file under a folder (None when absent)."
    if not path.exists(): return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [(str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in files]


def flags(settings):
    return [x for k, v in settings.items() for x in ("--" + k.replace("_", "-"), v)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_library(case, tmp_path):
    name, content, settings, expect = CASES[case]
    f = make(tmp_path / name, content)
    before = digest(f)
    with pytest.raises(DataError) as e:
        prepare(TrainConfig(data=str(f), **settings))
    msg = str(e.value).replace(str(tmp_path) + "/", "")
    for part in expect:
        assert part in msg, f"{case}: {part!r} not in {msg!r}"
    assert "\n  -> " in msg, "the message says what to do"
    assert digest(f) == before, "the input was modified"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_cli(case, tmp_path, capsys):
    name, content, settings, expect = CASES[case]
    f = make(tmp_path / name, content)
    before = digest(f)
    code = main(["data", "check", str(f), "--no-tokens", *flags(settings)])
    err = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    assert code == 2, err
    for part in expect:
        assert part in err, f"{case}: {part!r} not in {err!r}"
    assert err.startswith("error: ") and "Traceback" not in err and "->" in err
    assert digest(f) == before, "the input was modified"


def test_unlabelled_rows_are_reported_not_trained(tmp_path, capsys):
    f = make(tmp_path / "partly.csv", "text,label\n" + GOOD + "an unlabelled review,\nanother one without,\n")
    assert main(["data", "check", str(f), "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "2 rows have no label in column 'label' (rows 42, 43)" in out and "ok: ready to train" in out
    sp = prepare(TrainConfig(data=str(f)))
    assert sorted(sp.unlabelled["row"]) == [40, 41] and sum(sp.sizes.values()) == 40
    assert sp.summary()["unlabelled"] == 2


def test_multi_label_profiles_but_refuses_training(tmp_path, capsys):
    f = make(tmp_path / "ml.jsonl", MULTI_LABEL)
    assert main(["data", "check", str(f), "--no-tokens"]) == 0
    assert "multi-label data" in capsys.readouterr().out
    with pytest.raises(DataError, match=r"ml.jsonl, row 4, column 'label': the data is multi-label \(row 4 has labels \['a', 'b'\]\)"):
        prepare(TrainConfig(data=str(f)))
    g = make(tmp_path / "ml.csv", "text,tags\n" + "".join(f"review {i},{'a|b' if i % 3 else 'a'}\n" for i in range(20)))
    assert main(["data", "profile", str(g), "--no-tokens"]) == 0
    assert "labels look like lists separated by '|'" in capsys.readouterr().out
    with pytest.raises(DataError, match="multi-label"):
        prepare(TrainConfig(data=str(g)), label_sep="|")


def test_bad_data_fails_before_training(tmp_path, tiny_bert, capsys):
    f = make(tmp_path / "r.csv", CASES["ragged_csv"][1])
    code = main(["train", "--model", tiny_bert, "--data", str(f), "--output-dir", str(tmp_path / "runs")])
    assert code == 2 and "row 42" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_line_numbers_follow_the_file(tmp_path):
    "Quoted multi-line fields and blank JSONL lines do not shift the line a message names."
    f = make(tmp_path / "q.csv", 'text,label\n"one\ntwo",a\nthree,\n')
    df, src = load_source(str(f))
    assert len(df) == 2 and line_of(src, 1) == 4
    j = make(tmp_path / "b.jsonl", '{"text": "a", "label": "x"}\n\n\n{"text": "b", "label": null}\n')
    df, src = load_source(str(j))
    assert line_of(src, 1) == 4


def test_readable_variants(tmp_path):
    "A ;-separated .csv, a UTF-16 file with its byte-order mark, Excel, Parquet and a DataFrame all load."
    df = pd.DataFrame({"text": [f"a fine review {i}" for i in range(30)], "label": ["pos", "neg"] * 15})
    df.to_csv(tmp_path / "semi.csv", sep=";", index=False)
    (tmp_path / "u16.csv").write_bytes(df.to_csv(index=False).encode("utf-16"))
    df.to_excel(tmp_path / "d.xlsx", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    for src in (tmp_path / "semi.csv", tmp_path / "u16.csv", tmp_path / "d.xlsx", tmp_path / "d.parquet", df):
        sp = prepare(TrainConfig(), frame=src) if isinstance(src, pd.DataFrame) else prepare(TrainConfig(data=str(src)))
        assert sum(sp.sizes.values()) == 30 and sp.labels == ["neg", "pos"], src


def test_datasets_folder_keeps_its_splits(tmp_path):
    import datasets
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": [f"good {i}" for i in range(20)], "label": ["a", "b"] * 10}),
                               "test": datasets.Dataset.from_dict({"text": ["other 1", "other 2"], "label": ["a", "b"]})})
    dd.save_to_disk(str(tmp_path / "ds"))
    sp = prepare(TrainConfig(data=str(tmp_path / "ds"), split_col="split"))
    assert sp.sizes == {"train": 20, "validation": 0, "test": 2}


def test_label_folder(tmp_path):
    for lab, texts in {"pos": ["loved it", "great fun"], "neg": ["dull", "a mess"]}.items():
        (tmp_path / "d" / lab).mkdir(parents=True)
        for i, t in enumerate(texts): (tmp_path / "d" / lab / f"{i}.txt").write_text(t)
    df, _ = load_source(str(tmp_path / "d"))
    assert sorted(zip(df["label"], df["text"])) == [("neg", "a mess"), ("neg", "dull"), ("pos", "great fun"), ("pos", "loved it")]


def test_good_data_at_the_edges_is_read(tmp_path):
    "What the guards must not refuse: a JSON list written by json.dump on one line longer than MAX_LINE; a label folder with hidden folders."
    recs = [{"text": f"review number {i} " + "x" * 80, "label": "pos" if i % 2 else "neg"} for i in range(MAX_LINE // 100 + 1000)]
    f = tmp_path / "minified.json"; f.write_text(json.dumps(recs))
    assert f.stat().st_size > MAX_LINE
    df, _ = load_source(str(f))
    assert len(df) == len(recs)
    for lab in ("pos", "neg", ".ipynb_checkpoints", "__MACOSX"):
        (tmp_path / "d" / lab).mkdir(parents=True)
        for i in range(3): (tmp_path / "d" / lab / f"{i}.txt").write_text(f"{lab} text {i}")
    df, _ = load_source(str(tmp_path / "d"))
    assert sorted(set(df["label"])) == ["neg", "pos"] and len(df) == 6
    ml = "text,label\n" + "".join(f"review {i},{'yes' if i % 2 else 'no'}\n" for i in range(20)) + '"would I go again, no\nnot a chance",no\n'
    df, _ = load_source(str(make(tmp_path / "ml.csv", ml)))                     # a quoted line break whose line ends like a row: still one review
    assert len(df) == 21 and df["text"].iloc[-1] == "would I go again, no\nnot a chance"


def test_suspicious_but_valid_data_warns_naming_rows_in_one_screen(tmp_path, capsys):
    "Invisible-only texts are left out (and said so, counts agreeing), a gigantic text and absurdly many/long class names are warned about — in one screen."
    zw = "\u200b\u200c\u2060 \ufeff"
    rows = [(f"a fine review {i}", "pos" if i % 2 else "neg") for i in range(40)] + [(zw, "pos")] * 6 + [("y" * 150_000, "neg")]
    rows += [(f"another review {i}", f"class {i} " + "c" * 150) for i in range(60)]                # 60 classes of one example, long names
    f = tmp_path / "odd.csv"; pd.DataFrame(rows, columns=["text", "label"]).to_csv(f, index=False)
    before = digest(f)
    assert main(["data", "check", str(f), "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "6 rows have no text (rows 42, 43, 44, 45, 46)" in out
    assert "1 text over 100,000 characters (rows 48; the longest 150,000)" in out
    assert "… and 50 more classes" in out and "… and 52 more:" in out
    assert len(out.splitlines()) <= 20 and max(map(len, out.splitlines())) <= 1000, out
    sp = prepare(TrainConfig(data=str(f)))
    assert sum(sp.sizes.values()) == len(rows) - 6                                              # the invisible-only rows are not trained on
    assert digest(f) == before
