"""The event a failed training run emits so that a notification can name its failed task.

Prefect's own `prefect.flow-run.Failed` event does not say which task failed; this hook
finds it (in the run or in its subflows) and emits `TRAINING_FAILED_EVENT` about the run,
which the failure automation (deployments/notifications.py) turns into a message.
"""

from __future__ import annotations

from uuid import UUID

from prefect import Flow, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    TaskRunFilter,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType, TaskRun
from prefect.events import emit_event
from prefect.logging import get_run_logger
from prefect.states import State

TRAINING_FAILED_EVENT = "rm-pipeline.training.failed"
# Subflows nest one level here (prepare-data, evaluate-checkpoints); a margin for more.
_MAX_DEPTH = 4


def failed_task(flow_run_id: UUID) -> TaskRun | None:
    """The first task that failed in the run or in one of its subflows (a subflow's own
    stand-in task is passed over for the task inside it), None when no task failed."""
    with get_client(sync_client=True) as client:
        run_ids, placeholders = [flow_run_id], set()
        frontier = [flow_run_id]
        for _ in range(_MAX_DEPTH):
            children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier)))
            placeholders |= {child.parent_task_run_id for child in children}
            frontier = [child.id for child in children]
            if not frontier:
                break
            run_ids += frontier
        failed = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids)),
            task_run_filter=TaskRunFilter(state=dict(type=TaskRunFilterStateType(
                any_=[StateType.FAILED, StateType.CRASHED]))))
    real = [run for run in failed if run.id not in placeholders]
    real.sort(key=lambda run: (run.end_time is None, run.end_time or run.expected_start_time))
    return real[0] if real else None


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def announce_failure(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """on_failure hook: emit `TRAINING_FAILED_EVENT` naming the run, its flow, the failed
    task and the error's first line. A hook that fails must not hide the run's own error,
    so lookup problems are logged and the event goes out without the task."""
    logger = get_run_logger()
    task_name, error = "", first_line(state.message)
    try:
        task = failed_task(flow_run.id)
    except Exception as exc:  # the run already failed: say why this lookup did, still emit
        logger.warning("could not find the failed task of run %s: %s", flow_run.name, exc)
        task = None
    if task is not None:
        task_name = task.name
        error = first_line(task.state.message if task.state else None) or error
    emit_event(
        event=TRAINING_FAILED_EVENT,
        resource={"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                  "prefect.resource.name": flow_run.name},
        related=[{"prefect.resource.id": f"prefect.flow.{flow_run.flow_id}",
                  "prefect.resource.role": "flow", "prefect.resource.name": flow.name}],
        payload={"failed_task": task_name, "error": error},
    )
    logger.info("failure announced: task %s, %s", task_name or "(none: the flow itself)", error)
