"""Hostile and tired-user input at the doors that write: a clear message naming the thing, exit code 2, no traceback,
no run folder before the input is accepted, and every input byte-identical afterwards — `--force` included."""
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.train import train


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _fails(capsys, argv, *expect):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(e in err for e in expect), err
    return err


@pytest.fixture
def finished(tmp_path, tiny_bert, reviews_csv):
    return train(TrainConfig(model=tiny_bert, data=str(reviews_csv), epochs=1, output_dir=str(tmp_path / "runs"), precision="fp32",
                             run_name="r", eval_samples=0), progress=False, quiet=True).path


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_settings_are_refused_before_a_run_folder_exists(tmp_path, capsys, value):
    (tmp_path / "c.yaml").write_text(f"learning_rate: {value}\n")
    _fails(capsys, ["train", "--config", str(tmp_path / "c.yaml"), "--output-dir", str(tmp_path / "runs")], "learning_rate", "finite")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("labels, expect", [(["0", "1", "0.0", "1.0"] * 15, "same number written differently"),   # pandas wrote some as floats
                                            ([f"{i / 97:.4f}" for i in range(60)], "continuous scores")])       # a regression target
def test_number_labels_that_are_not_classes(tmp_path, capsys, labels, expect):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"a film numbered {i}" for i in range(len(labels))], "label": labels}).to_csv(p, index=False)
    before = p.read_bytes()
    _fails(capsys, ["data", "check", str(p), "--no-tokens"], "d.csv", "label", expect)
    assert p.read_bytes() == before


def test_export_never_over_a_run_or_user_folder(tmp_path, capsys, finished):
    keep = _digest(tmp_path)
    _fails(capsys, ["export", str(finished), "--out", str(finished), "--force"], "is the input")
    _fails(capsys, ["export", str(finished), "--out", str(finished / "model"), "--force"], "lies inside")
    _fails(capsys, ["export", str(finished), "--out", str(tmp_path / "runs"), "--force"], "holds the input")
    mine = tmp_path / "mine"; mine.mkdir(); (mine / "thesis.tex").write_text("years of work")
    keep = _digest(tmp_path)
    _fails(capsys, ["export", str(finished), "--out", str(mine), "--force"], "--force replaces only a folder fine_tune_lab wrote", "thesis.tex")
    (tmp_path / "afile").write_text("x")
    keep = _digest(tmp_path)
    _fails(capsys, ["export", str(finished), "--out", str(tmp_path / "afile")], "is a file")
    assert _digest(tmp_path) == keep
    assert main(["export", str(finished), "--out", str(tmp_path / "ex")]) == 0
    assert main(["export", str(finished), "--out", str(tmp_path / "ex"), "--force"]) == 0      # an earlier export: moved aside, kept
    assert len(list(tmp_path.glob("ex.replaced-*"))) == 1 and (finished / "results.json").exists()


def test_clean_never_over_its_input(tmp_path, capsys, reviews_csv):
    data = tmp_path / "data"; data.mkdir(); src = data / "reviews.csv"; src.write_bytes(Path(reviews_csv).read_bytes())
    keep = _digest(tmp_path)
    _fails(capsys, ["data", "clean", str(src), "--out", str(data), "--force"], "holds the input")
    _fails(capsys, ["data", "clean", str(src), "--out", str(tmp_path), "--force"], "holds the input")
    assert _digest(tmp_path) == keep
    assert main(["data", "clean", str(src), "--out", str(tmp_path / "clean")]) == 0
    again = tmp_path / "clean" / "clean.csv"
    _fails(capsys, ["data", "clean", str(again), "--out", str(tmp_path / "clean"), "--force"], "holds the input")
    assert main(["data", "clean", str(src), "--out", str(tmp_path / "clean"), "--force"]) == 0   # an earlier clean output: replaced


def test_config_file_not_utf8(tmp_path, capsys):
    (tmp_path / "c.yaml").write_bytes("run_name: caf\xe9\n".encode("latin-1"))
    _fails(capsys, ["train", "--config", str(tmp_path / "c.yaml"), "--output-dir", str(tmp_path / "runs")], "c.yaml, row 1", "byte 0xe9 is not UTF-8", "iconv")
    assert not (tmp_path / "runs").exists()


def _model_variants(root: Path, tiny: str) -> dict:
    "Broken copies of a good model folder: pickled weights only, weights cut in half, config.json torn."
    import shutil
    out = {}
    for name in ("pickled", "cut", "torn_config", "custom_code"):
        shutil.copytree(tiny, root / name); out[name] = root / name
    import torch
    from safetensors.torch import load_file
    torch.save(load_file(str(out["pickled"] / "model.safetensors")), out["pickled"] / "pytorch_model.bin")   # what older tools wrote
    (out["pickled"] / "model.safetensors").unlink()
    w = out["cut"] / "model.safetensors"; w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    c = out["torn_config"] / "config.json"; c.write_text(c.read_text()[:-40])
    import json
    c = out["custom_code"] / "config.json"
    c.write_text(json.dumps({**json.loads(c.read_text()), "model_type": "not_in_transformers", "auto_map": {"AutoModel": "evil.Model"}}))
    (out["custom_code"] / "evil.py").write_text(f"open({str(root / 'RAN')!r}, 'w')\n")     # would leave a mark if it ever ran
    return out


@pytest.mark.parametrize("kind, expect", [("pickled", ["the weights are pickled (pytorch_model.bin)", "--allow-pickle"]),
                                          ("cut", ["model.safetensors", "damaged", "cut short"]),
                                          ("torn_config", ["config.json", "not valid JSON"]),
                                          ("custom_code", ["config.json", "needs its own code to load (evil.Model)", "--trust-remote-code"])])
def test_model_folders_are_checked_at_every_door(tmp_path, capsys, tiny_bert, reviews_csv, finished, kind, expect):
    "train, model-info, eval and export apply one rule to a model folder: readable config, whole weights, no unpickling unless asked."
    folder = _model_variants(tmp_path / "models", tiny_bert)[kind]
    keep = _digest(tmp_path)
    _fails(capsys, ["model-info", str(folder)], *expect)
    _fails(capsys, ["train", "--model", str(folder), "--data", str(reviews_csv), "--output-dir", str(tmp_path / "runs2")], *expect)
    assert not (tmp_path / "runs2").exists()                                      # refused before any run folder
    import shutil
    run = tmp_path / "runs" / f"r-{kind}"; shutil.copytree(finished, run)
    for f in ("config.json", "model.safetensors"): (run / "model" / f).unlink()
    for f in folder.iterdir():
        if f.name in ("config.json", "model.safetensors", "pytorch_model.bin"): shutil.copy2(f, run / "model" / f.name)
    keep = _digest(tmp_path)
    _fails(capsys, ["eval", str(run)], *expect[:1])
    _fails(capsys, ["export", str(run), "--out", str(tmp_path / "ex")], *expect[:1])
    assert _digest(tmp_path) == keep and not (tmp_path / "ex").exists() and not (tmp_path / "models" / "RAN").exists()
    if kind == "pickled":                                                          # the user's own opt-in, for a model they trust
        assert main(["model-info", str(folder), "--allow-pickle"]) == 0


def test_compare_with_a_torn_predictions_file(tmp_path, capsys, finished):
    import shutil
    other = tmp_path / "runs" / "torn"; shutil.copytree(finished, other)
    p = other / "predictions.jsonl"; b = p.read_bytes(); p.write_bytes(b[: b.index(b"\n", len(b) // 2) + 20])
    _fails(capsys, ["compare", str(finished), str(other)], "torn/predictions.jsonl", "torn or damaged", "ftlab eval")


def test_label_patches_and_queues_with_garbage(tmp_path, capsys, tiny_bert, reviews_csv):
    import json
    patch = tmp_path / "patch.csv"
    patch.write_text("row,text_sha1,old,new,annotators\nabc,0123456789ab,pos,neg,a\n")
    keep = _digest(tmp_path)
    _fails(capsys, ["train", "--model", tiny_bert, "--data", str(reviews_csv), "--labels-patch", str(patch), "--output-dir", str(tmp_path / "runs")],
           "patch.csv, row 2, column 'row'", "'abc', not a row number")
    assert not (tmp_path / "runs").exists()
    good = "".join(json.dumps({"row": i, "reason": "flipped"}) + "\n" for i in range(4))
    (tmp_path / "torn.jsonl").write_text(good[:30] + "\n" + good)
    (tmp_path / "norow.jsonl").write_text(good + json.dumps({"row": "abc"}) + "\n")
    keep = _digest(tmp_path)
    _fails(capsys, ["label", "queue", str(reviews_csv), "--queue-file", str(tmp_path / "torn.jsonl")], "torn.jsonl, row 1", "not valid JSON")
    _fails(capsys, ["label", "queue", str(reviews_csv), "--queue-file", str(tmp_path / "norow.jsonl")], "norow.jsonl, row 5", "no row of the data (row: 'abc')")
    (tmp_path / "ok.jsonl").write_text(good + good[:25])                               # a torn last line: a crash while appending, skipped
    assert main(["label", "queue", str(reviews_csv), "--queue-file", str(tmp_path / "ok.jsonl")]) == 0
    (tmp_path / "lab" / "labels").mkdir(parents=True)
    (tmp_path / "lab" / "labels" / "a.jsonl").write_text(json.dumps({"action": "label", "item": "abc", "annotator": "a", "label": "neg"}) + "\n")
    _fails(capsys, ["label", "patch", str(tmp_path / "lab"), "--data", str(reviews_csv), "--out", str(tmp_path / "p")], "labels for rows not in the data: ['abc']")
    assert not (tmp_path / "p").exists()


def test_ab_session_never_into_a_run_or_a_users_folder(tmp_path, capsys, finished):
    keep = _digest(tmp_path)
    _fails(capsys, ["ab", str(finished), str(finished), "--out", str(finished)], "is the input")
    _fails(capsys, ["ab", str(finished), str(finished), "--out", str(finished / "ab")], "lies inside")
    mine = tmp_path / "mine"; mine.mkdir(); (mine / "items.jsonl").write_text("my own file")
    keep = _digest(tmp_path)
    _fails(capsys, ["ab", str(finished), str(finished), "--out", str(mine)], "not empty", "new folder for the session")
    assert _digest(tmp_path) == keep


def test_wrong_kind_of_path_for_config_patch_and_run(tmp_path, capsys, reviews_csv):
    (tmp_path / "d").mkdir()
    _fails(capsys, ["train", "--config", str(tmp_path / "d"), "--output-dir", str(tmp_path / "runs")], "a folder, not a config file")
    (tmp_path / "big.yaml").write_text("junk: " + "x" * (2 << 20) + "\n")
    _fails(capsys, ["train", "--config", str(tmp_path / "big.yaml"), "--output-dir", str(tmp_path / "runs")], "big.yaml", "2.0 MB", "a few settings")
    _fails(capsys, ["train", "--data", str(reviews_csv), "--labels-patch", str(tmp_path / "d"), "--output-dir", str(tmp_path / "runs")],
           "a folder, not a labels patch")
    assert not (tmp_path / "runs").exists()
    err = _fails(capsys, ["eval", str(tmp_path / "no" / "such")], "no such run folder")
    assert "--resume" not in err
    _fails(capsys, ["eval", str(tmp_path / "d")], "not a run folder")
