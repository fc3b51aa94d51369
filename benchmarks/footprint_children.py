"""What the two child processes of `orchestrator_footprint.py` run: the flow, and the old
in-process evaluation of the same models. Each writes its figures to a JSON file.

The flow child reads its run's timings back from Prefect after the flow (its stages, and
for the merge and judging jobs where their time went); the in-process child merges and
judges with `rm_core` directly, as the flow process did before model stages became jobs.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

# The evaluation tasks (each runs one Ray job) and their jobs' stage names.
EVALUATION_JOBS = {"merge-checkpoints": "merge", "judge-models": "judge"}
TIMINGS_WAIT_S = 60.0
LOG_LIMIT = 200  # a merge or judging task logs a few tens of lines
RUN_SUFFIX = re.compile(r"-[0-9a-f]{3}$")


# --------------------------------------------------------------------------- the flow


def flow_child(config_path: str, model: str | None, max_steps: int | None,
               artifacts_dir: str, out: Path) -> int:
    """Run pointwise-train, then write its timings to `out`."""
    from flows.judge_training import RunSettings, load_run_config
    from flows.pointwise_train import pointwise_train

    started = time.perf_counter()
    state = pointwise_train(config_path, max_steps=max_steps, model_path=model,
                            artifacts_dir=artifacts_dir, return_state=True)
    flow_s = time.perf_counter() - started
    state.result()  # raises if the flow failed
    config = load_run_config(config_path, "pointwise", RunSettings(
        max_steps=max_steps, model_path=model, artifacts_dir=artifacts_dir))
    assert config.training is not None
    stages, phases = run_timings(state.state_details.flow_run_id, Path(artifacts_dir))
    out.write_text(json.dumps({
        "flow_s": flow_s, "stages": stages, "phases": phases,
        "threads": config.ray.model_jobs.threads(), "model": config.training.model_path,
        "steps": config.training.grpo.total_training_steps,
    }, indent=2))
    return 0


def run_timings(run_id: Any, root: Path) -> tuple[list[tuple[str, float, float]],
                                                  dict[str, list[tuple[str, float]]]]:
    """(name, s, start epoch s) of each task run and subflow of the run in start order (a
    subflow's task runs indented under it), and the phases of each evaluation job. Waits up to
    TIMINGS_WAIT_S for the evaluation tasks' ends to reach the server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    def in_run(flow_run_id: Any) -> FlowRunFilter:
        return FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))

    deadline = time.monotonic() + TIMINGS_WAIT_S
    with get_client(sync_client=True) as client:
        while True:
            subflows = [(client.read_flow(run.flow_id).name, run)
                        for run in client.read_flow_runs(flow_run_filter=FlowRunFilter(
                            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id])))]
            rows = [row for run in client.read_task_runs(flow_run_filter=in_run(run_id))
                    if not any(run.name.startswith(name) for name, _ in subflows)  # proxies
                    for row in _timed(run, task_name(run.name))]
            evaluation = {}
            for name, subflow in subflows:
                rows += _timed(subflow, f"{name} (subflow)")
                for run in client.read_task_runs(flow_run_filter=in_run(subflow.id)):
                    rows += _timed(run, f"  {task_name(run.name)}")
                    if task_name(run.name) in EVALUATION_JOBS and run.end_time is not None:
                        evaluation[task_name(run.name)] = run
            if len(evaluation) == len(EVALUATION_JOBS) or time.monotonic() > deadline:
                phases = {task: job_phases(client, run, root / "jobs" / EVALUATION_JOBS[task])
                          for task, run in evaluation.items()}
                return [(name, seconds, began) for began, name, seconds in sorted(rows)], phases
            time.sleep(1.0)


def task_name(run_name: str) -> str:
    """`merge-checkpoints-cdc` -> `merge-checkpoints` (Prefect appends part of a key)."""
    return RUN_SUFFIX.sub("", run_name)


def _timed(run: Any, name: str) -> list[tuple[float, str, float]]:
    """[(start, name, seconds)] of a finished run; [] while it is not."""
    began = run.start_time or run.expected_start_time or run.created
    if run.end_time is None or began is None:
        return []
    return [(began.timestamp(), name, (run.end_time - began).total_seconds())]


def job_phases(client: Any, run: Any, jobs_dir: Path) -> list[tuple[str, float]]:
    """Where an evaluation task's time went, from its job's spec and result files (written
    at submission and at the end of the work) and from when the driver's first line
    reached the task's log (through Ray's log tail)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId
    from prefect.client.schemas.sorting import LogSort

    logs = client.read_logs(LogFilter(task_run_id=LogFilterTaskRunId(any_=[run.id])),
                            limit=LOG_LIMIT, sort=LogSort.TIMESTAMP_ASC)

    def logged(text: str) -> float:
        return next((entry.timestamp.timestamp() for entry in logs if text in entry.message),
                    math.nan)

    work_dir = job_dir(jobs_dir)
    marks = [
        ("resource check, spec written, job submitted",
         (work_dir / "job_spec.json").stat().st_mtime),
        # Ray's runtime env, the driver's start and imports: the job's first log lines
        # come in one piece, so they cannot be told apart from here.
        ("runtime env, driver start (until its first line)", logged(f"stage {jobs_dir.name}: ")),
        ("the work, torch import included (until the result file)",
         (work_dir / "job_result.json").stat().st_mtime),
        ("end seen by the task, manifests written", run.end_time.timestamp()),
    ]
    phases, previous = [], (run.start_time or run.created).timestamp()
    for label, moment in marks:
        phases.append((label, moment - previous))
        previous = previous if math.isnan(moment) else moment
    return phases


def job_dir(jobs_dir: Path) -> Path:
    """The work dir of the flow's one job of a stage (`<artifacts>/jobs/<stage>/<key>`)."""
    found = sorted(spec.parent for spec in jobs_dir.glob("*/job_spec.json"))
    if len(found) != 1:
        raise SystemExit(f"expected one job under {jobs_dir}, found {len(found)}")
    return found[0]


# --------------------------------------------------------------------------- in-process


def evaluate_child(artifacts_dir: Path, scratch: Path, threads: int, out: Path) -> int:
    """Merge and judge in this process what the flow's merge and judging jobs did, into
    `scratch`; torch and transformers are imported before the clock starts (the old flow
    process had them from its in-process learning-signal check)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.perf_counter()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    from rm_core.config import DataConfig
    from rm_core.data.stage import template_for
    from rm_core.evaluation.runner import JudgeEvaluation
    from rm_core.evaluation.settings import EvaluationSettings
    from rm_core.evaluation.stage import EVALUATION_FILE, judge_into, merged_dir, merged_model

    torch.set_num_threads(threads)  # what the jobs get (`JobResources.threads`)
    imports_s = time.perf_counter() - started
    merge, judge = (json.loads((job_dir(artifacts_dir / "jobs" / stage) / "job_spec.json")
                               .read_text())["args"] for stage in ("merge", "judge"))
    started, ours = time.perf_counter(), {}
    for step_dir in map(Path, merge["step_dirs"]):
        ours[str(merged_dir(step_dir, Path(merge["root"])))] = merged_model(step_dir,
                                                                           scratch / "root")
    merge_s = time.perf_counter() - started
    template = template_for(DataConfig.model_validate(judge["data"]))
    settings = EvaluationSettings.model_validate(judge["settings"])
    outs, started = [], time.perf_counter()
    for index, (model, _) in enumerate(judge["models"]):
        outs.append(scratch / "eval" / str(index))
        judge_into(ours.get(model, Path(model)), Path(judge["val_path"]), template, settings,
                   judge["max_new_tokens"], outs[-1])
    judge_s = time.perf_counter() - started

    def predictions(folder: str | Path) -> list[int]:
        text = (Path(folder) / EVALUATION_FILE).read_text(encoding="utf-8")
        return JudgeEvaluation.model_validate_json(text).predictions

    same = sum(predictions(mine) == predictions(theirs)
               for mine, (_, theirs) in zip(outs, judge["models"], strict=True))
    out.write_text(json.dumps({
        "imports_s": imports_s, "merge_s": merge_s, "judge_s": judge_s,
        "checkpoints": len(merge["step_dirs"]), "models": len(judge["models"]),
        "same_predictions": same}, indent=2))
    return 0
