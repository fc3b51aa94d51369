"""Supervised judgement examples from verl rows: the judge prompt -> the labelled answer.

The prompt is rendered exactly as training and evaluation render it (the chat template,
then the template's answer prefix); the completion is the label written in the
template's own answer format (`<score>3</score>`, one tag per dimension, or
`<preference>A</preference>`) minus the prefix already in the prompt. The template's
parser reads the prefix plus the completion back to the label: a test checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from rm_core.errors import RmPipelineError
from rm_core.judge.generation import render
from rm_core.judge.templates import MultiAttributeTemplate, PairwiseTemplate, Template


class NoSftExamples(RmPipelineError):
    """No train row fits the SFT length limit: there is nothing to fine-tune on."""


def answer_text(template: Template, truth: Mapping[str, Any]) -> str:
    """The whole answer a perfect judge writes for a row with ground truth `truth`."""
    if isinstance(template, PairwiseTemplate):
        return f"<preference>{truth['preference']}</preference>"
    if isinstance(template, MultiAttributeTemplate):
        return "\n".join(f"<{d}>{int(truth[d])}</{d}>" for d in template.dimensions)
    return f"<score>{int(truth[template.dimension])}</score>"


def completion_text(template: Template, truth: Mapping[str, Any]) -> str:
    """The answer after the prefix the prompt already ends with."""
    answer = answer_text(template, truth)
    prefix = template.answer_prefix
    return answer[len(prefix):] if prefix and answer.startswith(prefix) else answer


def examples(train_parquet: Path, template: Template, tokenizer: Any, max_length: int,
             thinking: bool = False) -> tuple[list[dict[str, str]], int]:
    """Prompt-completion examples of every train row that fits `max_length` tokens (with
    the end-of-turn token), and how many rows were left out as too long."""
    kept, too_long = [], 0
    for row in pq.read_table(train_parquet, columns=["prompt", "reward_model"]).to_pylist():
        prompt = render(tokenizer, row["prompt"], template.answer_prefix, thinking)
        completion = completion_text(template, row["reward_model"]["ground_truth"])
        length = len(tokenizer(prompt + completion, add_special_tokens=False)["input_ids"])
        if length + 1 > max_length:
            too_long += 1
            continue
        kept.append({"prompt": prompt, "completion": completion})
    if not kept:
        raise NoSftExamples(f"no row of {train_parquet} fits training.sft.max_length "
                            f"{max_length} tokens ({too_long} rows are longer): raise it")
    return kept, too_long
