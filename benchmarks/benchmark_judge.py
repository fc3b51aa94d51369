"""Public benchmarks: SmolLM2-135M base vs a trained judge on RewardBench 2, RM-Bench and
JudgeBench samples, with judgements per second.

Run on demand, it is not a test (it loads SmolLM2: hold the light lock):

    flock /work/wt/smollm2-light.lock python benchmarks/benchmark_judge.py \
        [--model-dir CHAMPION] [--source NAME=FILE]... [--limit N] [--json OUT.json]

Each model judges each benchmark in this process with the evaluation backend itself
(`load_judge`: transformers on CPU, the config's template, `evaluation` settings and
`max_new_tokens`) through `rm_core.benchmarks.stage.judge_items`, the function the
`benchmark-judge` Ray job runs; the figures are `rm_core.benchmarks.scoring.score`'s,
with 95% bootstrap CIs over items. Without `--source` the benchmarks are the project's
fixture files (tests/fixtures/benchmarks: 10, 4 and 5 items), so read the CIs: they
span most of [0, 1]. `--model-dir` is the trained judge (e.g. a copy of a registry's
`champion/`); without it only the base model is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import model_folder  # noqa: E402
from benchmarks.headline import headline  # noqa: E402
from rm_core.benchmarks.report import cell  # noqa: E402

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "benchmarks"
SOURCES = {"rewardbench2": FIXTURES / "reward-bench-2.jsonl", "rm-bench": FIXTURES / "rm-bench",
           "judgebench": FIXTURES / "judgebench-gpt.jsonl"}
SHOWN = {"rewardbench2": ("overall",), "rm-bench": ("overall", "hard", "normal", "easy"),
         "judgebench": ("overall",)}


def measure(model_dir: Path, items_paths: dict[str, Path], config: Any, max_new_tokens: int,
            out_root: Path) -> dict[str, dict[str, Any]]:
    """benchmark -> {score, seconds, judgements} for one model, loaded once."""
    from rm_core.benchmarks import scoring
    from rm_core.benchmarks.items import read_items
    from rm_core.benchmarks.stage import judge_items, read_judgements
    from rm_core.benchmarks.units import judged_kind
    from rm_core.data.stage import template_for
    from rm_core.evaluation.runner import load_judge

    template, settings = template_for(config.data), config.evaluation
    backend = load_judge(model_dir, settings)
    results = {}
    for name, items_path in items_paths.items():
        out = out_root / f"{model_dir.name}-{name}"
        started = time.perf_counter()
        judge_items(backend, items_path, template, settings, max_new_tokens, out)
        seconds = time.perf_counter() - started
        judgements, _ = read_judgements(out)
        _, items = read_items(items_path)
        score = scoring.score(name, judged_kind(template), items, judgements,
                              settings.n_resamples, settings.seed)
        results[name] = {"score": score, "seconds": seconds, "judgements": len(judgements)}
    return results


def table(measured: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One markdown row per (benchmark, model)."""
    lines = ["| benchmark | model | headline (95% CI) | parse failures | judgements | "
             "judgements/s |", "|---|---|---|---|---:|---:|"]
    for name, shown in SHOWN.items():
        for model, results in measured.items():
            if name not in results:
                continue
            result, score = results[name], results[name]["score"]
            figures = ", ".join(f"{key} {cell(score.metrics[key])}" for key in shown
                                if key in score.metrics)
            lines.append(f"| {name} | {model} | {figures} | {cell(score.parse_failure_rate)} | "
                         f"{result['judgements']} | "
                         f"{result['judgements'] / result['seconds']:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/pointwise_helpsteer2_sample.yaml")
    parser.add_argument("--model-dir", help="the trained judge (a champion/ copy)")
    parser.add_argument("--source", action="append", default=[],
                        help="NAME=FILE in the benchmark's schema (default: the fixtures)")
    parser.add_argument("--limit", type=int, help="items per benchmark (default: all)")
    parser.add_argument("--model-cache", default=os.environ.get(
        "RM_PIPELINE_MODEL_CACHE", str(Path.home() / ".cache/rm-pipeline/models")))
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)

    from rm_core.benchmarks.items import write_items
    from rm_core.benchmarks.loaders import load_benchmark
    from rm_core.config import load_experiment

    config = load_experiment(REPO_ROOT / args.config)
    max_new_tokens = config.evaluation.max_new_tokens or (
        config.training.grpo.max_response_length if config.training else 64)
    sources = {**SOURCES, **{k: Path(v) for k, _, v in (s.partition("=") for s in args.source)}}
    models = {"base (SmolLM2-135M)": model_folder("smollm2", Path(args.model_cache))}
    if args.model_dir:
        models[f"trained ({Path(args.model_dir).name})"] = Path(args.model_dir)
    with tempfile.TemporaryDirectory(prefix="benchmark-judge-") as work:
        root = Path(work)
        items_paths = {name: write_items(load_benchmark(name, str(path), args.limit,
                                                        config.evaluation.seed), root)
                       for name, path in sources.items()}
        measured = {label: measure(folder, items_paths, config, max_new_tokens, root / "out")
                    for label, folder in models.items()}
    print("\n".join(table(measured)))
    for label, results in measured.items():
        for name, result in results.items():
            overall = result["score"].metrics["overall"]
            headline(f"benchmark_judge.{name}", f"{label} overall", cell(overall),
                     verdict=f"{result['judgements'] / result['seconds']:.2f} judgements/s")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {label: {name: {"score": r["score"].model_dump(mode="json"),
                            "seconds": r["seconds"], "judgements": r["judgements"]}
                     for name, r in results.items()} for label, results in measured.items()},
            indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
