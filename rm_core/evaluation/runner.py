"""Run a judge model over the verl validation rows and report its metrics.

Score judges (pointwise, multi-attribute) get a `MetricReport`, pairwise judges a
`PairwiseReport`: preferences are never scored like numbers.

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
from typing import Annotated, Any

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field
from safetensors import SafetensorError

from rm_core.errors import RmPipelineError
from rm_core.evaluation.backends import JudgeBackend, open_backend
from rm_core.evaluation.metrics import UNPARSED
from rm_core.evaluation.pairwise import PREFERENCE_CODES, PairwiseReport, pairwise_report
from rm_core.evaluation.pointwise import MetricReport, evaluate_pointwise
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.judge import generation
from rm_core.judge.templates import (
    MultiAttributeTemplate,
    PairwiseTemplate,
    Template,
    asked_for,
    dimensions,
)

EXAMPLE_COMPLETIONS = 5
# Any one of these marks a folder a tokenizer can be loaded from.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
VAL_COLUMNS = ("prompt", "reward_model", "extra_info")

JudgeReport = Annotated[MetricReport | PairwiseReport, Field(discriminator="kind")]


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
    report: JudgeReport  # the judge kind's own report
    per_dimension: dict[str, MetricReport] = {}  # multi-attribute judges: each dimension
    seconds: float


# --- inputs ------------------------------------------------------------------------


def check_model_dir(model_dir: Path) -> None:
    """Fail before loading anything: transformers' own errors do not say what is missing."""
    if not model_dir.is_dir():
        raise EvaluationError(f"model folder {model_dir} does not exist")
    if not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
        raise EvaluationError(
            f"model folder {model_dir} has no tokenizer files (expected one of "
            f"{', '.join(TOKENIZER_FILES)})"
        )


def load_judge(model_dir: Path, settings: EvaluationSettings) -> JudgeBackend:
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


def check_val_file(val_parquet: Path, limit: int | None) -> None:
    """Fail before any job starts on a validation file evaluation could not use."""
    _read_rows(val_parquet, limit)


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


def _truth(row: dict[str, Any], index: int, path: Path) -> dict[str, Any]:
    truth = (row["reward_model"] or {}).get("ground_truth")
    if not isinstance(truth, dict):
        raise EvaluationError(f"{path} row {index} has no reward_model.ground_truth")
    return truth


def _score_label(truth: dict[str, Any], dimension: str, max_score: int, index: int,
                 path: Path) -> int:
    label = truth.get(dimension)
    if not isinstance(label, int) or not 0 <= label <= max_score:
        raise EvaluationError(
            f"{path} row {index}: ground_truth[{dimension!r}] is {label!r}, "
            f"expected an integer in 0..{max_score}"
        )
    return label


def _check_asks(row: dict[str, Any], index: int, template: Template, path: Path) -> None:
    """The row's prompt must ask what the template parses (a pointwise row for a pairwise
    judge, or another dimension, would be scored against the wrong label)."""
    asked = (row["extra_info"] or {}).get("dimension")
    if asked is not None and asked != asked_for(template):
        raise EvaluationError(
            f"{path} row {index} asks for {asked!r}, but the template judges "
            f"{asked_for(template)!r}"
        )


def _labels(row: dict[str, Any], index: int, template: Template, path: Path) -> list[int]:
    """The row's true labels, one per judged unit (one per dimension for multi-attribute)."""
    _check_asks(row, index, template, path)
    truth = _truth(row, index, path)
    if isinstance(template, PairwiseTemplate):
        preference = truth.get("preference")
        if preference not in PREFERENCE_CODES:
            raise EvaluationError(f"{path} row {index}: ground_truth['preference'] is "
                                  f"{preference!r}, expected A, B or tie")
        return [PREFERENCE_CODES[preference]]
    return [_score_label(truth, d, template.max_score, index, path) for d in dimensions(template)]


def _unique_id(row: dict[str, Any], index: int, path: Path) -> str:
    """The id that pairs this row with another model's judgement of it."""
    unique_id = (row["extra_info"] or {}).get("unique_id")
    if unique_id is None:
        raise EvaluationError(f"{path} row {index} has no extra_info.unique_id")
    return str(unique_id)


def _unit_ids(unique_id: str, template: Template) -> list[str]:
    if isinstance(template, MultiAttributeTemplate):
        return [f"{unique_id}|{d}" for d in template.dimensions]
    return [unique_id]


# --- predictions ---------------------------------------------------------------------


def _vote(scores: list[int | None]) -> int:
    """The most common parsed answer of a row's samples (the lowest on a tie), else UNPARSED."""
    parsed = [score for score in scores if score is not None]
    if not parsed:
        return UNPARSED
    counts = Counter(parsed)
    return min(counts, key=lambda score: (-counts[score], score))


def _row_predictions(texts: list[str], template: Template) -> list[int]:
    """One prediction per unit of a row, voted over its samples."""
    if isinstance(template, PairwiseTemplate):
        verdicts = (template.parse_completion(text) for text in texts)
        return [_vote([None if v is None else PREFERENCE_CODES[v] for v in verdicts])]
    if isinstance(template, MultiAttributeTemplate):
        parsed = [template.parse_completion(text) for text in texts]
        return [_vote([p[d] for p in parsed]) for d in template.dimensions]
    return [_vote([template.parse_completion(text) for text in texts])]


def predict(completions: list[list[str]], template: Template) -> list[int]:
    """Predictions of every unit, flattened in row order (UNPARSED where nothing parsed)."""
    return [p for texts in completions for p in _row_predictions(texts, template)]


def _report(template: Template, rows: list[dict[str, Any]], predictions: list[int],
            true: list[int], settings: EvaluationSettings) -> JudgeReport:
    """Preferences for a pairwise judge, score metrics for the others."""
    if isinstance(template, PairwiseTemplate):
        return pairwise_report(rows, predictions, settings)
    return evaluate_pointwise(predictions, true, max_score=template.max_score,
                              n_resamples=settings.n_resamples, seed=settings.seed)


def _per_dimension(template: Template, predictions: list[int], true: list[int],
                   settings: EvaluationSettings) -> dict[str, MetricReport]:
    """Each dimension's own report: the units of dimension i sit at i, i + d, i + 2d..."""
    if not isinstance(template, MultiAttributeTemplate):
        return {}
    step = len(template.dimensions)
    return {
        d: evaluate_pointwise(predictions[i::step], true[i::step], max_score=template.max_score,
                              n_resamples=settings.n_resamples, seed=settings.seed)
        for i, d in enumerate(template.dimensions)
    }


# --- entry point ---------------------------------------------------------------------


def evaluate_model(
    model_dir: str | Path,
    val_parquet: str | Path,
    template: Template,
    settings: EvaluationSettings,
    max_new_tokens: int = 64,
) -> JudgeEvaluation:
    """Judge the val rows (the first `settings.limit`) and compute the judge's report.

    `settings.seed` seeds both the bootstrap and, when sampling, the generation, so the
    same call gives the same evaluation. `settings.max_new_tokens` wins over the argument.
    """
    model_dir, val_parquet = Path(model_dir), Path(val_parquet)
    started = time.perf_counter()
    check_model_dir(model_dir)
    rows = _read_rows(val_parquet, settings.limit)
    true = [label for i, row in enumerate(rows) for label in _labels(row, i, template, val_parquet)]
    unique_ids = [unit for i, row in enumerate(rows)
                  for unit in _unit_ids(_unique_id(row, i, val_parquet), template)]
    backend = load_judge(model_dir, settings)
    prompts = [generation.render(backend.tokenizer, row["prompt"], template.answer_prefix,
                                 bool(settings.thinking))
               for row in rows]
    completions = backend.generate(prompts, settings.max_new_tokens or max_new_tokens,
                                   settings.temperature, settings.samples, settings.seed)
    predictions = predict(completions, template)
    return JudgeEvaluation(
        model=str(model_dir),
        backend=backend.name,
        n=len(rows),
        unique_ids=unique_ids,
        true=true,
        predictions=predictions,
        completions=[row[0] for row in completions[:EXAMPLE_COMPLETIONS]],
        report=_report(template, rows, predictions, true, settings),
        per_dimension=_per_dimension(template, predictions, true, settings),
        seconds=time.perf_counter() - started,
    )
