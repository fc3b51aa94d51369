"""Markdown renderings of stage results, for the orchestrator's artifacts and the console."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rm_core.data.stage import IngestResult, SplitResult, VerlResult


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def validation_markdown(result: IngestResult, origin: str) -> str:
    """The validation report: outcome, counts and each expectation with examples."""
    report = result.report
    verdict = "passed" if report.passed else "FAILED"
    lines = [
        f"# Validation {verdict}: {origin}",
        "",
        f"- rows read: **{report.total_rows:,}**",
        f"- samples kept: **{result.sample_rows:,}** ({result.task_category})",
        f"- rows quarantined: **{report.bad_rows:,}** ({report.bad_fraction:.2%}; "
        f"allowed {report.max_bad_fraction:.2%})",
        f"- quarantine (every bad row with its `reason`): `{result.quarantine_path}`",
        "",
        "| expectation | column | unexpected | examples |",
        "|---|---|---:|---|",
    ]
    for expectation in report.expectations:
        examples = "<br>".join(_cell(e) for e in expectation.examples) or "-"
        lines.append(
            f"| {_cell(expectation.title)} | `{expectation.column}` | "
            f"{expectation.unexpected_count:,} | {examples} |"
        )
    return "\n".join(lines)


def split_markdown(result: SplitResult) -> str:
    """The split report: sizes, prompt groups and counts per label per split."""
    report = result.report
    lines = [
        "# Train/val split",
        "",
        f"- train: **{report.train_rows:,}** samples over {report.train_prompts:,} prompts",
        f"- val: **{report.val_rows:,}** samples over {report.val_prompts:,} prompts",
        f"- prompts in both splits: **{report.shared_prompts}**",
        f"- files: `{result.train_path}`, `{result.val_path}`",
        "",
        f"| {report.label} | train | val |",
        "|---|---:|---:|",
    ]
    for label, counts in report.counts.items():
        lines.append(f"| {label} | {counts['train']:,} | {counts['val']:,} |")
    return "\n".join(lines)


def split_table(result: SplitResult) -> list[dict[str, object]]:
    """Counts per label per split as table rows."""
    return [
        {result.report.label: label, "train": counts["train"], "val": counts["val"]}
        for label, counts in result.report.counts.items()
    ]


def verl_markdown(result: VerlResult) -> str:
    """Where the verl training and validation parquet files are."""
    return "\n".join(
        [
            "# verl datasets",
            "",
            f"- train: **{result.train_rows:,}** rows `{result.train_path}`",
            f"- val: **{result.val_rows:,}** rows `{result.val_path}`",
        ]
    )
