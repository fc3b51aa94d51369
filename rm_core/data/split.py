"""Leak-free train/val split: whole prompt groups, stratified by label.

Every sample of a prompt (normalised: case and whitespace) goes to the same split, so
the judge is never validated on a prompt it trained on. Within each stratum (the
group's most common label) the groups with the smallest seeded hash go to val: the
split is deterministic for a seed and stays stable when new prompts arrive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rm_core.data.convert.arrow_text import pairwise_winner

TRAIN, VAL = "train", "val"
# Strata as text, e.g. numpy object arrays, or pandas string arrays (never converted again).
Labels = np.ndarray | pd.api.extensions.ExtensionArray


def strata(outputs: pa.Array, task_category: str, dimension: str) -> pa.Array:
    """Label each sample is stratified by, as text: the trained score, or the winning position."""
    first = pc.list_element(outputs, 0)
    labels = pc.struct_field(first, "label")
    if task_category == "pointwise":
        return pc.cast(pc.struct_field(labels, dimension), pa.string())
    return pairwise_winner(labels)


def assign(groups: np.ndarray, labels: Labels, val_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the samples that go to val."""
    frame = pd.DataFrame({"group": groups, "label": labels})
    # Ties between labels of a group go to the smallest label, not the first row seen,
    # so reordering the source rows cannot move a group to another stratum.
    majority = (
        frame.value_counts(["group", "label"], sort=False)
        .reset_index(name="count")
        .sort_values(["count", "label"], ascending=[False, True], kind="stable")
        .drop_duplicates("group")
        .set_index("group")["label"]
    )
    order = pd.DataFrame(
        {"label": majority.to_numpy(), "score": _mix(majority.index.to_numpy(), seed)},
        index=majority.index,
    ).sort_values(["label", "score"], kind="stable")
    rank = order.groupby("label").cumcount().to_numpy()
    size = order.groupby("label")["score"].transform("size").to_numpy()
    in_val = rank < np.round(size * val_fraction)
    in_val = _keep_both_sides(in_val, order["score"].to_numpy())
    val_groups = order.index.to_numpy()[in_val]
    return np.isin(groups, val_groups)


def _keep_both_sides(in_val: np.ndarray, score: np.ndarray) -> np.ndarray:
    """With two or more groups, neither split may end up empty."""
    if len(in_val) < 2:
        return in_val
    if not in_val.any():
        in_val = in_val.copy()
        in_val[np.argmin(score)] = True
    elif in_val.all():
        in_val = in_val.copy()
        in_val[np.argmax(score)] = False
    return in_val


def _mix(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of each value xor the seed: a seeded, order-free uniform score."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def label_counts(labels: Labels, in_val: np.ndarray) -> dict[str, dict[str, int]]:
    """Samples per label per split, labels in sorted order."""
    frame = pd.DataFrame({"label": labels, "split": np.where(in_val, VAL, TRAIN)})
    table = frame.value_counts(["label", "split"]).unstack(fill_value=0)
    return {
        str(label): {split: int(table.loc[label].get(split, 0)) for split in (TRAIN, VAL)}
        for label in sorted(table.index, key=str)
    }
