"""Generic preference pairs: any source with `prompt`, `chosen` and `rejected` columns.

The chosen response is the better one, so each row is a HelpSteer2 preference row with
strength -1 (response_1 preferred): the same validation suite, both answer orders and
the same verl rows. Sources named differently map their columns with
`data.source.columns` (e.g. `{chosen: response_good, rejected: response_bad}`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from rm_core.config import DataConfig
from rm_core.data.convert import RowHashes, register
from rm_core.data.convert.helpsteer2 import PairwiseConverter


def _as_preference_rows(batch: pa.Table) -> pa.Table:
    """The batch with HelpSteer2's preference columns: chosen first, strength -1."""
    strength = pa.array(np.full(batch.num_rows, -1, dtype=np.int64))
    return (batch.append_column("response_1", batch.column("chosen"))
            .append_column("response_2", batch.column("rejected"))
            .append_column("preference_strength", strength))


class ChosenRejectedConverter(PairwiseConverter):
    """Two samples per (prompt, chosen, rejected) row, one per answer order."""

    source = "pairs"
    sides = ("chosen", "rejected")

    def __init__(self, config: DataConfig) -> None:
        self.kinds = {"prompt": "messages", "chosen": "text", "rejected": "text"}

    def features(self, batch: pa.Table) -> pd.DataFrame:
        return super().features(_as_preference_rows(batch))

    def hashes(self, batch: pa.Table) -> RowHashes:
        return super().hashes(_as_preference_rows(batch))

    def to_samples(self, batch: pa.Table, pair_hashes: np.ndarray | None = None) -> pa.Table:
        return super().to_samples(_as_preference_rows(batch), pair_hashes)


@register("chosen_rejected_pairwise")
def chosen_rejected_pairwise(config: DataConfig) -> ChosenRejectedConverter:
    """Local or hub preference pairs with prompt / chosen / rejected columns."""
    return ChosenRejectedConverter(config)
