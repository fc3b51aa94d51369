"""deployments/prefect.yaml names flows that exist, with parameters they accept."""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[1]


def test_every_deployment_entrypoint_loads_a_flow_taking_its_parameters(
    monkeypatch,
) -> None:
    monkeypatch.chdir(ROOT)
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    assert spec["deployments"]
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        accepted = inspect.signature(flow.fn).parameters
        assert set(deployment.get("parameters", {})) <= set(accepted), deployment["name"]
        for value in deployment.get("parameters", {}).values():
            if isinstance(value, str) and value.endswith(".yaml"):
                assert (ROOT / value).is_file()
