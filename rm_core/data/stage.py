"""The data stage: fetched source -> validated DataSamples -> leak-free split -> verl rows.

Each step is a pure function of its inputs whose output directory is named by a hash
of those inputs, the relevant config and the code version (`rm_core.artifacts`). A step
whose output is complete returns the recorded result without touching a file; a missing
or damaged output is rebuilt. Rows stream in Arrow batches, so memory stays bounded.

The steps live in `ingest_stage`, `split_stage` and `verl_stage`, each a `DataStage`
(`stage_io`: its name, its key and its builder; the cached-or-build logic is there once);
this module is the one place callers import them from.
"""

from __future__ import annotations

from rm_core.data.ingest_stage import IngestResult, ingest, ingest_key, require_quality
from rm_core.data.split_stage import SplitReport, SplitResult, split, split_key
from rm_core.data.stage_io import Progress
from rm_core.data.verl_stage import VerlResult, judge_kind, template_for, to_verl, verl_key

__all__ = [
    "IngestResult",
    "Progress",
    "SplitReport",
    "SplitResult",
    "VerlResult",
    "ingest",
    "ingest_key",
    "judge_kind",
    "require_quality",
    "split",
    "split_key",
    "template_for",
    "to_verl",
    "verl_key",
]
