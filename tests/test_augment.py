"""Augmentation (issue 9): spec errors, reproducibility, and evaluation splits untouched through the real train path."""
import pandas as pd
import pytest

from fine_tune_lab.augment import augment_splits, augment_texts, parse_augment
from fine_tune_lab.core import ConfigError, RunDir
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.prepare import prepare
from fine_tune_lab.train import train


@pytest.mark.parametrize("spec, part", [("delete:0.1,swop:0.1", "Did you mean 'swap'?"), ("delete", "has no ':probability'"),
                                        ("synonym:x", "'x' is not a number"), ("swap:0", "above 0"), ("swap:0.1,swap:0.2", "twice")])
def test_bad_spec_is_a_config_error_naming_the_part(spec, part):
    with pytest.raises(ConfigError, match="augment") as e: TrainConfig(augment=spec)
    assert part in str(e.value) and "operation:probability" in str(e.value)


def test_causal_lm_refuses_augment():
    with pytest.raises(ConfigError, match="classification"): TrainConfig(task="causal-lm", augment="delete:0.1")


def test_reproducible_and_independent_of_order():
    texts = ["a wonderful moving film", "a dull boring mess of a plot", "brilliant acting and a great story"]
    a = augment_texts(texts, "delete:0.2,swap:0.2,synonym:0.3", copies=3, seed=7, keys=[10, 11, 12])
    b = augment_texts(texts[::-1], "delete:0.2,swap:0.2,synonym:0.3", copies=3, seed=7, keys=[12, 11, 10])
    assert a.equals(augment_texts(texts, "delete:0.2,swap:0.2,synonym:0.3", copies=3, seed=7, keys=[10, 11, 12]))
    assert sorted(a["text"]) == sorted(b["text"])          # a text's copies depend on its key, not its position


def test_evaluation_splits_untouched_and_never_equal(reviews_csv):
    sp = prepare(TrainConfig(data=str(reviews_csv), seed=1))
    # a validation text that augmentation of a train text would produce is dropped, never trained on
    asp = augment_splits(sp, "delete:0.5", copies=5, seed=1)
    for k in ("validation", "test"):
        assert asp[k] is sp[k]
    aug = asp["train"][asp["train"]["augmented"]]
    assert len(aug) == asp.augmentation["added"] > 0
    held = set(sp["validation"]["text"]) | set(sp["test"]["text"])
    assert not set(aug["text"]) & held
    assert set(aug["row"]) <= set(sp["train"]["row"])      # copies keep their source row id


def test_train_path_augments_train_only(tmp_path, tiny_bert, reviews_csv):
    cfg = TrainConfig(model=tiny_bert, data=str(reviews_csv), augment="delete:0.2,swap:0.1,synonym:0.2", augment_copies=2,
                      epochs=1, batch_size=16, output_dir=str(tmp_path), run_name="aug", eval_samples=0)
    plain = prepare(TrainConfig(data=str(reviews_csv), seed=cfg.seed))
    splits = prepare(cfg)
    for k in ("validation", "test"):
        pd.testing.assert_frame_equal(splits[k], plain[k])
    assert len(splits["train"]) == len(plain["train"]) + splits.augmentation["added"]
    res = train(cfg, progress=False, quiet=True)
    run = RunDir(tmp_path / "aug")
    data = run.read_json("data.json")
    assert data["augmentation"]["added"] == splits.augmentation["added"] > 0
    assert data["sizes"]["train"] == len(splits["train"]) and data["sizes"]["test"] == len(plain["test"])
    preds = pd.read_json(run / "predictions.jsonl", lines=True)
    assert sorted(preds["row"]) == sorted(plain["test"]["row"])   # the test split the model is scored on is the plain one
    assert res.results["sizes"]["test"] == len(plain["test"])


def test_label_check_with_a_real_classifier_folder(tiny_bert):
    from fine_tune_lab.augment import classifier, label_check, preview
    pairs = preview(pd.DataFrame(dict(text=["a wonderful moving film", "a dull boring mess"], label=["pos", "neg"])), "synonym:1", copies=2, seed=0)
    predict = classifier(tiny_bert)
    out = label_check(pairs, predict)
    assert len(out) == len(pairs) and set(out["pred_original"]) | set(out["pred_augmented"]) <= {"LABEL_0", "LABEL_1"}
    assert out["flipped"].tolist() == [a != b for a, b in zip(out["pred_original"], out["pred_augmented"])]
    assert out.equals(label_check(pairs, predict))      # eval mode (no dropout): the same answer twice
