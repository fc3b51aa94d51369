"""Asset lineage as the Prefect server records it: materialization events, read back
through the events API (Prefect 3.8's open-source server has no asset API)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect.client.orchestration import get_client

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
