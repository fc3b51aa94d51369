"""benchmark-judge: a judge on public reward-model benchmarks (RewardBench 2, RM-Bench,
JudgeBench), each scored the way its authors score it.

Run it with `python -m flows.benchmark_judge [CONFIG] [--benchmark NAME[=FILE]]...
[--model-dir DIR]... [--no-base] [--no-champion] [--limit N] [--artifacts-dir DIR]`.
A benchmark without a file is loaded from the Hugging Face hub (RM-Bench always needs
its JSON files). The judge's template and generation settings are the experiment's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run

from flows.evaluate_checkpoints import DEFAULT_CONFIG, _cluster, _config, _max_new_tokens
from rm_core.benchmarks.items import BENCHMARKS, check_names
from rm_core.benchmarks.report import BenchmarkResult
from rm_core.cluster.target import RayTarget
from rm_core.config import ExperimentConfig, registry_dir
from rm_core.errors import ConfigError, RmPipelineError
from tasks.benchmarks import judge_benchmarks, load_benchmark_items, score_benchmarks
from tasks.evaluation import ModelToJudge, champion_model
from tasks.training import prepare_model


@flow(name="benchmark-judge", log_prints=True)
def benchmark_judge(
    config_path: str = DEFAULT_CONFIG,
    benchmarks: list[str] | None = None,
    sources: dict[str, str] | None = None,
    model_dirs: list[str] | None = None,
    include_base: bool | None = None,
    include_champion: bool = True,
    limit: int | None = None,
    artifacts_dir: str | None = None,
    config: ExperimentConfig | None = None,
    cluster: RayTarget | None = None,
) -> list[BenchmarkResult]:
    """Judge the base model, given folders and the champion on each benchmark.

    `sources` maps a benchmark name to a local file or folder in its schema; `limit`
    (default: `evaluation.limit`) samples that many items per benchmark with
    `evaluation.seed`, for quick runs: read the CIs next to the figures."""
    config = config or _config(config_path, artifacts_dir)
    names = check_names(benchmarks or list(BENCHMARKS))
    sources = sources or {}
    stray = sorted(set(sources) - set(names))
    if stray:
        raise ConfigError(f"sources given for benchmarks not run: {stray}; run: {names}")
    root, settings = config.artifacts_dir, config.evaluation
    registry, resources = registry_dir(config), config.ray.model_jobs
    loaded = [load_benchmark_items(name, sources.get(name), limit or settings.limit,
                                   settings.seed, root) for name in names]
    with _cluster(config, cluster) as target:
        models = _models(config, model_dirs, include_base, include_champion, registry, target)
        if not models:
            raise ConfigError("no model to judge: give model_dirs, or a training.model_path "
                              "with include_base, or a registry with a champion")
        outs = judge_benchmarks(models, [path for _, path in loaded], config.data, settings,
                                _max_new_tokens(config), root, target, resources)
    return score_benchmarks(loaded, models, outs, config.data, settings, registry,
                            root / "reports" / str(flow_run.id or "local"))


def _models(config: ExperimentConfig, model_dirs: list[str] | None, include_base: bool | None,
            include_champion: bool, registry: Path, target: RayTarget) -> list[ModelToJudge]:
    """The base model (prepared on the cluster if embedded), given folders, the champion."""
    root, resources, training = config.artifacts_dir, config.ray.model_jobs, config.training
    base = training.model_path if training else None
    wanted_base = config.evaluation.include_base if include_base is None else include_base
    models = [ModelToJudge(label="base", kind="base", step=0,
                           model_dir=Path(prepare_model(base, root, target, resources)))
              ] if wanted_base and base else []
    for folder in model_dirs or []:
        models.append(ModelToJudge(label=Path(folder).name, kind="model",
                                   model_dir=Path(folder)))
    champion_dir = champion_model(registry) if include_champion else None
    if champion_dir:
        models.append(ModelToJudge(label="champion", kind="champion", model_dir=champion_dir))
    labels = [model.label for model in models]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two models to judge share a name: {labels}")
    return models


def _benchmark_args(values: list[str]) -> tuple[list[str] | None, dict[str, str]]:
    """`NAME` or `NAME=FILE` options -> (names, sources)."""
    names, sources = [], {}
    for value in values:
        name, _, source = value.partition("=")
        names.append(name)
        if source:
            sources[name] = source
    return names or None, sources


def main(argv: list[str] | None = None) -> int:
    """Command line entry: run the flow and print each benchmark's headline figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    parser.add_argument("--benchmark", action="append", default=[],
                        help=f"one of {', '.join(BENCHMARKS)}, optionally =FILE")
    parser.add_argument("--model-dir", action="append", default=[])
    parser.add_argument("--no-base", action="store_true")
    parser.add_argument("--no-champion", action="store_true")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--artifacts-dir")
    args = parser.parse_args(argv)
    names, sources = _benchmark_args(args.benchmark)
    try:
        results = benchmark_judge(args.config, names, sources, args.model_dir or None,
                                  False if args.no_base else None, not args.no_champion,
                                  args.limit, args.artifacts_dir)
    except RmPipelineError as exc:
        print(f"benchmark-judge failed: {exc}", file=sys.stderr)
        return 1
    for result in results:
        for model in result.models:
            overall = model.score.metrics["overall"]
            print(f"{result.benchmark} {model.label}: overall {overall.value:.3f} "
                  f"[{overall.ci_low:.2f}, {overall.ci_high:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
