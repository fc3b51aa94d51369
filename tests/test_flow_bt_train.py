"""bt-train under a real Prefect harness: a real tiny Bradley-Terry job on a local Ray head,
judged beside its base model, decided on; and the refusals of configs it cannot train."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from tiny_training import TINY_TRAINING

from flows.bt_train import bt_train
from flows.bt_train import main as bt_main
from flows.judge_training import RunSettings, load_run_config
from flows.pairwise_train import main as pairwise_main
from flows.pointwise_train import main as pointwise_main
from rm_core.cluster.jobs import AUTH_TOKEN_PATH_VAR
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.errors import ConfigError
from rm_core.evaluation.bt_report import TITLE
from rm_core.evaluation.registry import read_decisions

PAIRS = {"source": {"kind": "sample", "name": "helpsteer2_preference"},
         "converter": "helpsteer2_pairwise", "template": {"answer_prefix": "<preference>"}}
POINTS = {"template": {"answer_prefix": "<score>"}}
# The tiny random model with a scalar head: one epoch over the sample's train pairs.
TINY_BT = {"model_path": "tiny-qwen2", "epochs": 1, "lr": 3e-3, "batch_size": 16,
           "warmup_steps": 0, "save_steps": 100, "bf16": False, "max_length": 1024}


def write_config(path: Path, data: dict[str, Any], **sections: Any) -> Path:
    config = {"name": "tiny-bt", "data": data, "evaluation": {"limit": 8, "n_resamples": 100},
              **sections}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(("data", "sections", "kind", "message"), [
    (PAIRS, {"bradley_terry": TINY_BT}, "pairwise", "run bt-train with it, not pairwise-train"),
    (POINTS, {"bradley_terry": TINY_BT, "training": TINY_TRAINING}, "pointwise",
     "run bt-train with it, not pointwise-train"),
    (PAIRS, {"training": TINY_TRAINING}, "bt",
     "no `bradley_terry` section, which bt-train trains: its `training` section trains a "
     "generative pairwise judge: run pairwise-train with it"),
    (POINTS, {"training": TINY_TRAINING}, "bt", "run pointwise-train with it"),
    (PAIRS, {}, "bt", "add one to train a Bradley-Terry reward model"),
    (POINTS, {"bradley_terry": TINY_BT}, "bt",
     "has pointwise data (converter helpsteer2_pointwise): a Bradley-Terry model needs "
     "preference pairs"),
], ids=["bt-to-pairwise", "bt-to-pointwise", "pairwise-to-bt", "pointwise-to-bt",
        "nothing-to-bt", "pointwise-data-to-bt"])
def test_a_flow_refuses_a_config_it_cannot_train_naming_the_right_flow(
    tmp_path: Path, data: dict[str, Any], sections: dict[str, Any], kind: Any, message: str
) -> None:
    config = write_config(tmp_path / "config.yaml", data, **sections)
    with pytest.raises(ConfigError, match=r"config\.yaml") as info:
        load_run_config(str(config), kind, RunSettings())
    assert message in str(info.value)


def test_the_shipped_bt_config_is_a_cpu_bt_run_on_pairs() -> None:
    config = load_run_config("configs/bt_helpsteer2_sample.yaml", "bt", RunSettings())
    assert config.training is None and config.bradley_terry.profile == "cpu"
    assert config.bradley_terry.model_path == "smollm2-135m"
    assert config.evaluation.limit == 48


def test_bt_settings_change_the_bradley_terry_section(tmp_path: Path) -> None:
    """--model and --profile of bt-train set the BT spec's, not a `training` section."""
    config = write_config(tmp_path / "config.yaml", PAIRS, bradley_terry=TINY_BT)
    loaded = load_run_config(str(config), "bt", RunSettings(model_path="other", profile="gpu"))
    assert loaded.training is None
    assert (loaded.bradley_terry.model_path, loaded.bradley_terry.profile) == ("other", "gpu")


@pytest.mark.usefixtures("prefect_harness")
def test_the_command_lines_refuse_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bt_config = write_config(tmp_path / "bt.yaml", PAIRS, bradley_terry=TINY_BT)
    art = ["--artifacts-dir", str(tmp_path / "art")]
    assert pairwise_main([str(bt_config), *art]) == 1
    assert "run bt-train with it, not pairwise-train" in capsys.readouterr().err
    assert pointwise_main([str(bt_config), *art]) == 1
    assert "run bt-train with it, not pointwise-train" in capsys.readouterr().err
    assert bt_main(["configs/pairwise_helpsteer2_sample.yaml", *art]) == 1
    error = capsys.readouterr().err
    assert "bt-train failed:" in error and "run pairwise-train with it" in error
    assert "Traceback" not in error


def artifact_keys(flow_run_id: UUID) -> set[str]:
    """The keys of the artifacts a flow run created."""

    async def read() -> set[str]:
        async with get_client() as client:
            found = await client.read_artifacts(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_run_id])))
        return {artifact.key for artifact in found if artifact.key}

    return asyncio.run(read())


def write_pairs(path: Path, count: int) -> Path:
    """`count` chosen/rejected pairs a scalar head can tell apart: a sentence vs gibberish."""
    rows = [{"prompt": f"How do I sort list number {i} in Python?",
             "chosen": f"Call sorted() on list {i}; it returns a new sorted list.",
             "rejected": f"zq{i} xv kk pl{i} qq"} for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.usefixtures("prefect_harness")
def test_bt_train_trains_judges_decides_and_then_skips_as_unchanged(
    tmp_path: Path, cluster: LocalRayCluster, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(AUTH_TOKEN_PATH_VAR, str(cluster.token_path))
    data = {"source": {"kind": "local", "path": str(write_pairs(tmp_path / "pairs.jsonl", 24))},
            "converter": "chosen_rejected_pairwise", "split": {"val_fraction": 0.25}}
    config = write_config(tmp_path / "bt.yaml", data, bradley_terry={**TINY_BT, "batch_size": 8})
    art = tmp_path / "art"
    state = bt_train(str(config), artifacts_dir=str(art), ray_address=cluster.dashboard_url,
                     return_state=True)
    result = state.result()
    # the step lines became the progress bar and the per-step table, as GRPO's do
    assert {"bt-progress", "bt-metrics", "bt-training", "evaluation-report"} <= artifact_keys(
        state.state_details.flow_run_id)

    trained = result.train
    assert trained is not None and trained.metrics["steps"] >= 2
    assert (trained.model_dir / "reward_stats.json").is_file()
    evaluation = result.evaluation
    assert [m.label for m in evaluation.models] == ["base (fresh head)", "bradley-terry"]
    assert evaluation.metric == "accuracy"
    assert {m.evaluation.backend for m in evaluation.models} == {"bradley-terry"}
    assert evaluation.decision is not None
    assert evaluation.decision.incumbent == "base model"
    assert len(read_decisions(art / "registry" / "tiny-bt")) == 1
    report = evaluation.report_path.read_text()
    assert TITLE in report and "| bradley-terry | trained |" in report
    assert "| base (fresh head) | fresh (seeded) |" in report

    assert bt_main([str(config), "--artifacts-dir", str(art), "--ray-address",
                    cluster.dashboard_url]) == 0
    assert "skipped: nothing changed since run" in capsys.readouterr().out
    assert len(read_decisions(art / "registry" / "tiny-bt")) == 1
