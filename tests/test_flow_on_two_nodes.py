"""pointwise-train on a REAL two-node cluster (tests/ray_nodes.py), run by a flow-run
process that cannot import a model library (tests/without_model_libs.py).

The head offers no CPUs and only the joined node offers `model_node`, so every stage
that loads a model must run as a Ray job there, and its manifest must say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.settings import PREFECT_API_URL
from ray_nodes import TwoNodes
from tiny_training import TINY_GRPO
from without_model_libs import PROOF

from rm_core.cluster.jobs import AUTH_TOKEN_PATH_VAR, AUTH_TOKEN_VAR
from rm_core.config import RAY_ADDRESS_VAR, RAY_TOKEN_PATH_VAR, REPO_ROOT

pytestmark = pytest.mark.usefixtures("prefect_harness")

RUNNER = Path(__file__).with_name("without_model_libs.py")
MODEL_STAGES = {"prepare-model", "learning-signal", "merge", "judge"}
# Would point the flow at another cluster or token than the test's.
FOREIGN_VARS = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", AUTH_TOKEN_VAR, RAY_ADDRESS_VAR,
                RAY_TOKEN_PATH_VAR)
# Only guards against a hang: the run ends on its own (about 5 minutes on two cores).
HANG_GUARD_S = 1800


def write_config(path: Path, nodes: TwoNodes) -> Path:
    config = {
        "name": "two-nodes",
        "data": {"template": {"answer_prefix": "<score>"}},
        "training": {"profile": "cpu", "model_path": "tiny-qwen2", "grpo": TINY_GRPO,
                     "save_freq": 1, "test_freq": -1, "val_before_train": False,
                     "wandb": {"enabled": False}},
        "evaluation": {"limit": 4, "n_resamples": 100},
        "ray": {"address": nodes.head.dashboard_url,
                "model_jobs": {"num_cpus": 1, "resources": {"model_node": 1}}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def flow_env(nodes: TwoNodes) -> dict[str, str]:
    """The test's environment with this session's Prefect server and the cluster's token
    file, as an operator would give an orchestrator an external cluster's token."""
    env = {name: value for name, value in os.environ.items() if name not in FOREIGN_VARS}
    env.update({"PYTHONPATH": str(REPO_ROOT), "PREFECT_API_URL": PREFECT_API_URL.value(),
                AUTH_TOKEN_PATH_VAR: str(nodes.head.token_path)})
    return env


def manifest_results(pattern: str, root: Path) -> dict[Path, dict[str, Any]]:
    """The `result` of every manifest matching `pattern` under `root`."""
    return {path.parent: json.loads(path.read_text())["result"]
            for path in sorted(root.glob(f"{pattern}/_SUCCESS.json"))}


def flow_run_states(flow_name: str, artifacts_dir: Path) -> list[str]:
    """States of the session server's runs of `flow_name` that wrote to `artifacts_dir`."""

    async def read() -> list[str]:
        named = FlowFilter(name=FlowFilterName(any_=[flow_name]))
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_filter=named)
        return [run.state.name for run in runs
                if run.parameters.get("artifacts_dir") == str(artifacts_dir)]

    return asyncio.run(read())


def test_every_model_stage_runs_on_the_model_node_and_none_in_the_flow_process(
    two_nodes: TwoNodes, tmp_path: Path
) -> None:
    art = tmp_path / "art"
    command = [sys.executable, str(RUNNER), "flows.pointwise_train",
               str(write_config(tmp_path / "two-nodes.yaml", two_nodes)),
               "--artifacts-dir", str(art)]
    run = subprocess.run(command, cwd=REPO_ROOT, env=flow_env(two_nodes), capture_output=True,
                         text=True, timeout=HANG_GUARD_S, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert f"{PROOF} import of torch refused" in run.stdout
    assert "trained 2 steps" in run.stdout
    assert flow_run_states("pointwise-train", art) == ["Completed"]

    node = two_nodes.node_id
    jobs = manifest_results("jobs/*/*", art)
    assert {job["ray_stage"] for job in jobs.values()} == MODEL_STAGES
    outputs = {**manifest_results("models/tiny-qwen2", art), **manifest_results("merge/*", art),
               **manifest_results("eval/*", art)}
    assert sorted(path.parent.name for path in outputs) == ["eval"] * 3 + ["merge"] * 2 + ["models"]
    trains = manifest_results("train/*", art)
    assert len(trains) == 1
    ran_on = {str(path): result.get("ray_node_id")
              for path, result in {**jobs, **outputs, **trains}.items()}
    assert ran_on == dict.fromkeys(ran_on, node), f"the model node is {node}"
