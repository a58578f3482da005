"""Bad settings fail before any training, with the setting's name and what is allowed."""
import pytest

from fine_tune_lab.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, expect", [
    (["--learning-rate", "-1"], ["setting 'learning_rate'", "allowed: a number > 0"]),
    (["--epochs", "0"], ["setting 'epochs'", "allowed: a number > 0"]),
    (["--batch-size", "0"], ["setting 'batch_size'", "allowed: a number >= 1"]),
    (["--val-size", "0.6", "--test-size", "0.5"], ["setting 'val_size'", "leaves nothing to train on"]),
    (["--model", "no-such-model-xyz"], ["setting 'model'", "offline models: minilm, smollm2"]),
    (["--model", "minilmm"], ["setting 'model'", "Did you mean 'minilm'?"]),
    (["--model", "./missing/folder"], ["setting 'model'", "no such folder"]),
    (["--text-col", "txt"], ["column 'txt'", "Did you mean 'text'?", "text, label"]),
    (["--label-col", "category"], ["column 'category'", "text, label"]),
    (["--data", "no_such_file.csv"], ["no_such_file.csv", "no such file"]),
    (["--epochs", "three"], ["setting 'epochs'", "'three' is not a valid float"]),
    (["--lora", "--freeze-layers", "2"], ["setting 'freeze_layers'", "LoRA already freezes"]),
])
def test_bad_settings_fail_early(capsys, tmp_path, argv, expect):
    code, err = run_cli(capsys, "train", "--output-dir", str(tmp_path / "runs"), *argv)
    assert code == 2
    for e in expect:
        assert e in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "a run dir was made before the check"


def test_unknown_setting_in_config_file(capsys, tmp_path):
    (tmp_path / "c.yaml").write_text("lr: 0.001\nepochs: 1\n")
    code, err = run_cli(capsys, "train", "--config", str(tmp_path / "c.yaml"))
    assert code == 2 and "c.yaml" in err and "unknown setting 'lr'" in err and "learning_rate" in err


def test_broken_yaml_names_the_line(capsys, tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 1\nlearning_rate: [1e-4\n")
    code, err = run_cli(capsys, "train", "--config", str(tmp_path / "c.yaml"))
    assert code == 2 and "c.yaml" in err and "not valid YAML" in err and "row" in err


def test_argparse_choices_name_allowed_values(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--task", "regression"])
    assert e.value.code == 2
    assert "classification" in capsys.readouterr().err


def test_models_and_datasets_list(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "minilm" in out and "smollm2" in out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "rotten_tomatoes" in out and "hamlet" in out and "bbc_news" in out
