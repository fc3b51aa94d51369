"""Benchmark items in one shape for the three benchmarks, and the rows that did not fit.

Every benchmark item is a prompt with candidate responses, the first `n_correct` of
which are the correct (chosen) ones. What differs per benchmark is only which responses
are compared and how the comparisons add up (`rm_core.benchmarks.scoring`):

* RewardBench 2: `chosen` then `rejected`; `group` is the subset (Factuality, Focus,
  Math, Precise IF, Safety, Ties), `id` the dataset's (`ref:<n>` / `tied:<n>` in Ties).
* RM-Bench: the three chosen then the three rejected responses, each triple in the
  order concise, detailed, detailed markdown; `group` is the domain (chat, code, math,
  safety-refuse, safety-response).
* JudgeBench: `[response_A, response_B]` reordered so the labelled winner comes first,
  `first_is_a` remembering the original order; `group` is the pair's `source`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rm_core.errors import RmPipelineError

REWARDBENCH2 = "rewardbench2"
RM_BENCH = "rm-bench"
JUDGEBENCH = "judgebench"
BENCHMARKS = (REWARDBENCH2, RM_BENCH, JUDGEBENCH)
ITEMS_FILE = "items.json"
TIES_SUBSET = "Ties"  # RewardBench 2's subset scored from absolute ratings


class BenchmarkError(RmPipelineError):
    """A benchmark name, source or file cannot be used as given."""


class HubUnavailable(BenchmarkError):
    """The benchmark's Hugging Face dataset could not be loaded: worth retrying later."""


def check_names(names: list[str]) -> list[str]:
    """The names, each a known benchmark; an unknown one is an error listing the known."""
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise BenchmarkError(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    if not names:
        raise BenchmarkError(f"no benchmark given; known: {', '.join(BENCHMARKS)}")
    return list(dict.fromkeys(names))


class BenchmarkItem(BaseModel):
    """One prompt and its candidates, correct ones first."""

    model_config = ConfigDict(frozen=True)

    id: str
    group: str
    prompt: str
    responses: list[str]
    n_correct: int = Field(ge=1)
    first_is_a: bool = True  # JudgeBench: the winner was response_A in the source

    def comparisons(self) -> list[tuple[int, int]]:
        """(correct, incorrect) response index pairs: every correct against every
        incorrect one (RM-Bench's 3x3 matrix is exactly this, row-major)."""
        correct = range(self.n_correct)
        return [(c, r) for c in correct for r in range(self.n_correct, len(self.responses))]


class Quarantined(BaseModel):
    """A source row that does not fit the benchmark's schema, and why."""

    file: str
    row: int
    field: str
    reason: str


class BenchmarkInfo(BaseModel):
    """What a report says about a benchmark read: its source and how many rows were used."""

    name: str
    origin: str
    items: int
    total_rows: int
    quarantined: int


class BenchmarkSet(BaseModel):
    """A benchmark's usable items (after sampling) and the rows kept out."""

    name: str
    origin: str  # where the rows came from: a file or `huggingface:<dataset>:<split>`
    items: list[BenchmarkItem]
    quarantined: list[Quarantined] = []
    total_rows: int  # rows read before quarantine and sampling

    def info(self) -> BenchmarkInfo:
        return BenchmarkInfo(name=self.name, origin=self.origin, items=len(self.items),
                             total_rows=self.total_rows, quarantined=len(self.quarantined))

    def fingerprint(self) -> str:
        """sha256 of the items as judged: the cache key's benchmark part."""
        return hashlib.sha256(self.items_json().encode("utf-8")).hexdigest()

    def items_json(self) -> str:
        return json.dumps({"name": self.name, "items": [i.model_dump() for i in self.items]},
                          sort_keys=True, ensure_ascii=False)


def write_items(benchmark: BenchmarkSet, root: Path) -> Path:
    """The items file under `<root>/bench-items/<fingerprint>/`, written once."""
    folder = root / "bench-items" / benchmark.fingerprint()[:24]
    path = folder / ITEMS_FILE
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{ITEMS_FILE}.tmp"
        temporary.write_text(benchmark.items_json(), encoding="utf-8")
        temporary.replace(path)
    return path


def read_items(path: Path) -> tuple[str, list[BenchmarkItem]]:
    """(benchmark name, items) of an items file."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return payload["name"], [BenchmarkItem.model_validate(i) for i in payload["items"]]
