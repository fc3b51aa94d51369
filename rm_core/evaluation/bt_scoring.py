"""A Bradley-Terry reward model judges the generative pairwise judge's val rows.

Both kinds of model are evaluated on the same verl pairwise rows (every pair in both
orders), so their reports compare row by row. A BT model never reads the judge prompt:
each row's `unique_id` finds its DataSample in the val split, whose prompt messages and
two answers (A first, as the verl row shows them) are scored one answer at a time. The
verdict is coded as the generative judge's (A=0, B=1, tie=2 when both rewards are equal),
and the result is a `JudgeEvaluation` written exactly as `judge_into` writes it, so the
report, gate, registry and `read_evaluated` take it unchanged. `bt.json` beside it adds
what only a scalar reward has: the margin distribution, the reward scale on val,
accuracy on non-tie pairs with its CI, and how far apart tied pairs are scored.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from rm_core.artifacts import atomic_dir, finish
from rm_core.evaluation.metrics import MetricValue, bootstrap_ci
from rm_core.evaluation.pairwise import TIE, pairwise_report
from rm_core.evaluation.runner import EvaluationError, JudgeEvaluation, check_model_dir
from rm_core.evaluation.runner import _read_rows as read_val_rows
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.evaluation.stage import EVALUATION_FILE
from rm_core.judge.templates import PREFERENCE_CODES
from rm_core.training.bt_pairs import BtDataError, rendered, rewards, split_samples

BACKEND = "bradley-terry"
BT_FILE = "bt.json"
SHOWN_ROWS = 5  # rows whose two rewards stand in for the judge's example completions
QUANTILES = (5, 25, 50, 75, 95)


class BtScores(BaseModel):
    """What a scalar reward shows beyond the pairwise report."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    model: str
    fresh_head: bool  # the head was drawn from the seed, not trained
    rows: int
    margin_quantiles: dict[str, float]  # r_chosen - r_rejected over non-tie rows
    margin_mean: float
    reward_mean: float  # over the distinct answers scored on val
    reward_std: float
    accuracy_non_tie: MetricValue
    non_tie_rows: int
    tie_rows: int
    tie_mean_abs_margin: float
    train_reward_stats: dict[str, float] | None = None  # stored with a trained model


def _texts_by_id(samples_path: Path, tokenizer: Any) -> dict[str, tuple[str, str]]:
    """unique_id -> the (A, B) answers of the val split's samples, rendered for scoring."""
    try:
        table = split_samples(samples_path, ["unique_id", "input", "output"])
    except BtDataError as error:
        raise EvaluationError(str(error)) from error
    texts = {}
    for index, row in enumerate(table.to_pylist()):
        if len(row["output"] or []) != 2:
            raise EvaluationError(f"{samples_path} row {index} ({row['unique_id']}) does not "
                                  "have two answers: not a pairwise sample")
        prompt = [{"role": m["role"], "content": m["content"]} for m in row["input"]]
        texts[row["unique_id"]] = tuple(rendered(tokenizer, prompt, answer["content"])
                                        for answer in row["output"])
    return texts


def _truth(row: dict[str, Any], index: int, path: Path) -> int:
    truth = ((row["reward_model"] or {}).get("ground_truth") or {}).get("preference")
    if truth not in PREFERENCE_CODES:
        raise EvaluationError(f"{path} row {index}: ground_truth['preference'] is {truth!r}, "
                              "expected A, B or tie (a pairwise verl file)")
    return PREFERENCE_CODES[truth]


def _verdict(first: float, second: float) -> int:
    if first == second:
        return PREFERENCE_CODES[TIE]
    return PREFERENCE_CODES["A"] if first > second else PREFERENCE_CODES["B"]


def _has_trained_head(model_dir: Path) -> bool:
    config = json.loads((model_dir / "config.json").read_text("utf-8"))
    return any(name.endswith("ForSequenceClassification")
               for name in config.get("architectures") or [])


def _accuracy(correct: np.ndarray, settings: EvaluationSettings) -> MetricValue:
    if not correct.size:
        return MetricValue(value=math.nan, ci_low=math.nan, ci_high=math.nan)
    low, high = bootstrap_ci(correct, n_resamples=settings.n_resamples, seed=settings.seed)
    return MetricValue(value=float(correct.mean()), ci_low=low, ci_high=high)


def _bt_scores(model_dir: Path, pairs: list[tuple[float, float]], true: list[int],
               predictions: list[int], scored: list[float],
               settings: EvaluationSettings) -> BtScores:
    """Margins are oriented by the truth (chosen minus rejected); ties use |A - B|."""
    tie, a_code = PREFERENCE_CODES[TIE], PREFERENCE_CODES["A"]
    strict = [i for i, label in enumerate(true) if label != tie]
    margins = np.array([(pairs[i][0] - pairs[i][1]) * (1 if true[i] == a_code else -1)
                        for i in strict])
    correct = np.array([predictions[i] == true[i] for i in strict], dtype=float)
    ties = [abs(first - second) for (first, second), label in zip(pairs, true, strict=True)
            if label == tie]
    stats_file = model_dir / "reward_stats.json"
    return BtScores(
        model=str(model_dir), fresh_head=not _has_trained_head(model_dir), rows=len(true),
        margin_quantiles={f"p{q}": float(np.percentile(margins, q)) if strict else math.nan
                          for q in QUANTILES},
        margin_mean=float(margins.mean()) if strict else math.nan,
        reward_mean=statistics.fmean(scored), reward_std=statistics.pstdev(scored),
        accuracy_non_tie=_accuracy(correct, settings), non_tie_rows=len(strict), tie_rows=len(ties),
        tie_mean_abs_margin=statistics.fmean(ties) if ties else math.nan,
        train_reward_stats=(json.loads(stats_file.read_text("utf-8"))
                            if stats_file.is_file() else None),
    )


def score_into(model_dir: Path, val_path: Path, samples_path: Path,
               settings: EvaluationSettings, out: Path, seed: int = 0) -> JudgeEvaluation:
    """Score the val rows (the first `settings.limit`) with the BT model (a base model gets
    a fresh head drawn from `seed`) and store the evaluation and `bt.json` in `out`."""
    from rm_core.training.bt import load_scorer

    started = time.perf_counter()
    check_model_dir(model_dir)
    rows = read_val_rows(val_path, settings.limit)
    true = [_truth(row, index, val_path) for index, row in enumerate(rows)]
    unique_ids = [str((row["extra_info"] or {}).get("unique_id")) for row in rows]
    model, tokenizer = load_scorer(str(model_dir), seed)
    texts = _texts_by_id(samples_path, tokenizer)
    missing = [uid for uid in unique_ids if uid not in texts]
    if missing:
        raise EvaluationError(f"{len(missing)} row(s) of {val_path} have no sample in "
                              f"{samples_path}, e.g. {missing[0]}: not the same split")
    distinct = list(dict.fromkeys(text for uid in unique_ids for text in texts[uid]))
    reward_of = dict(zip(distinct, rewards(model, tokenizer, distinct), strict=True))
    pairs = [(reward_of[texts[uid][0]], reward_of[texts[uid][1]]) for uid in unique_ids]
    predictions = [_verdict(first, second) for first, second in pairs]
    evaluation = JudgeEvaluation(
        model=str(model_dir), backend=BACKEND, n=len(rows), unique_ids=unique_ids, true=true,
        predictions=predictions,
        completions=[f"r(A)={first:.4f} r(B)={second:.4f}" for first, second in
                     pairs[:SHOWN_ROWS]],
        report=pairwise_report(rows, predictions, settings),
        seconds=time.perf_counter() - started,
    )
    scores = _bt_scores(model_dir, pairs, true, predictions, list(reward_of.values()), settings)
    with atomic_dir(out) as building:
        (building / EVALUATION_FILE).write_text(evaluation.model_dump_json(), encoding="utf-8")
        (building / BT_FILE).write_text(scores.model_dump_json(indent=2), encoding="utf-8")
        finish(building, {"model": str(model_dir)})
    return evaluation
