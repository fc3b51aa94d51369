"""Benchmark of the data stage (fetch -> ingest -> split -> to_verl) against a plain copy.

Run on demand, it is not a test:

    python benchmarks/data_stage.py [--rows 1000000] [--bad-fraction 0.02]
                                    [--work-dir DIR] [--seed 0]

It writes a synthetic HelpSteer2-like source parquet, copies it with pyarrow (the
baseline: the least any stage that reads and writes every row must cost), then runs the
data stage exactly as the flow does, without Prefect, into a fresh artifacts directory.
It prints a markdown table of times, throughput and peak memory against the targets and
checks that the row counts add up.

Every phase runs in a child process of this lean parent (standard library only): the
peak RSS of a phase is that child's own `ru_maxrss`, which the kernel returns per child
through `os.wait4` (`getrusage(RUSAGE_CHILDREN)` would be the maximum over every child,
the generator included; a child also inherits the high-water mark of the process it is
forked from, hence a parent that never holds data).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
BAD_KINDS = (
    "empty_prompt",
    "empty_response",
    "label_out_of_range",
    "fractional_label",
    "null_label",
    "duplicate_pair",
)
STEPS = ("fetch", "ingest", "split", "to_verl")
CHUNK_ROWS = 250_000
BATCH_ROWS = 100_000  # DataConfig's default batch_rows, used by the baseline as well
RATIO_TARGET = 3.0
RSS_TARGET_MB = 2048.0


def _peak_mb() -> float:
    """Peak RSS of this process so far, in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _clock() -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all its threads) now."""
    return time.perf_counter(), time.process_time()


def _since(started: tuple[float, float]) -> dict[str, float]:
    """Wall and CPU seconds since `started`, and the peak RSS so far."""
    wall, cpu = _clock()
    return {"seconds": wall - started[0], "cpu": cpu - started[1], "peak_mb": _peak_mb()}


# --------------------------------------------------------------------------- generation


def _text_block(rng: Any, size: int) -> bytes:
    """About `size` bytes of ASCII words with varied whitespace, to cut texts from."""
    import numpy as np

    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    vocab = np.array(
        [letters[rng.integers(0, 26, n)].tobytes().decode() for n in rng.integers(1, 12, 5000)],
        dtype=object,
    )
    words = vocab[rng.integers(0, len(vocab), size // 6)]
    separators = np.array([" ", " ", " ", " ", " ", " ", " ", "  ", "\n", ", "], dtype=object)
    spaced = np.empty(2 * len(words), dtype=object)
    spaced[0::2] = words
    spaced[1::2] = separators[rng.integers(0, len(separators), len(words))]
    return "".join(spaced.tolist()).encode("ascii")


def _texts(rng: Any, label: str, ids: Any, lengths: Any, block: bytes) -> Any:
    """Per id the text `label id: ` then filler from `block`, `lengths` characters in all."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    prefix = pc.binary_join_element_wise(label, pc.cast(pa.array(ids), pa.string()), ": ", "")
    body_lengths = np.maximum(lengths - pc.utf8_length(prefix).to_numpy(), 1)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(body_lengths, out=offsets[1:])
    total = int(offsets[-1])
    start = int(rng.integers(0, len(block)))
    data = (block * ((start + total) // len(block) + 1))[start : start + total]
    body = pa.Array.from_buffers(
        pa.string(), len(ids), [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )
    return pc.binary_join_element_wise(prefix, body, "")


def _chunk(
    rng: Any, first_row: int, count: int, pool: Any, block: bytes, bad_fraction: float
) -> tuple[Any, dict[str, int]]:
    """`count` source rows, about `bad_fraction` of them bad, spread over BAD_KINDS."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    positions = np.arange(count)
    prompt_ids = rng.integers(0, len(pool), count)
    labels = rng.integers(0, 5, (count, len(LABELS))).astype(np.float64)
    nulls = np.zeros(labels.shape, dtype=bool)
    bad = rng.choice(count, min(round(count * bad_fraction), count), replace=False)
    by_kind = {kind: bad[i :: len(BAD_KINDS)] for i, kind in enumerate(BAD_KINDS)}
    # A duplicate repeats the prompt and response of a distinct good row of the chunk, so
    # each pair quarantines exactly one row (whichever of the two comes second).
    good = np.setdiff1d(positions, bad)
    duplicates = by_kind["duplicate_pair"][: len(good)]
    by_kind["duplicate_pair"] = duplicates
    originals = rng.choice(good, len(duplicates), replace=False)
    prompt_ids[duplicates] = prompt_ids[originals]
    response_of = positions.copy()
    response_of[duplicates] = originals
    for kind, value in (("label_out_of_range", None), ("fractional_label", 2.5)):
        rows = by_kind[kind]
        cols = rng.integers(0, len(LABELS), len(rows))
        labels[rows, cols] = rng.choice([5.0, -1.0], len(rows)) if value is None else value
    nulls[by_kind["null_label"], rng.integers(0, len(LABELS), len(by_kind["null_label"]))] = True

    def blank(texts: pa.Array, rows: np.ndarray) -> pa.Array:
        mask = np.zeros(count, dtype=bool)
        mask[rows] = True
        return pc.if_else(pa.array(mask), "", texts)

    responses = _texts(
        rng, "Answer ", positions + first_row, rng.integers(100, 1501, count), block
    ).take(pa.array(response_of))
    columns = {
        "prompt": blank(pool.take(pa.array(prompt_ids)), by_kind["empty_prompt"]),
        "response": blank(responses, by_kind["empty_response"]),
    }
    for j, name in enumerate(LABELS):
        columns[name] = pa.array(labels[:, j], mask=nulls[:, j])
    return pa.table(columns), {kind: len(rows) for kind, rows in by_kind.items()}


def generate(rows: int, bad_fraction: float, seed: int, target: Path) -> dict[str, Any]:
    """Write the synthetic source parquet (pyarrow defaults); return what was injected."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = _clock()
    rng = np.random.default_rng(seed)
    block = _text_block(rng, 8 << 20)
    pool_size = max(rows // 3, 1)
    pool = _texts(rng, "Prompt ", np.arange(pool_size), rng.integers(50, 401, pool_size), block)
    chunks, injected = [], dict.fromkeys(BAD_KINDS, 0)
    for first in range(0, rows, CHUNK_ROWS):
        table, counts = _chunk(rng, first, min(CHUNK_ROWS, rows - first), pool, block,
                               bad_fraction)
        chunks.append(table)
        for kind, count in counts.items():
            injected[kind] += count
    pq.write_table(pa.concat_tables(chunks), target)
    return {
        **_since(started),
        "bytes": target.stat().st_size,
        "prompts": pool_size,
        "injected": injected,
    }


# ------------------------------------------------------------------------------ measured


def baseline(source: Path, target: Path) -> dict[str, Any]:
    """Copy the source parquet batch by batch with pyarrow: the floor of any stage."""
    import pyarrow.parquet as pq

    started = _clock()
    parquet = pq.ParquetFile(source)
    rows = 0
    with pq.ParquetWriter(target, parquet.schema_arrow) as writer:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            writer.write_batch(batch)
            rows += batch.num_rows
    return {**_since(started), "rows": rows}


def stage(source: Path, root: Path) -> dict[str, Any]:
    """fetch -> ingest -> split -> to_verl as the flow runs them; times and row counts."""
    sys.path.insert(0, str(REPO_ROOT))
    import pyarrow.parquet as pq

    from rm_core.config import DataConfig, SourceConfig
    from rm_core.data import sources
    from rm_core.data import stage as data_stage

    shutil.rmtree(root, ignore_errors=True)
    config = DataConfig(source=SourceConfig(kind="local", path=source))
    steps = {"imports": {"seconds": 0.0, "cpu": 0.0, "peak_mb": _peak_mb()}}
    started = now = _clock()
    fetched = sources.fetch(config.source, root)
    steps["fetch"], now = _since(now), _clock()
    ingested = data_stage.ingest(fetched, config, root)
    data_stage.require_quality(ingested)
    steps["ingest"], now = _since(now), _clock()
    split = data_stage.split(ingested, config, root)
    steps["split"], now = _since(now), _clock()
    verl = data_stage.to_verl(split, config, root)
    steps["to_verl"] = _since(now)
    steps["total"] = _since(started)

    def rows_in(path: Path) -> int:
        return pq.ParquetFile(path).metadata.num_rows

    return {
        "steps": steps,
        "source_rows": ingested.source_rows,
        "samples": rows_in(ingested.samples_path),
        "quarantined": rows_in(ingested.quarantine_path),
        "train": rows_in(split.train_path),
        "val": rows_in(split.val_path),
        "verl_train": rows_in(verl.train_path),
        "verl_val": rows_in(verl.val_path),
        "shared_prompts": split.report.shared_prompts,
    }


# ---------------------------------------------------------------------------- processes


def run_phase(phase: str, args: argparse.Namespace, work_dir: Path) -> tuple[dict[str, Any], float]:
    """Run `phase` in a child process; its result and its own peak RSS in MB."""
    result = work_dir / f"{phase}.json"
    result.unlink(missing_ok=True)
    command = [
        sys.executable, str(Path(__file__).resolve()), "--phase", phase,
        "--rows", str(args.rows), "--bad-fraction", str(args.bad_fraction),
        "--seed", str(args.seed), "--work-dir", str(work_dir),
    ]
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"phase {phase} failed with exit code {child.returncode}")
    return json.loads(result.read_text()), usage.ru_maxrss / 1024  # Linux: KiB


def child_main(args: argparse.Namespace) -> None:
    """Body of a child process: run one phase and write its result as JSON."""
    work_dir = args.work_dir
    source = work_dir / "source.parquet"
    if args.phase == "generate":
        result = generate(args.rows, args.bad_fraction, args.seed, source)
    elif args.phase == "baseline":
        result = baseline(source, work_dir / "baseline_copy.parquet")
    else:
        result = stage(source, work_dir / "artifacts")
    (work_dir / f"{args.phase}.json").write_text(json.dumps(result, indent=2))


# ------------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def table(args: argparse.Namespace, runs: dict[str, tuple[dict[str, Any], float]]) -> str:
    """The markdown table of the measurements against the targets."""
    (base, base_rss), (result, stage_rss) = runs["baseline"], runs["stage"]
    steps = result["steps"]
    total = steps["total"]
    ratio = total["seconds"] / base["seconds"]
    lines = [
        "| metric | value | target | result |",
        "| --- | ---: | ---: | --- |",
        f"| rows | {args.rows:,} | | |",
        f"| baseline: pyarrow batch copy, s (CPU s) | {base['seconds']:.2f} ({base['cpu']:.2f}) "
        "| | |",
        f"| stage total, s (CPU s) | {total['seconds']:.2f} ({total['cpu']:.2f}) | | |",
    ]
    lines += [f"| - {name}, s (CPU s) | {steps[name]['seconds']:.2f} ({steps[name]['cpu']:.2f}) "
              "| | |" for name in STEPS]
    lines += [
        f"| stage throughput (rows/s) | {args.rows / total['seconds']:,.0f} | | |",
        f"| stage / baseline time | {ratio:.2f}x | <= {RATIO_TARGET:g}x "
        f"| {verdict(ratio <= RATIO_TARGET)} |",
        f"| stage / baseline CPU time | {total['cpu'] / base['cpu']:.2f}x | | |",
        f"| peak RSS stage (MB) | {stage_rss:,.0f} | <= {RSS_TARGET_MB:,.0f} "
        f"| {verdict(stage_rss <= RSS_TARGET_MB)} |",
        f"| peak RSS baseline (MB) | {base_rss:,.0f} | | |",
    ]
    return "\n".join(lines)


def headlines(runs: dict[str, tuple[dict[str, Any], float]]) -> None:
    """The two targets as RESULT lines, for run_all.py's summary."""
    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.headline import headline

    (base, base_rss), (result, stage_rss) = runs["baseline"], runs["stage"]
    ratio = result["steps"]["total"]["seconds"] / base["seconds"]
    headline("data_stage", "stage / baseline time", f"{ratio:.2f}x",
             f"{base['seconds']:.2f} s pyarrow copy", f"<= {RATIO_TARGET:g}x",
             verdict(ratio <= RATIO_TARGET))
    headline("data_stage", "peak RSS of the stage", f"{stage_rss:,.0f} MB",
             f"{base_rss:,.0f} MB pyarrow copy", f"<= {RSS_TARGET_MB:,.0f} MB",
             verdict(stage_rss <= RSS_TARGET_MB))


def step_table(result: dict[str, Any]) -> str:
    """Per step: wall and CPU seconds, share of the stage, peak RSS by the step's end."""
    steps = result["steps"]
    total = steps["total"]["seconds"]
    lines = [
        "| step | s | CPU s | share | peak RSS by its end (MB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ("imports", *STEPS, "total"):
        step = steps[name]
        share = f"{step['seconds'] / total:.0%}" if name != "imports" else ""
        lines.append(f"| {name} | {step['seconds']:.2f} | {step['cpu']:.2f} | {share} "
                     f"| {step['peak_mb']:,.0f} |")
    return "\n".join(lines)


def count_checks(rows: int, result: dict[str, Any], injected: int) -> list[tuple[str, bool]]:
    """Each row-count identity with whether it holds."""
    r = result
    return [
        (f"samples + quarantined == rows: {r['samples']:,} + {r['quarantined']:,} "
         f"== {rows:,}", r["samples"] + r["quarantined"] == rows == r["source_rows"]),
        (f"quarantined == injected bad rows: {r['quarantined']:,} == {injected:,}",
         r["quarantined"] == injected),
        (f"train + val == samples: {r['train']:,} + {r['val']:,} == {r['samples']:,}",
         r["train"] + r["val"] == r["samples"]),
        (f"verl train + val == train + val: {r['verl_train']:,} + {r['verl_val']:,} "
         f"== {r['train'] + r['val']:,}",
         (r["verl_train"], r["verl_val"]) == (r["train"], r["val"])),
        (f"prompts shared by train and val: {r['shared_prompts']}", r["shared_prompts"] == 0),
    ]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; as the parent, run every phase in a child and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="source rows (default 1000000)")
    parser.add_argument("--bad-fraction", type=float, default=0.02,
                        help="share of bad rows injected (default 0.02)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the source and artifacts here (default: a temp dir, removed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator")
    parser.add_argument("--phase", choices=("generate", "baseline", "stage"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1 or not 0 <= args.bad_fraction <= 1:
        parser.error("--rows must be positive and --bad-fraction within 0..1")
    if args.phase:
        child_main(args)
        return 0
    load_before = os.getloadavg()[0]
    keep = args.work_dir is not None
    work_dir = (args.work_dir or Path(tempfile.mkdtemp(prefix="rm-bench-"))).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        runs = {phase: run_phase(phase, args, work_dir)
                for phase in ("generate", "baseline", "stage")}
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    generated, generate_rss = runs["generate"]
    injected = generated["injected"]
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load_before:.1f} before and "
          f"{os.getloadavg()[0]:.1f} after (other work on the machine inflates the wall times; "
          "CPU seconds are less affected)")
    print(f"source: {args.rows:,} rows, {generated['prompts']:,} prompts, "
          f"{generated['bytes'] / 2**20:,.0f} MiB parquet, generated in "
          f"{generated['seconds']:.1f} s (peak RSS {generate_rss:,.0f} MB); "
          f"bad rows injected: {sum(injected.values()):,} "
          f"({', '.join(f'{k} {v:,}' for k, v in injected.items())})\n")
    print(table(args, runs) + "\n")
    print(step_table(runs["stage"][0]) + "\n")
    checks = count_checks(args.rows, runs["stage"][0], sum(injected.values()))
    for text, ok in checks:
        print(f"- {'OK  ' if ok else 'FAIL'} {text}")
    headlines(runs)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
