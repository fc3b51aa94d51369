"""The CPU patches that change what verl computes, checked against plain transformers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from verl import DataProto
from verl.workers.rollout import hf_rollout

from rm_core.embedded_models import build_tiny_qwen2
from rm_core.training import cpu_patches

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


def _rollout_sampled(model: object, batch: dict[str, torch.Tensor], tokenizer: object
                    ) -> torch.Tensor:
    """verl's HFRollout, sampling as the cpu profile's actor worker does, seeded."""
    config = OmegaConf.create({"do_sample": True, "temperature": 1.0, "top_p": 1.0,
                               "top_k": -1, "n": 1, "response_length": NEW_TOKENS})
    position_ids = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    prompts = DataProto.from_dict(
        tensors={**batch, "position_ids": position_ids},
        meta_info={"eos_token_id": tokenizer.eos_token_id,
                   "pad_token_id": tokenizer.pad_token_id})
    torch.manual_seed(0)
    output = hf_rollout.HFRollout(model, config).generate_sequences(prompts)
    return output.batch["responses"]


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

    as_shipped = _rollout_sampled(model, batch, tokenizer)
    assert not torch.equal(as_shipped, expected), "verl's rollout no longer needs the patch"

    monkeypatch.setattr(hf_rollout.HFRollout, "_generate_minibatch",
                        hf_rollout.HFRollout._generate_minibatch)
    cpu_patches._hf_rollout_positions_from_mask()
    assert torch.equal(_rollout_sampled(model, batch, tokenizer), expected)
    assert "generate" not in vars(model)  # the module is left as it was
