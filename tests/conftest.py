"""Shared fixtures: offline mode, tiny random models (AutoConfig -> save_pretrained), small data files."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    "A 2-layer, hidden-32 random BERT with MiniLM's tokenizer."
    from fine_tune_lab.models import tiny_model
    return str(tiny_model(tmp_path_factory.mktemp("models") / "tiny-bert", "bert"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    "A 2-layer, hidden-32 random Llama with a small BPE tokenizer."
    from fine_tune_lab.models import tiny_model
    return str(tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama", "llama"))


@pytest.fixture
def reviews_csv(tmp_path):
    "A small, learnable two-class CSV with non-standard column names."
    good = ["a wonderful, moving film", "brilliant acting and a great story", "I loved every minute",
            "a delight from start to finish", "superb and touching"]
    bad = ["a dull, boring mess", "terrible acting and a weak plot", "I hated every minute",
           "a tedious waste of time", "awful and lifeless"]
    rows = [(f"{t} ({i})", "pos") for i in range(12) for t in good] + [(f"{t} ({i})", "neg") for i in range(12) for t in bad]
    p = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(p, index=False)
    return p


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "A JupyterLab server plus headless Chromium (skipped only where Chromium/playwright are absent)."
    from jupyter_browser import Lab, available
    why = available()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("lab")
    lab = Lab(root)
    yield lab
    lab.close()
