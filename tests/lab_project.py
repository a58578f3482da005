"""A small lab project on disk for the lab-app tests: data with unlabelled rows, two finished runs, a sweep, train.yaml."""
from pathlib import Path

import pandas as pd

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.train import train


def write_reviews(proj: Path) -> Path:
    "72 labelled reviews (two classes) and two unlabelled rows, one with markup, as `proj/reviews.csv`."
    proj.mkdir(parents=True, exist_ok=True)
    good, bad = ["a wonderful film", "brilliant and moving", "I loved it"], ["a dull mess", "boring and weak", "I hated it"]
    rows = [(f"{t} {i}", "pos") for i in range(12) for t in good] + [(f"{t} {i}", "neg") for i in range(12) for t in bad]
    rows += [("<b>not yet labelled</b> one", None), ("not yet labelled two", None)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(proj / "reviews.csv", index=False)
    return proj / "reviews.csv"


def base_config(proj: Path, model: str) -> TrainConfig:
    "The project's settings: its reviews, the given model, one epoch, runs under `proj/runs`."
    return TrainConfig(model=model, data=str(proj / "reviews.csv"), epochs=1, batch_size=8, precision="fp32",
                       output_dir=str(proj / "runs"), val_size=0.2, test_size=0.25)


def make_project(root: Path, model: str) -> Path:
    "Write the project into `root/proj` and return that folder."
    proj = Path(root) / "proj"
    write_reviews(proj)
    cfg = base_config(proj, model)
    train(cfg.replace(run_name="first"), progress=False, quiet=True)
    train(cfg.replace(run_name="second", learning_rate=5e-3, epochs=3), progress=False, quiet=True)
    sweep = proj / "sweeps" / "lr"
    sweep.mkdir(parents=True)
    pd.DataFrame({"id": ["a", "b", "c"], "learning_rate": [1e-5, 1e-4, 1e-3], "status": ["finished"] * 3,
                  "error": [""] * 3, "test.accuracy": [0.5, 0.7, 0.6], "output": ["x", "y", "z"]}).to_csv(sweep / "summary.csv", index=False)
    cfg.replace(epochs=300, logging_steps=1, eval_steps=6, save_steps=6, run_name="ui").save(proj / "train.yaml")
    return proj
