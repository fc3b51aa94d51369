"""Placement of Ray jobs on a REAL two-node cluster on this machine (tests/ray_nodes.py).

The head offers no CPUs; the joined node has CPUs and `model_node: 1`, as a GPU node
would in production. The session's one cluster (the `two_nodes` fixture in conftest.py)
serves these tests and the flow's; every test uses its own submission ids.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ray.job_submission import JobStatus, JobSubmissionClient
from ray_nodes import TwoNodes, alive_nodes

from rm_core.cluster.jobs import job_client

PENDING_MESSAGE = "Job has not started yet. It may be waiting for resources"


def _submit(nodes: TwoNodes, **options: Any) -> tuple[JobSubmissionClient, str]:
    client = job_client(nodes.head.dashboard_url, nodes.head.auth_env())
    submission_id = f"multinode-{uuid.uuid4().hex[:8]}"
    client.submit_job(entrypoint="python -c \"print('hi')\"", submission_id=submission_id,
                      **options)
    return client, submission_id


def _wait_terminal(client: JobSubmissionClient, submission_id: str,
                   hang_guard_s: float = 120) -> JobStatus:
    """The job's final status; the deadline only guards against a hang."""
    deadline = time.monotonic() + hang_guard_s
    while not (status := client.get_job_status(submission_id)).is_terminal():
        assert time.monotonic() < deadline, f"{submission_id} still {status}"
        time.sleep(0.3)
    return status


def test_head_has_no_cpu_and_the_node_joined(two_nodes: TwoNodes) -> None:
    nodes = alive_nodes(two_nodes.head)
    assert len(nodes) == 2
    head = next(node for node in nodes if node["is_head_node"])
    worker = next(node for node in nodes if not node["is_head_node"])
    # Ray leaves a zero resource out rather than listing CPU: 0.
    assert head["resources_total"].get("CPU", 0) == 0
    assert worker["node_id"] == two_nodes.node_id
    assert two_nodes.resources["CPU"] == two_nodes.node.num_cpus > 0
    assert two_nodes.resources["model_node"] == 1


def test_custom_resource_job_runs_on_the_joined_node(two_nodes: TwoNodes) -> None:
    client, submission_id = _submit(two_nodes, entrypoint_resources={"model_node": 1})
    assert _wait_terminal(client, submission_id) == JobStatus.SUCCEEDED
    info = client.get_job_info(submission_id)
    assert info.driver_node_id == two_nodes.node_id
    # Logs are read through the joined node's dashboard agent, on the port we gave it.
    agent_port = two_nodes.node.ports["dashboard-agent-listen-port"]
    assert info.driver_agent_http_address.endswith(f":{agent_port}")
    assert "hi" in client.get_job_logs(submission_id).splitlines()


def test_cpu_job_lands_on_the_joined_node(two_nodes: TwoNodes) -> None:
    client, submission_id = _submit(two_nodes, entrypoint_num_cpus=1)
    assert _wait_terminal(client, submission_id) == JobStatus.SUCCEEDED
    assert client.get_job_info(submission_id).driver_node_id == two_nodes.node_id


def _run_a_job(nodes: TwoNodes) -> None:
    client, submission_id = _submit(nodes, entrypoint_resources={"model_node": 1})
    assert _wait_terminal(client, submission_id) == JobStatus.SUCCEEDED


def _assert_stuck(client: JobSubmissionClient, submission_id: str) -> None:
    info = client.get_job_info(submission_id)
    assert info.status == JobStatus.PENDING
    assert info.message.startswith(PENDING_MESSAGE)
    assert info.driver_node_id is None
    assert client.get_job_logs(submission_id) == ""


def test_unknown_resource_stays_pending_even_when_stopped(two_nodes: TwoNodes) -> None:
    """Ray accepts a job no node can ever run and keeps it PENDING (until
    RAY_JOB_START_TIMEOUT_SECONDS, 900 s by default), and stop_job cannot end it: the
    product must refuse such a request before submitting it.

    Each check follows a job submitted later that ran to completion, so the scheduler
    has had its chance.
    """
    client, stuck = _submit(two_nodes, entrypoint_resources={"no_such_thing": 1})
    _run_a_job(two_nodes)
    _assert_stuck(client, stuck)
    assert client.stop_job(stuck) is True  # "the job was running", says Ray ...
    _run_a_job(two_nodes)
    _assert_stuck(client, stuck)  # ... but its supervisor never starts, so nothing stops
