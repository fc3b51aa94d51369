"""A split's pairwise DataSamples -> the rows TRL's `RewardTrainer` trains on.

The data stage writes every preference pair twice, once per answer order, so the
generative judge can learn and be measured on position bias. A Bradley-Terry model
scores each answer on its own, so here each distinct pair is one row: `chosen` and
`rejected` as whole conversations (the prompt's messages, then the answer), TRL's
conversational format, plus a `margin` column (scale x preference strength) when the
spec asks for one. Ties carry no preference to learn from and pairs longer than the
spec's `max_length` would be truncated by nobody but us (losing what tells the answers
apart), so both are left out and counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from rm_core.artifacts import is_complete, read_result
from rm_core.errors import RmPipelineError
from rm_core.training.bt_spec import BtSpec

CHOSEN, REJECTED, TIE = "chosen", "rejected", "tie"
# Rendered answers scored per forward pass.
SCORE_BATCH = 8


class BtDataError(RmPipelineError):
    """A split file a Bradley-Terry model cannot be trained or scored on."""


class Pair(BaseModel):
    """One preference pair: the prompt's messages and the two answers, best first."""

    prompt: list[dict[str, str]]
    chosen: str
    rejected: str
    strength: float
    tie: bool


class PairCounts(BaseModel):
    """What became of a split's samples: trained pairs and what was left out."""

    samples: int
    pairs: int  # distinct pairs, ties included
    ties_skipped: int
    too_long: int
    trained: int


def conversation(prompt: list[dict[str, str]], answer: str) -> list[dict[str, str]]:
    """The prompt's messages followed by `answer` as the assistant's turn."""
    return [*prompt, {"role": "assistant", "content": answer}]


def rendered(tokenizer: Any, prompt: list[dict[str, str]], answer: str) -> str:
    """The text the model scores, rendered exactly as TRL renders a conversational row."""
    return tokenizer.apply_chat_template(conversation(prompt, answer), tokenize=False)


def _pair(row: dict[str, Any], index: int, path: Path) -> Pair:
    answers = row.get("output") or []
    if row.get("task_category") != "pairwise" or len(answers) != 2:
        raise BtDataError(f"{path} row {index} ({row.get('unique_id')}) is not a pairwise "
                          "sample with two answers: a Bradley-Terry model needs preference "
                          "pairs (converter helpsteer2_pairwise or chosen_rejected_pairwise)")
    labels = [answer.get("label") or {} for answer in answers]
    preference = [label.get("preference") for label in labels]
    prompt = [{"role": m["role"], "content": m["content"]} for m in row["input"]]
    strength = float(labels[0].get("strength") or 0)
    if preference == [TIE, TIE]:
        return Pair(prompt=prompt, chosen=answers[0]["content"],
                    rejected=answers[1]["content"], strength=0.0, tie=True)
    if sorted(preference) != [CHOSEN, REJECTED]:
        raise BtDataError(f"{path} row {index} ({row.get('unique_id')}): label.preference "
                          f"is {preference}, expected one chosen and one rejected, or two "
                          "ties")
    best = preference.index(CHOSEN)
    return Pair(prompt=prompt, chosen=answers[best]["content"],
                rejected=answers[1 - best]["content"], strength=strength, tie=False)


def split_samples(path: Path, columns: list[str]) -> pa.Table:
    """`columns` of a split's samples: `path` is a DataSample parquet, or the split stage's
    member list (`sample_index`, `unique_id`) whose folder's manifest names the samples."""
    if not path.is_file():
        raise BtDataError(f"split file {path} does not exist")
    names = pq.read_schema(path).names
    if all(column in names for column in columns):
        return pq.read_table(path, columns=columns)
    if "sample_index" not in names or not is_complete(path.parent):
        raise BtDataError(f"{path} is neither a DataSample parquet (columns {columns}) nor a "
                          "complete split stage's member list")
    samples = Path(read_result(path.parent)["samples"])
    members = pq.read_table(path, columns=["sample_index"]).column("sample_index")
    return pq.read_table(samples, columns=columns).take(members)


def read_pairs(path: Path) -> tuple[list[Pair], int]:
    """The distinct pairs of a split file in first-seen order, and its sample count."""
    rows = split_samples(path, ["unique_id", "input", "output", "task_category"]).to_pylist()
    pairs: dict[tuple[str, frozenset[str]], Pair] = {}
    for index, row in enumerate(rows):
        pair = _pair(row, index, path)
        key = (json.dumps(pair.prompt), frozenset((pair.chosen, pair.rejected)))
        pairs.setdefault(key, pair)
    return list(pairs.values()), len(rows)


def reward_rows(path: Path, spec: BtSpec, tokenizer: Any
                ) -> tuple[list[dict[str, Any]], PairCounts]:
    """RewardTrainer rows of the split file's non-tie pairs that fit `spec.max_length`."""
    pairs, samples = read_pairs(path)
    rows, ties, too_long = [], 0, 0
    for pair in pairs:
        if pair.tie:
            ties += 1
            continue
        lengths = [len(tokenizer(rendered(tokenizer, pair.prompt, answer))["input_ids"])
                   for answer in (pair.chosen, pair.rejected)]
        if max(lengths) > spec.max_length:
            too_long += 1
            continue
        row: dict[str, Any] = {"chosen": conversation(pair.prompt, pair.chosen),
                               "rejected": conversation(pair.prompt, pair.rejected)}
        if spec.margin:
            row["margin"] = spec.margin_scale * pair.strength
        rows.append(row)
    counts = PairCounts(samples=samples, pairs=len(pairs), ties_skipped=ties,
                        too_long=too_long, trained=len(rows))
    return rows, counts


def rewards(model: Any, tokenizer: Any, texts: list[str], batch_size: int = SCORE_BATCH
            ) -> list[float]:
    """The scalar reward of each rendered text, batched by length (less padding)."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    scores = [0.0] * len(texts)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            encoded = tokenizer([texts[i] for i in batch], return_tensors="pt",
                                padding=True).to(model.device)
            logits = model(**encoded).logits[:, 0].float()
            for i, value in zip(batch, logits.tolist(), strict=True):
                scores[i] = value
    model.train(was_training)
    return scores
