"""Evaluation throughput: batched judge generation against one prompt at a time.

Run on demand, it is not a test:

    python benchmarks/eval_throughput.py [--prompts 64] [--batch-size 16]
        [--max-new-tokens 64] [--model smollm2|tiny] [--val VAL.parquet]

Both runs use the evaluation backend itself (`TransformersBackend`, fp32, left padding,
greedy), the same prompts (the first `--prompts` rows of the verl val parquet, rendered
as evaluation renders them) and the same model, loaded once. Without `--val` the data
stage runs without Prefect on the sample config. Generated tokens are counted by
re-tokenizing each completion. Prints a markdown table: seconds, samples/s, tokens/s,
the batched / one-at-a-time ratio against the 3x target, and how many greedy
predictions the two runs agree on (left padding may change a few logits).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import (  # noqa: E402
    add_val_and_model_options,
    model_folder,
    val_parquet,
)
from benchmarks.headline import headline  # noqa: E402

if TYPE_CHECKING:
    from rm_core.evaluation.backends import TransformersBackend

TARGET_RATIO = 3.0


def measure(backend: TransformersBackend, prompts: list[str], batch_size: int, max_new_tokens: int
            ) -> tuple[float, list[str]]:
    """Wall seconds and the completions of one pass over `prompts`."""
    backend.batch_size = batch_size
    started = time.perf_counter()
    completions = backend.generate(prompts, max_new_tokens, temperature=0.0, samples=1, seed=0)
    return time.perf_counter() - started, [row[0] for row in completions]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_val_and_model_options(parser, "/tmp/rm-pipeline-eval-bench/artifacts")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64,
                        help="default: the cpu profile's max_response_length")
    args = parser.parse_args(argv)

    import pyarrow.parquet as pq

    from rm_core.data.stage import template_for
    from rm_core.evaluation.backends import TransformersBackend
    from rm_core.evaluation.runner import predict
    from rm_core.judge import generation

    val, config = val_parquet(args.val, args.config, Path(args.artifacts_dir))
    template = template_for(config.data)
    rows = pq.read_table(val, columns=["prompt"]).slice(0, args.prompts).to_pylist()
    backend = TransformersBackend(model_folder(args.model, Path(args.model_cache)), 1)
    prompts = [generation.render(backend.tokenizer, row["prompt"], template.answer_prefix)
               for row in rows]
    measure(backend, prompts[:2], 2, 2)  # warm-up: first-call allocations, thread pools

    results = {}
    for name, batch in (("one at a time", 1), (f"batched ({args.batch_size})", args.batch_size)):
        seconds, completions = measure(backend, prompts, batch, args.max_new_tokens)
        tokens = sum(len(backend.tokenizer(text, add_special_tokens=False)["input_ids"])
                     for text in completions)
        results[name] = (seconds, tokens, predict([[c] for c in completions], template))
        print(f"{name}: {seconds:.1f} s, {tokens} tokens", flush=True)

    (single_s, single_tokens, single_pred), (batched_s, batched_tokens, batched_pred) = (
        results.values())
    ratio = single_s / batched_s
    agree = sum(a == b for a, b in zip(single_pred, batched_pred, strict=True))
    print(f"model {args.model}, {len(prompts)} prompts, greedy, max {args.max_new_tokens} new "
          f"tokens, load {os.getloadavg()[0]:.1f}\n")
    print("| run | s | samples/s | tokens/s |\n|---|---:|---:|---:|")
    for name, (seconds, tokens, _) in results.items():
        print(f"| {name} | {seconds:.1f} | {len(prompts) / seconds:.2f} | "
              f"{tokens / seconds:.1f} |")
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"\nbatched / one-at-a-time speed: {ratio:.2f}x (target >= {TARGET_RATIO:.0f}x: "
          f"{verdict}); greedy predictions agree on {agree}/{len(prompts)} prompts; "
          f"tokens {single_tokens} vs {batched_tokens}")
    headline("eval_throughput", "batched / one-at-a-time speed", f"{ratio:.2f}x",
             f"{single_s:.1f} s one at a time", f">= {TARGET_RATIO:.0f}x", verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
