"""Judge generation with transformers on CPU: batched, left-padded, the training template.

Used to measure a base model's learning signal before training (its parse rate on the
validation prompts) and by evaluation. Prompts are the verl rows' chat messages,
rendered with the model's chat template plus the template's answer prefix, exactly as
`JudgeRLDataset` renders them for training.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel

from rm_core.judge.rewards import compute_score, template_kwargs
from rm_core.judge.templates import Template


class ParseRate(BaseModel):
    """How often a model answers in the judge format, and the reward it earns."""

    model: str
    prompts: int
    samples: int
    parsed: int
    mean_reward: float
    groups_with_signal: int

    @property
    def rate(self) -> float:
        return self.parsed / self.samples if self.samples else 0.0


def load(model_dir: str | Path) -> tuple[Any, Any]:
    """Model (fp32, eval mode) and tokenizer, padding on the left for batched generation.

    Weights load from safetensors only: a pickled `pytorch_model.bin` could run arbitrary
    code when unpickled, so such a folder is refused instead.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                 use_safetensors=True)
    return model.eval(), tokenizer


def render(tokenizer: Any, messages: list[dict[str, str]], answer_prefix: str,
           thinking: bool = False) -> str:
    """The generation prompt: chat template with the assistant turn opened, then the prefix."""
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=thinking
    )
    return text + answer_prefix


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int,
    samples: int = 1,
    temperature: float = 0.0,
    batch_size: int = 8,
) -> list[list[str]]:
    """`samples` completions per prompt (greedy when temperature is 0), in prompt order.

    Prompts are batched shortest first, so each batch pads to a similar length: judge
    prompts differ several-fold in length, and padding to the longest of a random batch
    costs more prefill than batching saves.
    """
    import torch

    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    completions: list[list[str]] = [[] for _ in prompts]
    sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        inputs = tokenizer([prompts[i] for i in chosen], return_tensors="pt", padding=True,
                           add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                num_return_sequences=samples,
                pad_token_id=tokenizer.pad_token_id,
                **(sampling if temperature > 0 else {"do_sample": False}),
            )
        texts = tokenizer.batch_decode(
            output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
        for offset, index in enumerate(chosen):
            completions[index] = texts[offset * samples : (offset + 1) * samples]
    return completions


def parse_rate(
    model_dir: str | Path,
    val_parquet: Path,
    template: Template,
    limit: int = 16,
    samples: int = 4,
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    seed: int = 0,
    thinking: bool = False,
) -> ParseRate:
    """Sample `samples` judgements for the first `limit` val prompts and score them
    (seeded, so the same model and data give the same figure)."""
    import torch

    rows = pq.read_table(val_parquet).slice(0, limit).to_pylist()
    model, tokenizer = load(model_dir)
    prompts = [render(tokenizer, row["prompt"], template.answer_prefix, thinking) for row in rows]
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state alone
        torch.manual_seed(seed)
        outputs = generate(model, tokenizer, prompts, max_new_tokens, samples, temperature)
    parsed, rewards, groups_with_signal = 0, [], 0
    for row, completions in zip(rows, outputs, strict=True):
        group = [
            compute_score(row["data_source"], text, row["reward_model"]["ground_truth"],
                          **template_kwargs(template))
            for text in completions
        ]
        parsed += sum(int(score["parsed"]) for score in group)
        rewards += [score["score"] for score in group]
        groups_with_signal += len({round(score["score"], 9) for score in group}) > 1
    return ParseRate(
        model=str(model_dir),
        prompts=len(rows),
        samples=len(rewards),
        parsed=parsed,
        mean_reward=math.fsum(rewards) / len(rewards) if rewards else 0.0,
        groups_with_signal=groups_with_signal,
    )
