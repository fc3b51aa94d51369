"""Lineage as Prefect assets: source data -> verl dataset -> checkpoints -> champion.

Each product of a run is recorded as a materialized asset with the assets it was made
from (`prefect.assets.materialize` with `asset_deps`). Prefect 3.8's open-source server
has no asset pages: the lineage lives in its events (`prefect.asset.materialization.succeeded`,
the upstream assets as related resources), which the UI's event feed shows and
`POST /api/events/filter` returns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect.assets import Asset, AssetProperties, add_asset_metadata, materialize
from prefect.cache_policies import NO_CACHE

from rm_core.data.sources import FetchedSource

# Characters Prefect refuses in an asset key (prefect.types.names).
_REFUSED = re.compile(r"[\s#?&%\"'<>\[\]{}|\\^`]")


def asset_key(scheme: str, path: str) -> str:
    return f"{scheme}://{_REFUSED.sub('-', path)}"


def file_asset(path: Path) -> str:
    return asset_key("file", str(path.resolve()))


def source_asset(fetched: FetchedSource) -> str:
    """A hub dataset by name (its content hash goes in the metadata), a file by path."""
    kind, _, where = fetched.origin.partition(":")
    if kind == "huggingface":
        return asset_key("hf", "datasets/" + where.split("@")[0].rstrip("/"))
    return file_asset(Path(where))


def record_asset(key: str, name: str, upstream: list[str],
                 metadata: dict[str, Any] | None = None) -> None:
    """Record `key` (called `name` in the UI) as made from `upstream`, now."""

    def recorded() -> None:
        add_asset_metadata(key, metadata or {})

    task = materialize(Asset(key=key, properties=AssetProperties(name=name)),
                       asset_deps=upstream, name=f"asset-{name}", cache_policy=NO_CACHE)(recorded)
    task()


def record_checkpoints(experiment: str, steps: dict[int, Path], dataset: Path) -> None:
    """Each checkpoint of a run as made from the verl dataset it trained on."""
    for step, folder in sorted(steps.items()):
        record_asset(file_asset(folder), f"{experiment}-step-{step}", [file_asset(dataset)])


def record_champion(experiment: str, registry: Path, source: Path,
                    metrics: dict[str, Any]) -> None:
    """The promoted champion as made from the checkpoint (or model folder) it copies."""
    record_asset(file_asset(registry / "champion"), f"{experiment}-champion",
                 [file_asset(source)], metrics)
