"""The learning-rate range test: real optimisation steps through the run's own trainer, an exponential schedule, early
ends (divergence, stop), nothing left on disk, the CLI never overwriting, the Train dashboard's Find LR / Use it."""
import json, math, threading

import pytest

from fine_tune_lab.cli import main
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.lr_find import LRFind, lr_find


def _cfg(tmp_path, model, data, **kw):
    return TrainConfig(**{**dict(model=model, data=str(data), batch_size=8, max_length=32, precision="fp32", seed=3,
                                 output_dir=str(tmp_path / "runs")), **kw})


def test_rates_grow_exponentially_and_the_loss_falls_then_diverges(tmp_path, tiny_bert, reviews_csv):
    seen = []
    found = lr_find(_cfg(tmp_path, tiny_bert, reviews_csv), start_lr=1e-5, end_lr=100.0, num_steps=60,
                    on_step=lambda i, n, lr, loss: seen.append((i, n, lr, loss)))
    n = len(found.lrs)
    assert [s[0] for s in seen] == list(range(1, n + 1)) and all(s[1] == 60 for s in seen)
    ratios = [b / a for a, b in zip(found.lrs, found.lrs[1:])]
    assert found.lrs[0] == pytest.approx(1e-5) and max(ratios) == pytest.approx(min(ratios)) == pytest.approx((1e7) ** (1 / 59))
    assert found.ended == "diverged" and n < 60, (found.ended, n)           # lr 100 on a tiny BERT: the loss explodes
    assert min(found.smoothed) < found.smoothed[0] - 0.02                   # real steps: the loss fell before it diverged
    assert found.suggestion == pytest.approx(found.suggestions["min"] / 10)
    assert found.suggestion < found.lrs[-1] and "Suggested learning rate" in found.summary()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())   # no run left behind
    again = LRFind.load(found.save(tmp_path / "lr.json"))
    assert again.losses == found.losses and again.suggestion == found.suggestion


def test_stop_ends_after_the_current_step(tmp_path, tiny_bert, reviews_csv):
    stop = threading.Event()
    found = lr_find(_cfg(tmp_path, tiny_bert, reviews_csv), num_steps=50, stop=stop, on_step=lambda i, *_: i == 3 and stop.set())
    assert found.ended == "stopped" and len(found.lrs) == 3


def test_sft_uses_the_completion_only_loss(tmp_path, tiny_llama):
    "The test's first step at a tiny rate has the untrained model's loss on the completion tokens only, as training computes it."
    import pandas as pd
    rows = pd.DataFrame({"prompt": [f"Headline for story {i}?" for i in range(48)], "completion": [f"Story {i} wins" for i in range(48)]})
    rows.to_json(tmp_path / "heads.jsonl", orient="records", lines=True)
    cfg = _cfg(tmp_path, tiny_llama, tmp_path / "heads.jsonl", task="sft", max_length=64, eval_samples=0)
    found = lr_find(cfg, start_lr=1e-9, end_lr=1e-8, num_steps=10)
    assert found.ended == "end" and all(math.isfinite(l) for l in found.losses)
    from fine_tune_lab.train import Run
    r = Run.new(cfg.replace(output_dir=str(tmp_path / "ref")), quiet=True, progress=False).build()
    b = next(iter(r.trainer.get_train_dataloader()))
    assert (b["labels"] == -100).any() and (b["labels"] != -100).any()     # prompts masked, completions kept
    ref = float(r.trainer.compute_loss(r.trainer.model, r.trainer._prepare_inputs(b)).detach())
    assert found.losses[0] == pytest.approx(ref, rel=1e-3)


def test_cli_prints_the_suggestion_and_never_overwrites(tmp_path, tiny_bert, reviews_csv, capsys):
    out = tmp_path / "lr.json"
    args = ["lr-find", "--model", tiny_bert, "--data", str(reviews_csv), "--num-steps", "20", "--start-lr", "1e-4", "--end-lr", "50",
            "--precision", "fp32", "--output-dir", str(tmp_path / "runs"), "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    d = json.loads(out.read_text())
    assert len(d["lrs"]) == len(d["losses"]) > 5 and d["settings"]["start_lr"] == 1e-4
    if d["suggestion"]:
        lr = float(f"{d['suggestion']:.1e}")
        assert f"ftlab train --learning-rate {lr:g}" in printed
    before = out.read_text()
    assert main(args) == 2 and out.read_text() == before
    assert "nothing was overwritten" in capsys.readouterr().err
    assert main(args[:-2] + [str(tmp_path / "other.json"), "--num-steps", "3"]) == 2 and "num_steps" in capsys.readouterr().err


def test_dashboard_finds_in_the_background_and_uses_the_rate(tmp_path, tiny_bert, reviews_csv):
    from fine_tune_lab.ui.train import TrainDashboard
    d = TrainDashboard(_cfg(tmp_path, tiny_bert, reviews_csv), live=True)
    d.buttons["Find LR"].click()
    assert d.buttons["Train"].disabled and "range test" in d.lr_status.value
    d.buttons["Train"].click(); assert "range test is running" in d.message.value     # one thing at a time, said in the view
    d.lr_thread.join(120)
    assert d.lr_result is not None and type(d.lr_box.children[0]).__name__ == "FigureWidget"
    assert not d.buttons["Train"].disabled
    if d.lr_result.suggestion:
        d.buttons["Use it"].click()
        assert d.form.config().learning_rate == float(f"{d.lr_result.suggestion:.1e}") and "Learning rate set" in d.message.value


def test_dashboard_shows_a_failed_test_in_the_view(tmp_path, tiny_bert):
    from fine_tune_lab.ui.train import TrainDashboard
    d = TrainDashboard(_cfg(tmp_path, tiny_bert, tmp_path / "missing.csv"), live=True)
    d.buttons["Find LR"].click(); d.lr_thread.join(60)
    assert "ftlab-error" in d.lr_status.value and "missing.csv" in d.lr_status.value and not d.buttons["Find LR"].disabled
