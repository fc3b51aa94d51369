"""The CPU patches that change what verl computes, checked against plain transformers,
and the ones that save work (`cpu_steps`) against verl's own rollout and step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from verl import DataProto
from verl.trainer.ppo import ray_trainer
from verl.workers.rollout import hf_rollout

from rm_core.embedded_models import build_tiny_qwen2
from rm_core.training import cpu_patches, cpu_steps

NEW_TOKENS = 12
PROMPTS = ["Rate this answer: yes.", "A much longer prompt that needs no padding at all, so "
           "the other prompts are padded on the left to its length."]


@pytest.fixture(scope="module")
def model_and_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """The tiny Qwen2's architecture and tokenizer with larger random weights: the tiny
    model itself predicts one token everywhere, whatever the positions."""
    folder: Path = build_tiny_qwen2(tmp_path_factory.mktemp("rollout") / "tiny-qwen2")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    config = AutoConfig.from_pretrained(folder)
    config.initializer_range = 0.3
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval(), tokenizer


def _rollout(model: object, batch: dict[str, torch.Tensor], tokenizer: object,
             **settings: object) -> DataProto:
    """verl's HFRollout (patched or as shipped, whatever is installed now) sampling as the
    cpu profile's actor worker does, seeded."""
    config = OmegaConf.create({"do_sample": True, "temperature": 1.0, "top_p": 1.0,
                               "top_k": -1, "n": 1, "response_length": NEW_TOKENS,
                               **settings})
    position_ids = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    prompts = DataProto.from_dict(
        tensors={**batch, "position_ids": position_ids},
        meta_info={"eos_token_id": tokenizer.eos_token_id,
                   "pad_token_id": tokenizer.pad_token_id})
    torch.manual_seed(0)
    return hf_rollout.HFRollout(model, config).generate_sequences(prompts)


def test_the_rollout_generates_what_transformers_generates(
    model_and_tokenizer: tuple[object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer = model_and_tokenizer
    monkeypatch.setattr(torch.cpu, "empty_cache", lambda: None, raising=False)
    batch = dict(tokenizer(PROMPTS, return_tensors="pt", padding=True))
    torch.manual_seed(0)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model.generate(**batch, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                  do_sample=True, top_k=0, top_p=1.0, temperature=1.0,
                                  pad_token_id=tokenizer.pad_token_id)
    expected = expected[:, batch["input_ids"].shape[1]:]

    as_shipped = _rollout(model, batch, tokenizer).batch["responses"]
    assert not torch.equal(as_shipped, expected), "verl's rollout no longer needs the patch"

    monkeypatch.setattr(hf_rollout.HFRollout, "_generate_minibatch",
                        hf_rollout.HFRollout._generate_minibatch)
    cpu_patches._hf_rollout_positions_from_mask()
    assert torch.equal(_rollout(model, batch, tokenizer).batch["responses"], expected)
    assert "generate" not in vars(model)  # the module is left as it was


@pytest.fixture
def patched_rollout(model_and_tokenizer: tuple[object, object], tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """The tiny model (saved, so the rollout finds its tokenizer) under the CPU patches."""
    model, tokenizer = model_and_tokenizer
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    monkeypatch.setattr(model.config, "_name_or_path", str(tmp_path))
    monkeypatch.setattr(torch.cpu, "empty_cache", lambda: None, raising=False)
    for name in ("generate_sequences", "_generate_minibatch"):
        monkeypatch.setattr(hf_rollout.HFRollout, name, getattr(hf_rollout.HFRollout, name))
    cpu_patches._hf_rollout_positions_from_mask()
    cpu_steps._rollout_trims_and_stops()
    return model, tokenizer


def test_trimmed_padding_samples_the_same_tokens(patched_rollout: tuple[object, object]
                                                 ) -> None:
    model, tokenizer = patched_rollout
    batch = dict(tokenizer(PROMPTS, return_tensors="pt", padding="max_length", max_length=64))
    full = _rollout(model, batch, tokenizer)
    trimmed = _rollout(model, batch, tokenizer, trim_padding=True)
    longest = int(batch["attention_mask"].sum(-1).max())
    assert full.batch["prompts"].shape[1] == 64
    assert trimmed.batch["prompts"].shape[1] == longest
    width = trimmed.batch["responses"].shape[1]
    assert torch.equal(trimmed.batch["responses"], full.batch["responses"][:, :width])
    assert torch.equal(trimmed.batch["input_ids"][:, longest:], trimmed.batch["responses"])


def test_generation_stops_at_the_closing_tag_and_masks_what_follows(
    patched_rollout: tuple[object, object]
) -> None:
    model, tokenizer = patched_rollout
    batch = dict(tokenizer(PROMPTS, return_tensors="pt", padding=True))
    free = _rollout(model, batch, tokenizer).batch["responses"]
    # A "closing tag" the random model writes in its first sample, a few tokens in.
    tag = tokenizer.decode(free[0, 3:5])
    stopped = _rollout(model, batch, tokenizer, stop_strings=[tag]).batch
    prompt_length = batch["input_ids"].shape[1]
    for row in range(len(PROMPTS)):
        mask = stopped["attention_mask"][row, prompt_length:]
        end = int(mask.sum())
        assert torch.equal(mask[:end], torch.ones(end, dtype=mask.dtype))
        assert not mask[end:].any()
        assert torch.equal(stopped["responses"][row, :end], free[row, :end])
        assert (stopped["responses"][row, end:] == tokenizer.pad_token_id).all()
        text = tokenizer.decode(free[row, :end])
        if row == 0:
            assert tag in text and tag not in tokenizer.decode(free[row, :end - 1])
        else:
            assert end == NEW_TOKENS or tag in text


def _grpo_batch(rewards: list[list[float]]) -> DataProto:
    """A scored GRPO batch: one uid per prompt group, one reward per sample (last token)."""
    rows = [(f"group{g}", reward) for g, group in enumerate(rewards) for reward in group]
    scores = torch.zeros(len(rows), 3)
    scores[:, -1] = torch.tensor([reward for _, reward in rows])
    return DataProto.from_dict(
        tensors={"token_level_rewards": scores, "response_mask": torch.ones(len(rows), 3)},
        non_tensors={"uid": np.array([uid for uid, _ in rows], dtype=object)})


class _Workers:
    """The actor worker group, recording what each update receives."""

    def __init__(self) -> None:
        self.updated: list[int] = []

    def update_actor(self, batch: DataProto) -> DataProto:
        self.updated.append(len(batch))
        return DataProto(meta_info={"metrics": {"actor/pg_loss": [0.0]}})


@pytest.fixture
def group_filter(monkeypatch: pytest.MonkeyPatch) -> object:
    """A trainer whose workers are `_Workers`, with the group filter installed."""
    for name in ("compute_advantage", "compute_data_metrics"):
        monkeypatch.setattr(ray_trainer, name, getattr(ray_trainer, name))
    monkeypatch.setattr(ray_trainer, "compute_data_metrics", lambda batch, use_critic: {})

    def init_workers(self: object) -> None:
        self.actor_rollout_wg = _Workers()

    monkeypatch.setattr(ray_trainer.RayPPOTrainer, "init_workers", init_workers)
    cpu_steps._drop_uniform_groups()
    trainer = ray_trainer.RayPPOTrainer.__new__(ray_trainer.RayPPOTrainer)
    trainer.global_steps = 3
    trainer.init_workers()
    return trainer


def _step(trainer: object, rewards: list[list[float]], drop: bool = True
          ) -> tuple[DataProto, dict]:
    config = OmegaConf.create({"drop_uniform_groups": drop, "norm_adv_by_std_in_grpo": True})
    batch = ray_trainer.compute_advantage(_grpo_batch(rewards), adv_estimator="grpo",
                                          num_repeat=len(rewards[0]), config=config)
    output = trainer.actor_rollout_wg.update_actor(batch)
    return output, ray_trainer.compute_data_metrics(batch=batch, use_critic=False)


def test_uniform_groups_are_left_out_of_the_update_and_counted(group_filter: object) -> None:
    output, metrics = _step(group_filter, [[1, 0, 1, 1], [0.5] * 4, [0, 0, 0, 0.2]])
    assert group_filter.actor_rollout_wg.updated == [8]
    assert output.meta_info["metrics"] == {"actor/pg_loss": [0.0]}
    assert metrics == {"dynamic_sampling/kept_groups": 2, "dynamic_sampling/total_groups": 3}

    _step(group_filter, [[1, 0, 1, 1], [0.5] * 4], drop=False)
    assert group_filter.actor_rollout_wg.updated == [8, 8]


def test_a_step_whose_groups_are_all_uniform_skips_the_update_and_says_so(
    group_filter: object, capsys: pytest.CaptureFixture[str]
) -> None:
    output, metrics = _step(group_filter, [[1.0] * 4, [0.0] * 4])
    assert group_filter.actor_rollout_wg.updated == []
    assert output.meta_info["metrics"] == {}
    assert metrics == {"dynamic_sampling/kept_groups": 0, "dynamic_sampling/total_groups": 2}
    assert "every prompt group of step 3 has equal rewards; update skipped" in (
        capsys.readouterr().out)


def test_answer_end_is_the_shortest_prefix_holding_a_stop_string() -> None:
    def decode(ids: list[int]) -> str:
        return "".join(chr(ord("a") + i) for i in ids)

    assert cpu_steps.answer_end([0, 1, 2, 3, 2, 3], decode, ["cd"]) == 4
    assert cpu_steps.answer_end([0, 1, 2], decode, ["cd", "b"]) == 2
    assert cpu_steps.answer_end([0, 1, 2], decode, ["x"]) is None
    assert cpu_steps.answer_end([], decode, ["x"]) is None
