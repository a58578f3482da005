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
