"""Model info card (issue 9): parameter counts from the meta device equal sum(p.numel()) of the loaded model."""
import pytest

from fine_tune_lab.core import ConfigError
from fine_tune_lab.config import TrainConfig
from fine_tune_lab.models_info import info_table, local_models, memory_estimate, model_info, recommend


def _real(cfg, labels):
    model, _ = cfg.task_spec.model(cfg.resolved(), labels)       # the run's model: its task's head, freezing, LoRA
    ps = list(model.parameters())
    return sum(p.numel() for p in ps), sum(p.numel() for p in ps if p.requires_grad)


@pytest.mark.parametrize("arch, task", [("bert", "classification"), ("llama", "causal-lm"), ("llama", "classification")])
@pytest.mark.parametrize("setting", [{}, dict(freeze_layers=1), dict(freeze_embeddings=True), dict(freeze_embeddings=True, freeze_layers=2),
                                     dict(lora=True), dict(lora=True, lora_r=2)])
def test_counts_match_loaded_model(arch, task, setting, tiny_bert, tiny_llama):
    path = tiny_bert if arch == "bert" else tiny_llama
    cfg = TrainConfig(model=path, task=task, **setting)
    info = model_info(path, cfg, num_labels=3)
    assert (info["total"], info["trainable"]) == _real(cfg, ["a", "b", "c"])
    if setting: assert info["trainable"] < info["total"]


def test_card_shape_and_errors(tiny_bert):
    info = model_info(tiny_bert)
    assert (info["kind"], info["layers"], info["hidden"], info["heads"], info["max_positions"]) == ("encoder", 2, 32, 2, 512)
    assert "classification" in info["tasks"]
    assert info["memory_for"] == dict(batch_size=16, seq_len=128, precision="fp32", optimizer="AdamW")
    assert "estimate" in " ".join(info_table(info)["field"])
    with pytest.raises(ConfigError, match="has 2 layers"): model_info(tiny_bert, TrainConfig(freeze_layers=5))
    with pytest.raises(ConfigError, match="unknown task"): recommend("summarise")


def test_memory_estimate_by_hand():
    m = memory_estimate(total=2**30, trainable=2**29, layers=1, hidden=64, heads=1, vocab=0, batch_size=1, seq_len=64, precision="bf16")
    # weights 4 B, gradients 4 B and AdamW 8 B per (trainable) parameter; activations 1*64*64*1*(34+5*1*64/64) bytes
    assert (m["weights"], m["gradients"], m["optimizer"]) == (4.0, 2.0, 4.0)
    assert m["activations"] == round(64 * 64 * 39 / 2**30, 3)


def test_recommend_and_local(tmp_path, tiny_bert):
    assert recommend("causal-lm").loc[0, "name"] == "gpt2" and "smollm2" in set(recommend("causal-lm")["name"])
    assert recommend("classification").loc[0, "available"] == "offline"
    (tmp_path / "runs" / "r1" / "model").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "model" / "config.json").write_text("{}")
    (tmp_path / "runs" / "r1" / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "checkpoints" / "checkpoint-2" / "config.json").write_text("{}")
    assert local_models(tmp_path / "runs") == [str(tmp_path / "runs" / "r1" / "model")]


def test_cli_model_info(capsys, tiny_llama):
    from fine_tune_lab.cli import main
    assert main(["model-info", tiny_llama, "--task", "causal-lm", "--lora", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "LlamaForCausalLM (decoder)" in out and "batch 4" in out and "estimate" in out and "decoder" in out
    assert main(["model-info", tiny_llama, "--task", "causal-lm", "--freeze-layers", "3"]) == 2
    assert "has 2 layers" in capsys.readouterr().err
