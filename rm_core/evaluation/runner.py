"""Run a judge model over the verl validation rows and score it with `evaluate_pointwise`.

Evaluation renders the prompts exactly as training does (`generation.render` with the
template's answer prefix) and parses with the same template, so a checkpoint is judged
in the format it was rewarded for. A model that never answers in that format is a
result (parse failure rate 1.0), not an error: that is what an untrained base model
looks like, and the promotion rule must see it. Problems the user has to fix (missing
folder, no tokenizer or chat template, empty or malformed validation file) raise
`EvaluationError` naming the path.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict
from safetensors import SafetensorError

from rm_core import generation
from rm_core.errors import RmPipelineError
from rm_core.evaluation.backends import JudgeBackend, open_backend
from rm_core.evaluation.metrics import UNPARSED, MetricReport, evaluate_pointwise
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.templates import PointwiseTemplate

EXAMPLE_COMPLETIONS = 5
# Any one of these marks a folder a tokenizer can be loaded from.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
VAL_COLUMNS = ("prompt", "reward_model", "extra_info")


class EvaluationError(RmPipelineError):
    """A model or validation file cannot be evaluated as given."""


class JudgeEvaluation(BaseModel):
    """One model's judgements on the validation rows, kept per row for paired comparison."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    model: str
    backend: str
    n: int
    unique_ids: list[str]
    true: list[int]
    predictions: list[int]  # UNPARSED (-1) where the completion had no valid score
    completions: list[str]  # the first few raw completions, to see what the model writes
    report: MetricReport
    seconds: float


# --- inputs ------------------------------------------------------------------------


def _check_model_dir(model_dir: Path) -> None:
    """Fail before loading anything: transformers' own errors do not say what is missing."""
    if not model_dir.is_dir():
        raise EvaluationError(f"model folder {model_dir} does not exist")
    if not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
        raise EvaluationError(
            f"model folder {model_dir} has no tokenizer files (expected one of "
            f"{', '.join(TOKENIZER_FILES)})"
        )


def _open(model_dir: Path, settings: EvaluationSettings) -> JudgeBackend:
    """The loaded backend; a tokenizer without chat template could not render the prompts."""
    try:
        backend = open_backend(model_dir, settings)
    except (OSError, ValueError, SafetensorError) as error:  # unloadable or corrupt folders
        raise EvaluationError(f"could not load model folder {model_dir}: {error}") from error
    if getattr(backend.tokenizer, "chat_template", None) is None:
        raise EvaluationError(
            f"the tokenizer in {model_dir} has no chat template, so the judge prompts "
            "cannot be rendered as in training"
        )
    return backend


def _read_rows(val_parquet: Path, limit: int | None) -> list[dict[str, Any]]:
    """The first `limit` verl rows (all when None), with only the columns evaluation needs."""
    if not val_parquet.is_file():
        raise EvaluationError(f"validation file {val_parquet} does not exist")
    schema = pq.read_schema(val_parquet)
    missing = [name for name in VAL_COLUMNS if name not in schema.names]
    if missing:
        raise EvaluationError(
            f"validation file {val_parquet} is not a verl parquet: no column(s) {missing}"
        )
    table = pq.read_table(val_parquet, columns=list(VAL_COLUMNS))
    if limit is not None:
        table = table.slice(0, max(limit, 0))
    if table.num_rows == 0:
        raise EvaluationError(f"validation file {val_parquet} has no rows to evaluate")
    return table.to_pylist()


def _label(row: dict[str, Any], index: int, template: PointwiseTemplate, path: Path) -> int:
    """The row's true score for the template's dimension; the prompt must ask for it too."""
    extra = row["extra_info"] or {}
    asked = extra.get("dimension")
    if asked is not None and asked != template.dimension:
        raise EvaluationError(
            f"{path} row {index} asks for {asked!r}, but the template scores "
            f"{template.dimension!r}"
        )
    truth = (row["reward_model"] or {}).get("ground_truth") or {}
    label = truth.get(template.dimension)
    if not isinstance(label, int) or not 0 <= label <= template.max_score:
        raise EvaluationError(
            f"{path} row {index}: ground_truth[{template.dimension!r}] is {label!r}, "
            f"expected an integer in 0..{template.max_score}"
        )
    return label


def _unique_id(row: dict[str, Any], index: int, path: Path) -> str:
    """The id that pairs this row with another model's judgement of it."""
    unique_id = (row["extra_info"] or {}).get("unique_id")
    if unique_id is None:
        raise EvaluationError(f"{path} row {index} has no extra_info.unique_id")
    return str(unique_id)


# --- predictions ---------------------------------------------------------------------


def _vote(scores: list[int | None]) -> int:
    """The most common parsed score of a row's samples (the lowest on a tie), else UNPARSED."""
    parsed = [score for score in scores if score is not None]
    if not parsed:
        return UNPARSED
    counts = Counter(parsed)
    return min(counts, key=lambda score: (-counts[score], score))


def predict(completions: list[list[str]], template: PointwiseTemplate) -> list[int]:
    """One prediction per row: its parsed score, a majority vote when sampled n > 1."""
    return [_vote([template.parse_completion(text) for text in row]) for row in completions]


# --- entry point ---------------------------------------------------------------------


def evaluate_model(
    model_dir: str | Path,
    val_parquet: str | Path,
    template: PointwiseTemplate,
    settings: EvaluationSettings,
    max_new_tokens: int = 64,
) -> JudgeEvaluation:
    """Judge the val rows (the first `settings.limit`) and compute the pointwise report.

    `settings.seed` seeds both the bootstrap and, when sampling, the generation, so the
    same call gives the same evaluation. `settings.max_new_tokens` wins over the argument.
    """
    model_dir, val_parquet = Path(model_dir), Path(val_parquet)
    started = time.perf_counter()
    _check_model_dir(model_dir)
    rows = _read_rows(val_parquet, settings.limit)
    true = [_label(row, i, template, val_parquet) for i, row in enumerate(rows)]
    unique_ids = [_unique_id(row, i, val_parquet) for i, row in enumerate(rows)]
    backend = _open(model_dir, settings)
    prompts = [generation.render(backend.tokenizer, row["prompt"], template.answer_prefix)
               for row in rows]
    completions = backend.generate(prompts, settings.max_new_tokens or max_new_tokens,
                                   settings.temperature, settings.samples, settings.seed)
    predictions = predict(completions, template)
    report = evaluate_pointwise(predictions, true, max_score=template.max_score,
                                n_resamples=settings.n_resamples, seed=settings.seed)
    return JudgeEvaluation(
        model=str(model_dir),
        backend=backend.name,
        n=len(rows),
        unique_ids=unique_ids,
        true=true,
        predictions=predictions,
        completions=[row[0] for row in completions[:EXAMPLE_COMPLETIONS]],
        report=report,
        seconds=time.perf_counter() - started,
    )
