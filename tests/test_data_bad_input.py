"""Every kind of bad input gives one specific message (file, row/line, column, what to do) before any training,
through the library and `ftlab data check` (exit 2, no traceback) — and input files are never modified."""
import hashlib
import json

import pandas as pd
import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.core import DataError, TrainConfig
from fine_tune_lab.data import MAX_LINE, load_splits
from fine_tune_lab.train import train

GOOD = "".join(f"a fine review number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(40))


def write(path, content):
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


CASES = {  # name: (file name, content, extra flags, expected message parts)
    "ragged_csv": ("r.csv", "text,label\n" + GOOD + "great, fun film,pos\n", [], ["r.csv, row 42", "3 fields but the header has 2", "quote"]),
    "short_csv_row": ("s.csv", "text,label\ngood film,pos\nbad film\n" + GOOD, [], ["s.csv, row 3", "1 fields but the header has 2"]),
    "broken_jsonl": ("b.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n', [], ["b.jsonl, row 2", "not valid JSON", "fix or remove that line"]),
    "jsonl_not_object": ("o.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n', [], ["o.jsonl, row 2", "not a JSON object"]),
    "non_utf8": ("l.csv", "text,label\ncafé noir,pos\n".encode("latin1"), [], ["l.csv, row 2", "not UTF-8", "iconv"]),
    "empty_file": ("e.csv", "", [], ["e.csv", "the file is empty"]),
    "header_only": ("h.csv", "text,label\n", [], ["h.csv", "header but no rows"]),
    "missing_text_col": ("m.csv", "text,label\n" + GOOD, ["--text-col", "txt"], ["column 'txt'", "Did you mean 'text'?", "text, label"]),
    "misspelled_label_col": ("m2.csv", "review,sentiment\n" + GOOD, ["--label-col", "sentimnt"], ["column 'sentimnt'", "Did you mean 'sentiment'?"]),
    "all_empty_text": ("a.csv", "text,label\n" + " ,pos\n\t,neg\n" * 5, [], ["column 'text'", "every text is empty"]),
    "empty_label_column": ("n.csv", "text,label\n" + "a fine long review text here,\n" * 5, [], ["column 'label'", "empty in every row"]),
    "numeric_text": ("num.csv", "text,label\n" + "".join(f"{i}.5,{'a' if i % 2 else 'b'}\n" for i in range(20)), ["--text-col", "text"], ["column 'text'", "holds numbers, not text", "--text-col"]),
    "single_class": ("one.csv", "text,label\n" + "".join(f"a fine review {i},pos\n" for i in range(30)), [], ["column 'label'", "only one label ('pos')", "at least two classes"]),
    "unseen_eval_labels": ("u.csv", "text,label,split\n" + "".join(f"a review {i},{'pos' if i % 2 else 'neg'},train\n" for i in range(30)) +
                           "a strange review,meh,test\n", ["--split-col", "split"], ["test split has labels never seen in training: ['meh']", "u.csv, row 32, column 'label'"]),
    "gigantic_line": ("g.jsonl", "x" * (MAX_LINE + 5), [], ["g.jsonl, row 1", "characters long", "one record per line"]),
    "unknown_split_name": ("us.csv", "text,label,split\n" + "".join(f"a review {i},{'pos' if i % 2 else 'neg'},train\n" for i in range(10)) +
                           "a review x,pos,holdout\n", ["--split-col", "split"], ["us.csv, row 12, column 'split'", "unknown split name 'holdout'"]),
}
MULTI_LABEL = "".join(json.dumps({"text": f"review {i}", "label": ["a", "b"] if i == 3 else ["a"] if i % 2 else "b"}) + "\n" for i in range(20))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_message(case, tmp_path, capsys):
    name, content, flags, expect = CASES[case]
    f = write(tmp_path / name, content)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    code = main(["data", "check", str(f), "--no-tokens", *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    for e in expect:
        assert e in err, f"{case}: {e!r} not in {err!r}"
    assert "Traceback" not in err and "->" in err          # one message with what to do
    assert hashlib.sha256(f.read_bytes()).hexdigest() == digest, "the input file was modified"


def test_missing_file_and_empty_folder(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["data", "check", str(tmp_path / "empty")]) == 2
    assert "the folder has no data files" in capsys.readouterr().err


def test_unlabelled_rows_are_reported_not_trained(tmp_path, capsys):
    f = write(tmp_path / "partly.csv", "text,label\n" + GOOD + "an unlabelled review,\nanother one without,\n")
    assert main(["data", "check", str(f), "--no-tokens"]) == 0
    out = capsys.readouterr().out
    assert "2 rows have no label in column 'label' (rows 42, 43)" in out and "ok: ready to train" in out
    sp = load_splits(str(f))
    assert sorted(sp.unlabelled["row"]) == [40, 41] and sum(sp.sizes.values()) == 40


def test_multi_label_profiles_but_refuses_training(tmp_path, capsys):
    f = write(tmp_path / "ml.jsonl", MULTI_LABEL)
    assert main(["data", "check", str(f), "--no-tokens"]) == 0
    assert "multi-label data" in capsys.readouterr().out
    with pytest.raises(DataError, match="multi-label"):
        load_splits(str(f))


def test_bad_data_fails_before_training(tmp_path, tiny_bert, capsys):
    f = write(tmp_path / "r.csv", CASES["ragged_csv"][1])
    code = main(["train", "--model", tiny_bert, "--data", str(f), "--output-dir", str(tmp_path / "runs")])
    assert code == 2 and "row 42" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_excel_and_parquet_and_dataframe(tmp_path):
    df = pd.DataFrame({"text": [f"a fine review {i}" for i in range(30)], "label": ["pos", "neg"] * 15})
    df.to_excel(tmp_path / "d.xlsx", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    for src in (tmp_path / "d.xlsx", tmp_path / "d.parquet", df):
        assert sum(load_splits(src).sizes.values()) == 30


def test_datasets_folder_keeps_its_splits(tmp_path):
    import datasets
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": [f"good {i}" for i in range(20)], "label": ["a", "b"] * 10}),
                               "test": datasets.Dataset.from_dict({"text": ["other 1", "other 2"], "label": ["a", "b"]})})
    dd.save_to_disk(str(tmp_path / "ds"))
    sp = load_splits(str(tmp_path / "ds"), split_col="split")
    assert sp.sizes == {"train": 20, "validation": 0, "test": 2}
