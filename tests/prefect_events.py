"""What a run recorded on the Prefect server, read back through its API: artifacts, and
asset lineage from materialization events (Prefect 3.8's open-source server has no asset
API)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

Edges = dict[str, set[str]]


def asset_graph(under: Path, since: datetime | None = None) -> Edges:
    """Asset key -> the keys it was made from, for the assets whose key names a path
    under `under` (file://...), from the events since `since` (default: the last hour)."""
    since = since or datetime.now(UTC) - timedelta(hours=1)

    async def read() -> list[dict]:
        query = {"filter": {"event": {"name": ["prefect.asset.materialization.succeeded"]},
                            "resource": {"id_prefix": [f"file://{under}"]},
                            "occurred": {"since": since.isoformat()}}, "limit": 50}
        async with get_client() as client:
            response = await client.request("POST", "/events/filter", json=query)
        return response.json()["events"]

    graph: Edges = {}
    for event in asyncio.run(read()):
        graph[event["resource"]["prefect.resource.id"]] = {
            related["prefect.resource.id"] for related in event["related"]
            if related.get("prefect.resource.role") == "asset"}
    return graph


def artifacts_of(flow_run_id: UUID) -> dict[str, str]:
    """Key -> data of the keyed artifacts a flow run created."""

    async def read() -> dict[str, str]:
        in_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        async with get_client() as client:
            artifacts = await client.read_artifacts(flow_run_filter=in_run)
        return {a.key: a.data for a in artifacts if a.key}

    return asyncio.run(read())
