"""Great-expectations suites per task type, run on the per-row features of a batch.

Every failed expectation becomes a readable reason on each offending row, so a bad row
is quarantined with the reason it failed, and the run-level report lists every
expectation with its unexpected count and a few examples.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import BaseModel

from rm_core.config import DataConfig, ValidationConfig
from rm_core.data.schema import KNOWN_ROLES, TaskCategory

EXAMPLES_KEPT = 5
# The feature columns of a preference pair's two responses (`<column>_chars`).
PAIR_COLUMNS = ("response_1", "response_2")
Describe = Callable[[Any], str]


@dataclass(frozen=True)
class Check:
    """One expectation and how to word a row that fails it."""

    title: str
    column: str
    kind: str
    args: dict[str, Any]
    describe: Describe


class ExpectationReport(BaseModel):
    """How one expectation fared over the whole source."""

    title: str
    column: str
    unexpected_count: int = 0
    examples: list[str] = []


class ValidationReport(BaseModel):
    """The validation outcome of a source: counts, threshold and per-expectation results."""

    task_category: str
    total_rows: int
    bad_rows: int
    max_bad_fraction: float
    expectations: list[ExpectationReport]

    @property
    def bad_fraction(self) -> float:
        return self.bad_rows / self.total_rows if self.total_rows else 0.0

    @property
    def passed(self) -> bool:
        return self.bad_fraction <= self.max_bad_fraction


def _between(title: str, column: str, low: int, high: int, what: str) -> Check:
    return Check(
        title,
        column,
        "between",
        {"min_value": low, "max_value": high},
        lambda v: f"{what} has {int(v)} characters, expected {low}..{high}",
    )


def _label_checks(column: str, allowed: list[int]) -> list[Check]:
    low, high = allowed[0], allowed[-1]
    return [
        Check(
            f"{column} present", column, "not_null", {}, lambda v: f"label {column} is missing"
        ),
        Check(
            f"{column} integral in {low}..{high}",
            column,
            "in_set",
            {"value_set": [float(x) for x in allowed]},
            lambda v: f"label {column}={v:g} is not an integer in {low}..{high}",
        ),
    ]


def _pair_checks(sides: tuple[str, ...], bounds: ValidationConfig) -> list[Check]:
    """Both sides of a preference pair present, sized, and different: a pair without two
    distinct answers teaches a judge or a Bradley-Terry model nothing."""
    checks: list[Check] = []
    for column, side in zip(PAIR_COLUMNS, sides, strict=True):
        checks.append(Check(f"{side} present", f"{column}_chars", "not_null", {},
                            lambda v, side=side: f"{side} is missing"))
        checks.append(_between(f"{side} length", f"{column}_chars", bounds.min_chars,
                               bounds.max_response_chars, side))
    first, second = sides
    checks.append(Check(f"{first} differs from {second}", "identical_sides", "null", {},
                        lambda v: f"{first} and {second} are identical"))
    return checks


def build_checks(task: TaskCategory, config: DataConfig, labels: tuple[str, ...],
                 sides: tuple[str, ...] = PAIR_COLUMNS) -> list[Check]:
    """The suite of `task`: sizes, roles, conversion errors, labels, duplicates. `sides`
    are a pair's response fields as the source names them (reasons use those names)."""
    bounds = config.validation
    checks = [
        Check(
            "source value types",
            "row_error",
            "null",
            {},
            str,
        ),
        _between("prompt length", "prompt_chars", bounds.min_chars, bounds.max_prompt_chars,
                 "prompt"),
        Check(
            "known roles",
            "role",
            "in_set",
            {"value_set": list(KNOWN_ROLES)},
            lambda v: f"unknown role {v!r}, expected one of {', '.join(KNOWN_ROLES)}",
        ),
    ]
    if task == "pointwise":
        checks.append(
            _between("response length", "response_chars", bounds.min_chars,
                     bounds.max_response_chars, "response")
        )
        for label in labels:
            checks.extend(_label_checks(label, list(range(config.max_score + 1))))
    else:
        checks.extend(_pair_checks(sides, bounds))
        checks.extend(_label_checks("preference_strength", list(range(-3, 4))))
    checks.append(
        Check(
            "no duplicate (prompt, response)",
            "duplicate_of",
            "null",
            {},
            lambda v: f"duplicate of source row {int(v)}",
        )
    )
    return checks


@dataclass
class Validator:
    """Runs a suite batch after batch and accumulates the run's report."""

    task: TaskCategory
    checks: list[Check]
    max_bad_fraction: float
    reports: list[ExpectationReport] = field(default_factory=list)
    total_rows: int = 0
    bad_rows: int = 0

    def __post_init__(self) -> None:
        self.reports = [ExpectationReport(title=c.title, column=c.column) for c in self.checks]
        self._batch_definition, self._suite = _gx_suite(self.checks)

    def validate(self, features: pd.DataFrame) -> dict[int, list[str]]:
        """Reasons per failing row (index of `features`) for one batch."""
        features = _categorical_text(features)
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": features})
        outcome = batch.validate(self._suite, result_format="COMPLETE")
        reasons: dict[int, list[str]] = {}
        for check, report, result in zip(self.checks, self.reports, outcome.results, strict=True):
            rows = result.result.get("unexpected_index_list") or []
            # GX caps unexpected_list at 200 values even with COMPLETE (its index list is
            # whole), so every failing value is read from the frame itself.
            values = features.loc[rows, check.column].tolist() if rows else []
            report.unexpected_count += len(rows)
            for row, value in zip(rows, values, strict=True):
                reason = check.describe(value)
                reasons.setdefault(int(row), []).append(reason)
                if len(report.examples) < EXAMPLES_KEPT:
                    report.examples.append(f"row {int(row)}: {reason}")
        self.total_rows += len(features)
        self.bad_rows += len(reasons)
        return reasons

    def report(self) -> ValidationReport:
        return ValidationReport(
            task_category=self.task,
            total_rows=self.total_rows,
            bad_rows=self.bad_rows,
            max_bad_fraction=self.max_bad_fraction,
            expectations=self.reports,
        )


def _categorical_text(features: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categories: great-expectations copies and hashes the frame over and
    over, and category codes cost far less to copy and hash than strings; values and
    verdicts stay the same."""
    text = [name for name, dtype in features.dtypes.items()
            if not pd.api.types.is_numeric_dtype(dtype)]
    return features.astype(dict.fromkeys(text, "category")) if text else features


_EXPECTATIONS = {
    "between": "ExpectColumnValuesToBeBetween",
    "in_set": "ExpectColumnValuesToBeInSet",
    "not_null": "ExpectColumnValuesToNotBeNull",
    "null": "ExpectColumnValuesToBeNull",
}


def _gx_suite(checks: list[Check]) -> tuple[Any, Any]:
    """A batch definition over in-memory dataframes and the suite of `checks`."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    asset = context.data_sources.add_pandas("rows").add_dataframe_asset("batch")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = gx.ExpectationSuite(name="rm-pipeline")
    for check in checks:
        expectation = getattr(gxe, _EXPECTATIONS[check.kind])
        suite.add_expectation(expectation(column=check.column, **check.args))
    return batch_definition, context.suites.add(suite)
