"""Data-stage tasks: fetch, validate + convert, split, render verl rows."""

from __future__ import annotations

from pathlib import Path

from prefect import Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from rm_core.config import DataConfig, SourceConfig
from rm_core.data import reports
from rm_core.data import stage as data_stage
from rm_core.data.sources import FetchedSource, fetch, fetch_key, hub_snapshot_dir
from rm_core.errors import SourceUnavailable
from tasks.caching import stage_cache_key


def _fetch_plan(source: SourceConfig, root: Path) -> tuple[str | None, Path | None]:
    key = fetch_key(source)
    return (None if key is None else f"{key}|{root}"), hub_snapshot_dir(source, root)


def _ingest_plan(fetched: FetchedSource, config: DataConfig, root: Path) -> tuple[str, Path]:
    return data_stage.ingest.plan(fetched, config, root)


def _split_plan(ingested: data_stage.IngestResult, config: DataConfig, root: Path
                ) -> tuple[str, Path]:
    return data_stage.split.plan(ingested, config, root)


def _verl_plan(split: data_stage.SplitResult, config: DataConfig, root: Path
               ) -> tuple[str, Path]:
    return data_stage.to_verl.plan(split, config, root)


def _is_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry unreachable sources only: a missing local file or a dataset name the hub does
    not know will not appear by waiting (see `sources.hub_failure`)."""
    return isinstance(state.result(raise_on_failure=False), SourceUnavailable)


@task(
    name="fetch-source",
    retries=3,
    retry_delay_seconds=[10, 30, 90],
    retry_condition_fn=_is_transient,
    cache_key_fn=stage_cache_key(_fetch_plan),
    persist_result=True,
)
def fetch_source(source: SourceConfig, root: Path) -> FetchedSource:
    """Pin the source to content; retried with backoff while the hub cannot be reached."""
    fetched = fetch(source, root)
    get_run_logger().info("fetched %s (sha256 %s)", fetched.origin, fetched.fingerprint[:12])
    return fetched


@task(name="validate-and-convert", cache_key_fn=stage_cache_key(_ingest_plan), persist_result=True)
def ingest_rows(
    fetched: FetchedSource, config: DataConfig, root: Path
) -> data_stage.IngestResult:
    """Validate every row (great-expectations), quarantine the bad, write DataSamples."""
    logger = get_run_logger()
    result = data_stage.ingest(fetched, config, root, progress=logger.info)
    create_markdown_artifact(
        reports.validation_markdown(result, fetched.origin),
        key="validation-report",
        description="great-expectations validation of the source rows",
    )
    logger.info(
        "%d samples, %d rows quarantined in %s",
        result.sample_rows, result.quarantined_rows, result.quarantine_path,
    )
    data_stage.require_quality(result)
    return result


@task(name="split-train-val", cache_key_fn=stage_cache_key(_split_plan), persist_result=True)
def split_samples(
    ingested: data_stage.IngestResult, config: DataConfig, root: Path
) -> data_stage.SplitResult:
    """Leak-free train/val split grouped by prompt, with its report as artifacts."""
    result = data_stage.split(ingested, config, root, progress=get_run_logger().info)
    create_markdown_artifact(reports.split_markdown(result), key="split-report")
    create_table_artifact(reports.split_table(result), key="split-label-counts")
    return result


@task(name="build-verl-rows", cache_key_fn=stage_cache_key(_verl_plan), persist_result=True)
def build_verl_rows(
    split: data_stage.SplitResult, config: DataConfig, root: Path
) -> data_stage.VerlResult:
    """Render the judge prompts into verl's train/val parquet."""
    result = data_stage.to_verl(split, config, root, progress=get_run_logger().info)
    create_markdown_artifact(reports.verl_markdown(result), key="verl-datasets")
    return result
