"""Benchmark tasks: read the benchmarks, judge them on the cluster, score and report."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from pydantic import BaseModel

from rm_core.artifacts import is_complete
from rm_core.benchmarks import report, scoring
from rm_core.benchmarks import stage as bench_stage
from rm_core.benchmarks.items import BenchmarkInfo, HubUnavailable, read_items, write_items
from rm_core.benchmarks.loaders import load_benchmark
from rm_core.benchmarks.units import judged_kind
from rm_core.cluster.resources import JobResources
from rm_core.cluster.target import RayTarget
from rm_core.config import DataConfig
from rm_core.data.stage import template_for
from rm_core.evaluation.promotion import BenchmarkOutcome
from rm_core.evaluation.registry import load_champion, record_benchmark_scores
from rm_core.evaluation.runner import check_model_dir
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.evaluation.stage import EvaluatedModel, best_candidate
from tasks.cluster import run_model_job, worth_retrying_task
from tasks.evaluation import ModelToJudge


def hub_unavailable(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only an unreachable hub: a bad file or name fails the same way again."""
    return isinstance(state.result(raise_on_failure=False), HubUnavailable)


@task(name="load-benchmark", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=hub_unavailable)
def load_benchmark_items(name: str, source: str | None, limit: int | None, seed: int,
                         root: Path) -> tuple[BenchmarkInfo, Path]:
    """The benchmark's items (hub or file), sampled to `limit`, stored as an items file
    (the path is what later tasks take, not the items); rows that do not fit the schema
    go to a quarantine artifact."""
    benchmark = load_benchmark(name, source, limit, seed)
    logger = get_run_logger()
    logger.info("%s: %d items from %s (%d rows read, %d quarantined)", name,
                len(benchmark.items), benchmark.origin, benchmark.total_rows,
                len(benchmark.quarantined))
    if benchmark.quarantined:
        create_table_artifact([q.model_dump() for q in benchmark.quarantined[:500]],
                              key=f"{_artifact_key(name)}-quarantine",
                              description=f"{name}: rows that do not fit its schema")
    return benchmark.info(), write_items(benchmark, root)


@task(name="judge-benchmarks", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=worth_retrying_task)
def judge_benchmarks(models: list[ModelToJudge], items_paths: list[Path], data: DataConfig,
                     settings: EvaluationSettings, max_new_tokens: int, root: Path,
                     target: RayTarget, resources: JobResources) -> dict[str, dict[str, Path]]:
    """Every model on every items file in one job (stored judgements are not redone);
    model label -> items file -> judgements dir."""
    judged_kind(template_for(data))
    outs = {model.label: {str(items): bench_stage.bench_dir(model.model_dir, items, data,
                                                           settings, max_new_tokens, root)
                          for items in items_paths} for model in models}
    todo = [(model.model_dir, Path(items), out) for model in models
            for items, out in outs[model.label].items() if not is_complete(out)]
    if todo:
        for model_dir in {model_dir for model_dir, _, _ in todo}:
            check_model_dir(model_dir)
        digest = hashlib.sha256("|".join(sorted(str(o) for *_, o in todo)).encode()).hexdigest()
        job = bench_stage.benchmark_job(todo, data, settings, max_new_tokens,
                                        root / "jobs" / "bench" / digest[:24], resources)
        run_model_job(job, target, outputs=[out for *_, out in todo])
    get_run_logger().info("%d benchmark judgements (%d new)",
                          sum(len(o) for o in outs.values()), len(todo))
    return outs


@task(name="score-benchmarks")
def score_benchmarks(benchmarks: list[tuple[BenchmarkInfo, Path]], models: list[ModelToJudge],
                     outs: dict[str, dict[str, Path]], data: DataConfig,
                     settings: EvaluationSettings, registry_dir: Path,
                     out_dir: Path) -> list[report.BenchmarkResult]:
    """Each benchmark's metrics per model: a table artifact per benchmark, the markdown
    report, and every judged model's scores recorded in the registry beside the champion."""
    kind = judged_kind(template_for(data))
    champion = load_champion(registry_dir)
    results = []
    for benchmark, items_path in benchmarks:
        _, items = read_items(items_path)
        scored = []
        for model in models:
            out = outs[model.label][str(items_path)]
            judgements, extra = bench_stage.read_judgements(out)
            score = scoring.score(benchmark.name, kind, items, judgements,
                                  settings.n_resamples, settings.seed)
            scored.append(report.ModelScore(label=model.label, model_dir=model.model_dir,
                                            score=score, seconds=extra["seconds"]))
            record_benchmark_scores(registry_dir, {
                "model": model.label, "kind": model.kind, "model_dir": str(model.model_dir),
                "champion_promoted_at": champion.promoted_at if champion else None,
                "benchmark": benchmark.name, "origin": benchmark.origin,
                "items": items_path.parent.name, "score": score.model_dump(mode="json")})
        result = report.result_of(benchmark, scored)
        create_table_artifact(report.table_rows(result), key=_artifact_key(benchmark.name),
                              description=f"{benchmark.name}: model x metric, 95% bootstrap CIs")
        results.append(result)
    path = report.write(results, out_dir)
    create_markdown_artifact(report.markdown(results), key="benchmark-report",
                             description="public benchmark scores")
    get_run_logger().info("benchmark report: %s", path)
    return results


@task(name="compare-on-benchmark")
def compare_on_benchmark(items_path: Path, challenger_out: Path, incumbent_out: Path,
                         data: DataConfig, settings: EvaluationSettings) -> scoring.PairedDelta:
    """Challenger vs incumbent on the promotion benchmark's overall score, paired over
    its items with the evaluation's bootstrap settings."""
    name, items = read_items(items_path)
    paired = scoring.paired_overall(name, judged_kind(template_for(data)), items,
                                    bench_stage.read_judgements(challenger_out)[0],
                                    bench_stage.read_judgements(incumbent_out)[0],
                                    settings.n_resamples, settings.seed)
    get_run_logger().info("%s: challenger %.3f vs incumbent %.3f, improvement %+.3f "
                          "[%+.3f, %+.3f]", name, paired.challenger, paired.incumbent,
                          paired.delta, paired.ci_low, paired.ci_high)
    return paired


class BenchmarkStep(BaseModel):
    """What the training flows' benchmark step gives the decision and the report."""

    results: list[report.BenchmarkResult]
    outcome: BenchmarkOutcome


def benchmark_candidates(judged: list[EvaluatedModel], metric: str, data: DataConfig,
                         settings: EvaluationSettings, max_new_tokens: int, root: Path,
                         target: RayTarget, resources: JobResources, registry_dir: Path,
                         out_dir: Path) -> BenchmarkStep | None:
    """`evaluation.benchmarks` for the best of the `judged` candidates and the incumbent
    (the champion, or the base model before the first promotion), with the benchmark-judge
    flow's tasks: the same cluster, the same cached judgements. None without benchmarks."""
    best = best_candidate(judged, metric)
    if not settings.benchmarks or best is None:
        return None
    incumbent = next((m for m in judged if m.kind == "champion"),
                     next((m for m in judged if m.kind == "base"), None))
    loaded = [load_benchmark_items(name, source, settings.benchmark_limit, settings.seed, root)
              for name, source in settings.benchmarks.items()]
    models = [ModelToJudge(label=m.label, kind=m.kind, step=m.step, model_dir=m.model_dir)
              for m in (best, incumbent) if m is not None]
    challenger = models[0]
    models = [m for m in models if m is challenger or m.label != challenger.label]
    outs = judge_benchmarks(models, [path for _, path in loaded], data, settings,
                            max_new_tokens, root, target, resources)
    results = score_benchmarks(loaded, models, outs, data, settings, registry_dir, out_dir)
    paired = None
    if settings.promotion_benchmark and len(models) == 2:
        path = next(p for info, p in loaded if info.name == settings.promotion_benchmark)
        paired = compare_on_benchmark(path, outs[challenger.label][str(path)],
                                      outs[models[1].label][str(path)], data, settings)
    return BenchmarkStep(results=results, outcome=BenchmarkOutcome(
        scores=_scores_of(challenger.label, results, loaded), paired=paired))


def _scores_of(label: str, results: list[report.BenchmarkResult],
               loaded: list[tuple[BenchmarkInfo, Path]]) -> dict[str, dict[str, Any]]:
    """One model's values per benchmark, as champion.json keeps them."""
    items = {info.name: path.parent.name for info, path in loaded}
    return {result.benchmark: {
        **{name: v.value for name, v in model.score.metrics.items()},
        "parse_failure_rate": model.score.parse_failure_rate.value,
        "items": items[result.benchmark], "origin": result.origin}
        for result in results for model in result.models if model.label == label}


def _artifact_key(name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "benchmark-" + "".join(c if c.isalnum() else "-" for c in name.lower())
