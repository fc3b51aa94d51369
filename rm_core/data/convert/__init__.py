"""Converters: source rows -> DataSample tables, registered by name.

A new dataset family is one module that registers its converters here plus a config
that names one; flows never change. Converters work on whole Arrow batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from rm_core.config import DataConfig
from rm_core.data.coerce import Kind
from rm_core.data.schema import TaskCategory
from rm_core.errors import ConfigError


class RowHashes(NamedTuple):
    """uint64 identities of each source row, from one hashing of its texts."""

    group: np.ndarray  # the normalised prompt: the split keeps a group on one side
    pair: np.ndarray  # prompt + response(s): duplicates, and the sample ids


class Converter(Protocol):
    """What the data stage needs from a dataset family."""

    task_category: TaskCategory
    kinds: dict[str, Kind]
    labels: tuple[str, ...]
    samples_per_row: int
    sides: tuple[str, ...]  # the response fields as the source names them, for reasons

    def features(self, batch: pa.Table) -> pd.DataFrame:
        """Per-row values the validation suite of `task_category` checks."""

    def hashes(self, batch: pa.Table) -> RowHashes:
        """Prompt-group and (prompt, response(s)) hashes of each row."""

    def to_samples(self, batch: pa.Table, pair_hashes: np.ndarray | None = None) -> pa.Table:
        """DataSample table of valid rows (`pair_hashes`: their `hashes().pair`, if known)."""


ConverterFactory = Callable[[DataConfig], Converter]
_REGISTRY: dict[str, ConverterFactory] = {}


def register(name: str) -> Callable[[ConverterFactory], ConverterFactory]:
    """Register a converter factory under `name` (the config's `data.converter`)."""

    def decorate(factory: ConverterFactory) -> ConverterFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def get_converter(config: DataConfig) -> Converter:
    """The converter named by `config.converter`, built with its options."""
    _load_builtin()
    factory = _REGISTRY.get(config.converter)
    if factory is None:
        raise ConfigError(
            f"unknown converter {config.converter!r}; registered: {sorted(_REGISTRY)}"
        )
    return factory(config)


def _load_builtin() -> None:
    from rm_core.data.convert import helpsteer2, pairs  # noqa: F401  (register on import)
