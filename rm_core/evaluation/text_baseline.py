"""A bag-of-words judge: what the words alone predict, the bar an LLM judge should clear.

Score judges: TF-IDF (word 1-2 grams, sublinear tf, terms in two or more documents) of
the query and the response, then ridge regression per judged dimension. Its raw outputs
give the correlations; rounded and clipped to the label range they are the answers that
accuracy and mean reward score. Pairwise judges: logistic regression on the difference
of the two responses' TF-IDF vectors (the query is common to both and cancels).

Fitted on the train split's verl rows and scored on the same validation rows (the
first `evaluation.limit`) as the judges, it needs no model: it runs in the orchestrator's
process (about 0.4 s to import scikit-learn, ~60 MB, and well under a second to fit the
embedded sample's 399 rows).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from scipy import stats
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from rm_core.errors import RmPipelineError
from rm_core.evaluation.metrics import MetricValue, bootstrap_ci, correlation
from rm_core.evaluation.pairwise import pairwise_report
from rm_core.evaluation.pointwise import MetricReport, evaluate_pointwise
from rm_core.evaluation.runner import JudgeEvaluation
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.judge.templates import (
    PREFERENCE_CODES,
    MultiAttributeTemplate,
    PairwiseTemplate,
    PointwiseTemplate,
    Template,
    dimensions,
)

COLUMNS = ("prompt", "reward_model", "extra_info")
RIDGE_ALPHA = 1.0
SCORE_NAME, PAIR_NAME = "TF-IDF + ridge", "TF-IDF + logistic regression"


class TextBaselineError(RmPipelineError):
    """A train or validation file the text baseline cannot read."""


def _rows(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise TextBaselineError(f"text baseline: {path} does not exist")
    try:
        table = pq.read_table(path, columns=list(COLUMNS))
    except (OSError, ValueError, KeyError) as exc:
        raise TextBaselineError(f"text baseline: cannot read {path}: {exc}") from exc
    if limit is not None:
        table = table.slice(0, limit)
    if table.num_rows == 0:
        raise TextBaselineError(f"text baseline: {path} has no rows")
    return table.to_pylist()


def _content(row: dict[str, Any]) -> str:
    return str(row["prompt"][-1]["content"])


def _strip(text: str, head: str, tail: str) -> str:
    """The rendered prompt without the template's fixed head and tail (when present)."""
    if text.startswith(head):
        text = text[len(head):]
    return text[: len(text) - len(tail)] if tail and text.endswith(tail) else text


def _score_text(row: dict[str, Any], template: PointwiseTemplate | MultiAttributeTemplate) -> str:
    head, middle, tail = template.pieces()
    return _strip(_content(row), head, tail).replace(middle, "\n", 1)


def _pair_texts(row: dict[str, Any], template: PairwiseTemplate) -> tuple[str, str]:
    """(response A, response B) of a rendered pairwise prompt."""
    head, before_a, before_b, tail = template.pieces()
    body = _strip(_content(row), head, tail)
    _, _, answers = body.partition(before_a)
    first, _, second = answers.rpartition(before_b)
    return first, second


def _truth(row: dict[str, Any], path: Path, index: int) -> dict[str, Any]:
    truth = (row.get("reward_model") or {}).get("ground_truth")
    if not isinstance(truth, dict):
        raise TextBaselineError(f"text baseline: {path} row {index} has no ground truth")
    return truth


def _score_labels(rows: list[dict[str, Any]], names: tuple[str, ...], path: Path) -> np.ndarray:
    try:
        return np.array([[int(_truth(r, path, i)[d]) for d in names]
                         for i, r in enumerate(rows)], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise TextBaselineError(f"text baseline: {path} lacks the label {exc}") from exc


def _preferences(rows: list[dict[str, Any]], path: Path) -> np.ndarray:
    labels = [_truth(r, path, i).get("preference") for i, r in enumerate(rows)]
    unknown = sorted({str(label) for label in labels if label not in PREFERENCE_CODES})
    if unknown:
        raise TextBaselineError(f"text baseline: {path} has preferences {unknown}")
    return np.array([PREFERENCE_CODES[label] for label in labels])


def _vectorizer(texts: list[str]) -> TfidfVectorizer:
    """Fitted on the train texts; terms in one document only are kept when nothing else
    would remain (a tiny train split)."""
    for min_df in (2, 1):
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df)
        try:
            vectorizer.fit(texts)
            return vectorizer
        except ValueError:
            continue
    raise TextBaselineError("text baseline: the train split has no words to fit on")


def _fit_scores(train: list[dict[str, Any]], val: list[dict[str, Any]],
                template: PointwiseTemplate | MultiAttributeTemplate, paths: tuple[Path, Path]
                ) -> tuple[np.ndarray, np.ndarray]:
    """(raw predictions, true labels), each (rows, dimensions)."""
    names = dimensions(template)
    texts = [_score_text(r, template) for r in train]
    vectorizer = _vectorizer(texts)
    model = Ridge(alpha=RIDGE_ALPHA).fit(vectorizer.transform(texts),
                                         _score_labels(train, names, paths[0]))
    raw = model.predict(vectorizer.transform([_score_text(r, template) for r in val]))
    return raw.reshape(len(val), len(names)), _score_labels(val, names, paths[1])


def _fit_pairs(train: list[dict[str, Any]], val: list[dict[str, Any]],
               template: PairwiseTemplate, train_path: Path) -> np.ndarray:
    """Predicted preference codes of the validation rows."""
    train_pairs = [_pair_texts(r, template) for r in train]
    vectorizer = _vectorizer([text for pair in train_pairs for text in pair])

    def features(pairs: list[tuple[str, str]]) -> Any:
        return (vectorizer.transform([a for a, _ in pairs])
                - vectorizer.transform([b for _, b in pairs]))

    labels = _preferences(train, train_path)
    val_features = features([_pair_texts(r, template) for r in val])
    if np.unique(labels).size < 2:  # one class: logistic regression has nothing to separate
        return np.full(len(val), labels[0])
    model = LogisticRegression(max_iter=1000).fit(features(train_pairs), labels)
    return model.predict(val_features)


def _unit_ids(rows: list[dict[str, Any]], template: Template, path: Path) -> list[str]:
    ids = []
    for index, row in enumerate(rows):
        unique_id = (row.get("extra_info") or {}).get("unique_id")
        if unique_id is None:
            raise TextBaselineError(f"text baseline: {path} row {index} has no unique_id")
        ids += ([f"{unique_id}|{d}" for d in template.dimensions]
                if isinstance(template, MultiAttributeTemplate) else [str(unique_id)])
    return ids


def _raw_correlations(report: MetricReport, raw: np.ndarray, true: np.ndarray,
                      settings: EvaluationSettings) -> MetricReport:
    """The report with Pearson and Spearman of the raw (unrounded) predictions."""
    metrics = dict(report.metrics)
    for name, coefficient in (("pearson_parsed", stats.pearsonr),
                              ("spearman_parsed", stats.spearmanr)):
        def fn(x: np.ndarray, y: np.ndarray, c: Any = coefficient) -> float:
            return correlation(c, x.astype(float), y.astype(float))

        low, high = (bootstrap_ci((raw, true), fn, settings.n_resamples, seed=settings.seed)
                     if raw.size > 1 else (math.nan, math.nan))
        metrics[name] = MetricValue(value=fn(raw, true), ci_low=low, ci_high=high)
    return report.model_copy(update={"metrics": metrics})


def _score_report(raw: np.ndarray, true: np.ndarray, max_score: int,
                  settings: EvaluationSettings) -> tuple[list[int], MetricReport]:
    answers = np.clip(np.rint(raw), 0, max_score).astype(int)
    report = evaluate_pointwise(answers, true.astype(int), max_score=max_score,
                                n_resamples=settings.n_resamples, seed=settings.seed)
    return answers.tolist(), _raw_correlations(report, raw, true, settings)


def evaluate_text_baseline(train_path: Path, val_path: Path, template: Template,
                           settings: EvaluationSettings) -> JudgeEvaluation:
    """The text baseline's judgement of the validation rows, as a judge's would be."""
    started = time.perf_counter()
    train, val = _rows(train_path), _rows(val_path, settings.limit)
    unique_ids = _unit_ids(val, template, val_path)
    per_dimension: dict[str, MetricReport] = {}
    if isinstance(template, PairwiseTemplate):
        name = PAIR_NAME
        predictions = [int(p) for p in _fit_pairs(train, val, template, train_path)]
        true = _preferences(val, val_path).tolist()
        report: Any = pairwise_report(val, predictions, settings)
    else:
        name = SCORE_NAME
        raw, labels = _fit_scores(train, val, template, (train_path, val_path))
        predictions, report = _score_report(raw.ravel(), labels.ravel(), template.max_score,
                                            settings)
        true = labels.ravel().astype(int).tolist()
        if isinstance(template, MultiAttributeTemplate):
            per_dimension = {d: _score_report(raw[:, i], labels[:, i], template.max_score,
                                              settings)[1]
                             for i, d in enumerate(template.dimensions)}
    return JudgeEvaluation(
        model=name, backend="scikit-learn", n=len(val), unique_ids=unique_ids, true=true,
        predictions=predictions, completions=[], report=report, per_dimension=per_dimension,
        seconds=time.perf_counter() - started,
    )  # fmt: skip
