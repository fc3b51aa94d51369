"""Read the three benchmarks from their real sources or from local files in the same schemas.

* RewardBench 2: `datasets.load_dataset("allenai/reward-bench-2", split="test")`; rows
  `{id, prompt, chosen: [..], rejected: [..], num_correct, total_completions, subset, ...}`.
* JudgeBench: `datasets.load_dataset("ScalerLab/JudgeBench", split="gpt")` (the split of
  GPT-4o response pairs the paper's headline uses; "claude" is the other); rows
  `{pair_id, original_id, source, question, response_model, response_A, response_B,
  label: "A>B" | "B>A"}`.
* RM-Bench: its repository's JSON files (github THU-KEG/RM-Bench `data/`), a list of
  `{id, subset, prompt, chosen: [3], rejected: [3], ...}`; the domain comes from the row's
  `domain` field (`total_dataset.json`) or the file name (`chat_filtered.json`). It is
  not on the hub, so it is always read from a file or a folder of such files.

Local files are `.json` (a list), `.jsonl` or `.parquet`. A row that does not fit is
quarantined with the file, row and field; the others are used.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from rm_core.benchmarks.items import (
    JUDGEBENCH,
    REWARDBENCH2,
    RM_BENCH,
    TIES_SUBSET,
    BenchmarkError,
    BenchmarkItem,
    BenchmarkSet,
    HubUnavailable,
    Quarantined,
    check_names,
)

HUB = {REWARDBENCH2: ("allenai/reward-bench-2", "test"),
       JUDGEBENCH: ("ScalerLab/JudgeBench", "gpt")}
RM_BENCH_DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")
RM_BENCH_STYLES = 3  # concise, detailed, detailed markdown
TIES_ID = re.compile(r"(ref|tied):\d+")
JUDGEBENCH_LABELS = ("A>B", "B>A")


class RowError(ValueError):
    """A row does not fit the schema: which field and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


Parser = Callable[[dict[str, Any], str], BenchmarkItem]


# --- fields -----------------------------------------------------------------------------


def _text(row: dict[str, Any], field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RowError(field, f"expected a non-empty string, got {_show(value)}")
    return value


def _identifier(row: dict[str, Any], field: str) -> str:
    value = row.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise RowError(field, f"expected a string or integer id, got {_show(value)}")
    return str(value)


def _texts(row: dict[str, Any], field: str, size: int | None = None) -> list[str]:
    value = row.get(field)
    if not isinstance(value, list) or not value:
        raise RowError(field, f"expected a non-empty list of strings, got {_show(value)}")
    if size is not None and len(value) != size:
        raise RowError(field, f"expected exactly {size} responses, got {len(value)}")
    bad = [i for i, text in enumerate(value) if not isinstance(text, str) or not text.strip()]
    if bad:
        raise RowError(field, f"entries {bad} are not non-empty strings")
    return list(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- one row per benchmark ---------------------------------------------------------------


def rewardbench2_item(row: dict[str, Any], default_group: str) -> BenchmarkItem:
    """A best-of-N item: chosen first, then rejected."""
    item_id, subset = _identifier(row, "id"), _text(row, "subset")
    chosen, rejected = _texts(row, "chosen"), _texts(row, "rejected")
    if row.get("num_correct") is not None and row["num_correct"] != len(chosen):
        raise RowError("num_correct", f"is {_show(row['num_correct'])} but chosen holds "
                                      f"{len(chosen)} responses")
    total = row.get("total_completions")
    if total is not None and total != len(chosen) + len(rejected):
        raise RowError("total_completions", f"is {_show(total)} but chosen + rejected hold "
                                            f"{len(chosen) + len(rejected)} responses")
    if subset == TIES_SUBSET and not TIES_ID.fullmatch(item_id):
        raise RowError("id", f"a Ties id is 'ref:<n>' or 'tied:<n>', got {_show(item_id)}")
    return BenchmarkItem(id=item_id, group=subset, prompt=_text(row, "prompt"),
                         responses=chosen + rejected, n_correct=len(chosen))


def rm_bench_item(row: dict[str, Any], default_group: str) -> BenchmarkItem:
    """Three chosen then three rejected responses, concise / detailed / markdown each."""
    domain = row.get("domain", default_group)
    if domain not in RM_BENCH_DOMAINS:
        raise RowError("domain", f"expected one of {RM_BENCH_DOMAINS} (a `domain` field or a "
                                 f"file named <domain>_filtered.json), got {_show(domain)}")
    chosen = _texts(row, "chosen", RM_BENCH_STYLES)
    rejected = _texts(row, "rejected", RM_BENCH_STYLES)
    return BenchmarkItem(id=_identifier(row, "id"), group=domain, prompt=_text(row, "prompt"),
                         responses=chosen + rejected, n_correct=RM_BENCH_STYLES)


def judgebench_item(row: dict[str, Any], default_group: str) -> BenchmarkItem:
    """The labelled winner first; `first_is_a` keeps the source's order."""
    label = row.get("label")
    if label not in JUDGEBENCH_LABELS:
        raise RowError("label", f"expected one of {JUDGEBENCH_LABELS}, got {_show(label)}")
    a, b = _text(row, "response_A"), _text(row, "response_B")
    first_is_a = label == "A>B"
    return BenchmarkItem(id=_identifier(row, "pair_id"), group=_text(row, "source"),
                         prompt=_text(row, "question"),
                         responses=[a, b] if first_is_a else [b, a], n_correct=1,
                         first_is_a=first_is_a)


PARSERS: dict[str, Parser] = {REWARDBENCH2: rewardbench2_item, RM_BENCH: rm_bench_item,
                              JUDGEBENCH: judgebench_item}


# --- sources ----------------------------------------------------------------------------


def _file_rows(path: Path) -> Iterator[Any]:
    """The rows of a .json list, .jsonl or .parquet file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(rows, list):
                raise BenchmarkError(f"{path} is not a JSON list of rows")
            yield from rows
        elif suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    yield _json_line(line)
        elif suffix in (".parquet", ".pq"):
            yield from pq.read_table(path).to_pylist()
        else:
            raise BenchmarkError(f"{path}: expected a .json, .jsonl or .parquet file")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchmarkError(f"cannot read {path}: {exc}") from exc


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return RowError("(row)", f"not valid JSON: {exc.msg}")


def _local_files(name: str, path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".jsonl"))
        if not files:
            raise BenchmarkError(f"{path} holds no .json or .jsonl file for {name}")
        return files
    if not path.is_file():
        raise BenchmarkError(f"{name} source {path} does not exist")
    return [path]


def _hub_rows(name: str) -> list[dict[str, Any]]:
    import datasets

    dataset, split = HUB[name]
    try:
        return datasets.load_dataset(dataset, split=split).to_list()
    except Exception as exc:  # network, auth or schema: all mean "use a local file"
        raise HubUnavailable(
            f"could not load {name} from the Hugging Face hub ({dataset}, split {split}): "
            f"{type(exc).__name__}: {exc}; give a local file in the same schema instead"
        ) from exc


def _domain_of(path: Path) -> str:
    """RM-Bench's `<domain>_filtered.json` naming; empty when the name says nothing."""
    stem = path.stem.removesuffix("_filtered")
    return stem if stem in RM_BENCH_DOMAINS else ""


def _parse(name: str, rows: Iterator[Any], origin: str, default_group: str,
           seen: set[str], items: list[BenchmarkItem], kept_out: list[Quarantined]) -> int:
    parser, count = PARSERS[name], 0
    for index, row in enumerate(rows):
        count += 1
        try:
            if isinstance(row, RowError):
                raise row
            if not isinstance(row, dict):
                raise RowError("(row)", f"expected an object, got {type(row).__name__}")
            item = parser(row, default_group)
            if item.id in seen:
                raise RowError("id", f"duplicate id {_show(item.id)}")
        except RowError as error:
            kept_out.append(Quarantined(file=origin, row=index, field=error.field,
                                        reason=error.reason))
            continue
        seen.add(item.id)
        items.append(item)
    return count


def sample(items: list[BenchmarkItem], limit: int | None, seed: int) -> list[BenchmarkItem]:
    """`limit` items drawn with `seed`, in source order (all when None): a quick run that
    still spans the subsets, which the first N rows would not."""
    if limit is None or limit >= len(items):
        return items
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def load_benchmark(name: str, source: str | Path | None = None, limit: int | None = None,
                   seed: int = 0) -> BenchmarkSet:
    """The benchmark's items from `source` (a file or folder; None: its hub dataset)."""
    check_names([name])
    items: list[BenchmarkItem] = []
    kept_out: list[Quarantined] = []
    seen: set[str] = set()
    total = 0
    if source is None:
        if name not in HUB:
            raise BenchmarkError(f"{name} is not on the Hugging Face hub: give its JSON files "
                                 "(THU-KEG/RM-Bench data/*.json) as the source")
        origin = "huggingface:{}:{}".format(*HUB[name])
        total = _parse(name, iter(_hub_rows(name)), origin, "", seen, items, kept_out)
    else:
        path = Path(source)
        origin = str(path)
        for file in _local_files(name, path):
            total += _parse(name, _file_rows(file), str(file), _domain_of(file), seen, items,
                            kept_out)
    if not items:
        raise BenchmarkError(f"{name}: none of the {total} rows of {origin} fits the schema "
                             f"(first problem: {kept_out[0].reason if kept_out else 'no rows'})")
    return BenchmarkSet(name=name, origin=origin, items=sample(items, limit, seed),
                        quarantined=kept_out, total_rows=total)
