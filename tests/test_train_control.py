"""Stop, non-finite losses, out-of-memory recovery, and what freezing/dropout/LoRA change."""
import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from fine_tune_lab.core import LabError, RunDir
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.models import param_counts
from fine_tune_lab.trainer import StopControl
from fine_tune_lab.train import TrainingSession, resume, train


def build_model(cfg, labels=None):
    "The run's model as its task builds it: head, dropout, freezing, LoRA."
    return cfg.task_spec.model(cfg, labels)


def cfg(tmp_path, model, data, **kw):
    base = dict(model=model, data=str(data), epochs=2, batch_size=8, logging_steps=1, precision="fp32",
                output_dir=str(tmp_path), max_length=32, seed=3)
    return TrainConfig(**{**base, **kw})


class StopAt(TrainerCallback):
    "Presses Stop (as the dashboard does) when step `n` begins."
    def __init__(self, stop, n): self.stop, self.n = stop, n
    def on_step_begin(self, args, state, control, **kw):
        if state.global_step + 1 == self.n: self.stop.request()


def test_stop_then_resume_matches_uninterrupted(tmp_path, tiny_bert, reviews_csv):
    ref = train(cfg(tmp_path, tiny_bert, reviews_csv, run_name="ref"), progress=False, quiet=True)
    stop = StopControl()
    part = train(cfg(tmp_path, tiny_bert, reviews_csv, run_name="stopped"), callbacks=[stop, StopAt(stop, 5)], progress=False, quiet=True)
    assert part.results["stopped"] and part.run.status == "stopped"
    assert [p.name for p in part.run.checkpoints()][-1] == "checkpoint-5"
    assert not (part.path / "model").exists()
    done = resume(part.path, progress=False, quiet=True)
    a, b = load_file(str(ref.path / "model/model.safetensors")), load_file(str(done.path / "model/model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_session_trains_in_background_and_stops(tmp_path, tiny_bert, reviews_csv):
    s = TrainingSession(cfg(tmp_path, tiny_bert, reviews_csv, epochs=50))
    seen = []
    s.log.add_listener(lambda kind, payload: seen.append(kind))
    s.start()
    while s.log.progress["step"] < 3:
        assert s.running or s.error is None
        s.thread.join(0.05)
    s.stop()
    res = s.wait()
    assert s.state == "stopped" and res.results["stopped"]
    assert res.run.status == "stopped" and res.run.checkpoints()
    assert "record" in seen and "progress" in seen
    again = TrainingSession(resume_dir=res.path, changes=dict(epochs=1)).start().wait()  # fewer epochs: ends at once
    assert again.run.status == "finished"


class Poison(TrainerCallback):
    "Makes the model's output NaN for batches containing the word 'zebra'."
    def __init__(self, tok_id): self.tok_id = tok_id
    def on_train_begin(self, args, state, control, model=None, **kw):
        emb = model.get_input_embeddings()
        def hook(mod, inp, out):
            bad = (inp[0] == self.tok_id).any(1)
            return torch.where(bad[:, None, None], torch.full_like(out, float("nan")), out)
        emb.register_forward_hook(hook)


@pytest.fixture
def poisoned_csv(reviews_csv):
    import pandas as pd
    df = pd.read_csv(reviews_csv)
    df.loc[7, "review"] = "a zebra solo ruins it"
    df.to_csv(reviews_csv, index=False)
    return reviews_csv


def _tok_id(model):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model)
    assert tok.tokenize("zebra") == ["zebra"]
    return tok.convert_tokens_to_ids("zebra")


def test_nonfinite_loss_stops_and_names_the_batch(tmp_path, tiny_bert, poisoned_csv):
    c = cfg(tmp_path, tiny_bert, poisoned_csv, save_steps=2, run_name="nan", val_size=0.0, test_size=0.0)
    with pytest.raises(LabError) as e:
        train(c, callbacks=[Poison(_tok_id(tiny_bert))], progress=False, quiet=True)
    msg = str(e.value)
    assert "non-finite at step" in msg and "rows [" in msg and "7" in msg.split("rows [")[1].split("]")[0].split(", ")
    assert "--resume" in msg and "--learning-rate" in msg
    run = RunDir(tmp_path / "nan")
    assert run.status == "failed"
    bad = next(r for r in run.metrics() if r["event"] == "nonfinite")
    assert all(int(p.name.split("-")[1]) < bad["step"] for p in run.checkpoints()), "a checkpoint after the bad step was saved"
    for ck in run.checkpoints():
        w = load_file(str(ck / "model.safetensors"))
        assert all(torch.isfinite(t).all() for t in w.values())


def test_nonfinite_skip_policy_finishes(tmp_path, tiny_bert, poisoned_csv):
    c = cfg(tmp_path, tiny_bert, poisoned_csv, nonfinite="skip", run_name="skip", val_size=0.0, test_size=0.0)
    res = train(c, callbacks=[Poison(_tok_id(tiny_bert))], progress=False, quiet=True)
    events = [r for r in res.run.metrics() if r["event"] == "nonfinite"]
    assert len(events) == 2 and all(7 in e["rows"] and e["policy"] == "skip" for e in events)  # once per epoch
    w = load_file(str(res.path / "model/model.safetensors"))
    assert all(torch.isfinite(t).all() for t in w.values())


class FakeOOM(TrainerCallback):
    "Raises CUDA out-of-memory on the first step while the batch is larger than `limit`."
    def __init__(self, limit): self.limit = limit
    def on_step_begin(self, args, state, control, **kw):
        if args.per_device_train_batch_size > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")


def test_out_of_memory_halves_batch_keeps_effective_batch(tmp_path, tiny_bert, reviews_csv, capsys):
    res = train(cfg(tmp_path, tiny_bert, reviews_csv, batch_size=16, epochs=1, run_name="oom"),
                callbacks=[FakeOOM(4)], progress=False, quiet=False)
    saved = res.run.config()
    assert (saved.batch_size, saved.grad_accum) == (4, 4)
    ooms = [r for r in res.run.metrics() if r["event"] == "oom"]
    assert [(r["batch_size"], r["grad_accum"]) for r in ooms] == [(8, 2), (4, 4)]
    assert "effective batch 16, unchanged" in capsys.readouterr().err
    assert res.run.status == "finished"


def test_freezing_changes_what_trains(tmp_path, tiny_bert):
    full = param_counts(build_model(TrainConfig(model=tiny_bert).resolved(), ["a", "b"])[0])
    m, _ = build_model(TrainConfig(model=tiny_bert, freeze_embeddings=True, freeze_layers=1).resolved(), ["a", "b"])
    frozen = {n for n, p in m.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(("bert.embeddings", "bert.encoder.layer.0.")) for n in frozen)
    assert any(n.startswith("bert.encoder.layer.0.") for n in frozen)
    assert all(p.requires_grad for n, p in m.named_parameters() if n.startswith(("bert.encoder.layer.1.", "classifier")))
    assert param_counts(m)["trainable"] < full["trainable"]


def test_frozen_weights_do_not_move(tmp_path, tiny_bert, reviews_csv):
    res = train(cfg(tmp_path, tiny_bert, reviews_csv, freeze_embeddings=True, freeze_layers=1, epochs=1), progress=False, quiet=True)
    before = load_file(str(__import__("pathlib").Path(tiny_bert) / "model.safetensors"))
    after = load_file(str(res.path / "model/model.safetensors"))
    def strip(k): return k.removeprefix("bert.")
    after = {strip(k): v for k, v in after.items()}
    moved = {k for k in before if k in after and not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("embeddings.", "encoder.layer.0.")) for k in moved)
    assert any(k.startswith("encoder.layer.1.") for k in moved)
    assert res.results["params"]["trainable"] < res.results["params"]["total"]


def test_dropout_settings_reach_the_model(tiny_bert, tiny_llama):
    m, _ = build_model(TrainConfig(model=tiny_bert, dropout=0.25, classifier_dropout=0.3).resolved(), ["a", "b"])
    assert (m.config.hidden_dropout_prob, m.config.attention_probs_dropout_prob, m.config.classifier_dropout) == (0.25, 0.25, 0.3)
    assert m.dropout.p == 0.3 and m.bert.encoder.layer[0].output.dropout.p == 0.25
    lm, _ = build_model(TrainConfig(model=tiny_llama, task="causal-lm", dropout=0.2).resolved())
    assert lm.config.attention_dropout == 0.2


def test_lora_trains_only_adapters_and_head(tmp_path, tiny_bert, reviews_csv):
    m, _ = build_model(TrainConfig(model=tiny_bert, lora=True, lora_r=4).resolved(), ["a", "b"])
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "classifier" in n or "pooler" in n for n in trainable)
    assert any("lora_A" in n for n in trainable)
    assert any("pooler" in n for n in trainable)          # a classifier on BERT's pooler trains it (MiniLM ships none: frozen, it is random)
    res = train(cfg(tmp_path, tiny_bert, reviews_csv, lora=True, lora_r=4, epochs=1), progress=False, quiet=True)
    assert res.results["params"]["trainable"] < res.results["params"]["total"] / 5
    assert (res.path / "model" / "adapter_config.json").exists()
