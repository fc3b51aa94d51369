"""The benchmark stage without Prefect: a judge's answers to a benchmark's items, stored once
per (model files, items file, template, settings), judged by a Ray job where the model is.

The job only generates and parses (`judgements.json`: unit key -> parsed answer); the
benchmark's metrics are computed on the orchestrator from that small file
(`rm_core.benchmarks.scoring`), so changing a metric re-judges nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from rm_core.artifacts import atomic_dir, finish, stage_dir, stage_key
from rm_core.benchmarks.items import read_items
from rm_core.benchmarks.units import Judgements, judged_kind, units
from rm_core.cluster.resources import JobResources
from rm_core.cluster.stage_jobs import StageJob
from rm_core.config import DataConfig
from rm_core.data.verl_stage import template_for
from rm_core.evaluation.settings import DECISION_ONLY, EvaluationSettings
from rm_core.training.run import model_fingerprint

JUDGEMENTS_FILE = "judgements.json"
# Settings that shape no judgement: deciding, scoring, which models and items to judge.
NOT_JUDGING = DECISION_ONLY | {"n_resamples", "include_base", "limit"}


def bench_key(model_dir: Path, items_path: Path, data: DataConfig,
              settings: EvaluationSettings, max_new_tokens: int) -> str:
    judging = settings.model_dump(mode="json", exclude=NOT_JUDGING)
    return stage_key("bench", model=model_fingerprint(model_dir),
                     items=hashlib.sha256(items_path.read_bytes()).hexdigest(),
                     template=repr(template_for(data)),
                     settings=judging, max_new_tokens=max_new_tokens)


def bench_dir(model_dir: Path, items_path: Path, data: DataConfig,
              settings: EvaluationSettings, max_new_tokens: int, root: Path) -> Path:
    """Where this model's judgements of these items are (or will be) stored."""
    return stage_dir(root, "bench",
                     bench_key(model_dir, items_path, data, settings, max_new_tokens))


def benchmark_job(todo: list[tuple[Path, Path, Path]], data: DataConfig,
                  settings: EvaluationSettings, max_new_tokens: int, work_dir: Path,
                  resources: JobResources) -> StageJob:
    """One job judging every (model folder, items file, output dir) triple."""
    return StageJob(
        stage="bench", function=f"{__name__}:run_benchmark_judge",
        args={"todo": [[str(m), str(i), str(o)] for m, i, o in todo],
              "data": data.model_dump(mode="json"),
              "settings": settings.model_dump(mode="json"), "max_new_tokens": max_new_tokens},
        work_dir=work_dir, resources=resources,
    )


def run_benchmark_judge(todo: list[list[str]], data: dict[str, Any], settings: dict[str, Any],
                        max_new_tokens: int) -> dict[str, Any]:
    """On the cluster: load each model once and judge its items files."""
    from rm_core.evaluation.runner import check_model_dir, load_judge

    template = template_for(DataConfig.model_validate(data))
    judged_settings = EvaluationSettings.model_validate(settings)
    by_model: dict[str, list[tuple[str, str]]] = {}
    for model, items, out in todo:
        by_model.setdefault(model, []).append((items, out))
    for model, work in by_model.items():
        check_model_dir(Path(model))
        backend = load_judge(Path(model), judged_settings)
        for items_path, out in work:
            print(f"judging {items_path} with {model}", flush=True)
            judge_items(backend, Path(items_path), template, judged_settings, max_new_tokens,
                        Path(out))
    return {"judged": [out for _, _, out in todo]}


def judge_items(backend: Any, items_path: Path, template: Any, settings: EvaluationSettings,
                max_new_tokens: int, out: Path) -> None:
    """Render, generate, parse (majority over samples) and store the answers in `out`."""
    from rm_core.evaluation.runner import predict
    from rm_core.judge import generation

    started = time.perf_counter()
    name, items = read_items(items_path)
    judged_kind(template)
    todo = units(name, items, template)
    prompts = [generation.render(backend.tokenizer, [{"role": "user", "content": text}],
                                 template.answer_prefix, bool(settings.thinking))
               for _, text in todo]
    completions = backend.generate(prompts, settings.max_new_tokens or max_new_tokens,
                                   settings.temperature, settings.samples, settings.seed
                                   ) if prompts else []
    answers = dict(zip((key for key, _ in todo), predict(completions, template), strict=True))
    seconds = time.perf_counter() - started
    with atomic_dir(out) as building:
        (building / JUDGEMENTS_FILE).write_text(json.dumps(
            {"judgements": answers, "examples": [c[0] for c in completions[:5]],
             "seconds": seconds, "backend": backend.name}), encoding="utf-8")
        finish(building, {"benchmark": name, "units": len(todo), "seconds": seconds})


def read_judgements(out: Path) -> tuple[Judgements, dict[str, Any]]:
    """(unit key -> answer, the rest of the file: examples, seconds, backend)."""
    payload = json.loads((out / JUDGEMENTS_FILE).read_text(encoding="utf-8"))
    return payload.pop("judgements"), payload
