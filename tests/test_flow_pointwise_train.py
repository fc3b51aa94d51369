"""pointwise-train under a real Prefect harness, a real local Ray head and real verl."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from tiny_training import TINY_TRAINING

from flows.pointwise_train import main, pointwise_train
from rm_core.evaluation.registry import load_champion, read_decisions

pytestmark = pytest.mark.usefixtures("prefect_harness")




def write_config(path: Path, training: dict | None) -> Path:
    config = {"name": "tiny", "data": {"template": {"answer_prefix": "<score>"}},
              "evaluation": {"limit": 8, "n_resamples": 100}}
    if training is not None:
        config["training"] = training
    path.write_text(yaml.safe_dump(config))
    return path


def read_run(flow_run_id: UUID) -> tuple[dict[str, str], set[str]]:
    """Task states by name (all runs of the flow run, subflows excluded) and artifact keys."""

    async def read() -> tuple[dict[str, str], set[str]]:
        in_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=in_run)
            artifacts = await client.read_artifacts(flow_run_filter=in_run)
        states = {run.name.rsplit("-", 1)[0]: run.state.name for run in runs}
        return states, {artifact.key for artifact in artifacts if artifact.key}

    return asyncio.run(read())


def everything_recorded(artifacts_dir: Path) -> Iterator[tuple[str, bytes]]:
    """Every log line and artifact the Prefect server holds, and every file of the run."""

    async def read() -> tuple[list[str], list[str]]:
        logs, artifacts = [], []
        async with get_client() as client:
            while batch := await client.read_logs(offset=len(logs), limit=200):
                logs += [log.message for log in batch]
            while batch := await client.read_artifacts(offset=len(artifacts), limit=200):
                artifacts += [json.dumps(artifact.data) for artifact in batch]
        return logs, artifacts

    logs, artifacts = asyncio.run(read())
    yield from (("log", line.encode()) for line in logs)
    yield from (("artifact", data.encode()) for data in artifacts)
    yield from ((str(path), path.read_bytes()) for path in artifacts_dir.rglob("*")
                if path.is_file())


def history_versions(key: str, since: datetime) -> list[Any]:
    """The versions of a keyed artifact created since `since` (other tests of the session
    share the server), oldest first."""

    async def read() -> list[Any]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        return sorted((a for a in found if a.created and a.created >= since),
                      key=lambda artifact: artifact.created)

    return asyncio.run(read())


def test_pointwise_train_trains_evaluates_decides_and_a_rerun_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = datetime.now(UTC)
    secret = f"planted-{uuid4().hex}"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    config = write_config(tmp_path / "tiny.yaml", TINY_TRAINING)
    state = pointwise_train(str(config), artifacts_dir=str(tmp_path / "art"),
                            return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result.train.last_step == 2
    assert (result.train.checkpoint_dir / "global_step_2" / "actor").is_dir()
    states, artifacts = read_run(state.state_details.flow_run_id)
    assert states["train-judge"] == "Completed"
    assert {"learning-signal", "training-progress", "training-metrics"} <= artifacts

    evaluation = result.evaluation
    assert [m.label for m in evaluation.models] == ["base", "step 1", "step 2"]
    assert all(m.evaluation.n == 8 for m in evaluation.models)
    assert all((m.model_dir / "config.json").is_file() for m in evaluation.models[1:])
    # a random tiny judge parses nothing, trained or not: no better than its base model
    decision = evaluation.decision
    assert decision is not None and not decision.promote
    assert decision.incumbent == "base model" and decision.delta == 0.0
    failed = {bar.name for bar in decision.bars if not bar.passed}
    assert {"incumbent", "constants", "spearman"} <= failed
    assert decision.reason.startswith("not promoted. failed beats the base model")
    assert "training reward" in evaluation.plots
    assert evaluation.report_path.is_file()
    registry = tmp_path / "art" / "registry" / "tiny"
    assert load_champion(registry) is None
    assert [d["train_key"] for d in read_decisions(registry)] == [result.train.key]

    leaks = [where for where, data in everything_recorded(tmp_path / "art")
             if secret.encode() in data]
    assert not leaks, f"the planted secret leaked into {leaks}"

    again = pointwise_train(str(config), artifacts_dir=str(tmp_path / "art"), return_state=True)
    assert again.result().skipped and "nothing changed" in again.result().skipped
    states, artifacts = read_run(again.state_details.flow_run_id)
    assert "run-skipped" in artifacts
    assert states["check-for-changes"] == "Completed"
    assert not {"check-learning-signal", "train-judge"} & set(states)

    forced = pointwise_train(str(config), artifacts_dir=str(tmp_path / "art"), force=True,
                             return_state=True)
    states, _ = read_run(forced.state_details.flow_run_id)
    stages = ("prepare-model", "check-learning-signal", "train-judge")
    assert {stage: states[stage] for stage in stages} == dict.fromkeys(stages, "Cached")
    rerun = forced.result().evaluation
    assert [m.label for m in rerun.models] == ["base", "step 1", "step 2"]
    assert rerun.decision is not None and not rerun.decision.promote  # the same models again
    assert len(read_decisions(registry)) == 2

    # only the gate changed: decided again (not skipped), training and judgements cached
    stricter = pointwise_train(str(config), artifacts_dir=str(tmp_path / "art"),
                               overrides={"evaluation.gate.beat_text_baseline": True},
                               return_state=True)
    assert not stricter.result().skipped
    states, _ = read_run(stricter.state_details.flow_run_id)
    assert {stage: states[stage] for stage in stages} == dict.fromkeys(stages, "Cached")
    regated = stricter.result().evaluation.decision
    assert regated is not None and not regated.promote
    assert next(bar for bar in regated.bars if bar.name == "text_baseline").required
    assert len(read_decisions(registry)) == 3

    # the history: a version of the keyed table per decided run, the latest with every row
    versions = history_versions("judge-history-tiny", started)
    assert len(versions) == 3
    latest = json.loads(versions[-1].data)
    assert [row["decision"] for row in latest] == ["kept"] * 3
    assert latest[-1]["failed bars"].startswith("incumbent, constants")
    assert latest[0]["train key"] == result.train.key[:12]
    assert "the champion over runs" in stricter.result().evaluation.plots


def test_a_config_without_training_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "no-training.yaml", None)
    assert main([str(config), "--artifacts-dir", str(tmp_path / "art")]) == 1
    assert "has no `training` section" in capsys.readouterr().err
