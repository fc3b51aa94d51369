"""Generate the embedded HelpSteer2-style sample dataset for rm-pipeline.

The data is written for this project; it is not copied from NVIDIA HelpSteer2. Every prompt
comes either from hand-written material in ``sample_texts/`` or from a parametrised family
whose reference answer is computed (``sample_families.py``), so the top-tier answers are
actually correct. Each prompt gets 2-3 responses drawn from five quality tiers. The tier is the
helpfulness label, and the other four attributes follow from the kind of response (see
``KIND_SCORES``).

Outputs (deterministic: fixed seed, standard library only, no network):

* ``helpsteer2_sample.jsonl``: pointwise rows in the HelpSteer2 attribute schema.
* ``helpsteer2_preference_sample.jsonl``: pairs in the HelpSteer2-preference schema with
  ``preference_strength = sign(h2 - h1) * min(3, |h2 - h1|)``, h being helpfulness.

Regenerate with ``python scripts/make_sample.py`` from the repository root.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sample_families import TEXTS, Item, collect_items

SEED = 20250611
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"
POINTWISE_FILE = "helpsteer2_sample.jsonl"
PREFERENCE_FILE = "helpsteer2_preference_sample.jsonl"
ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
# Refusals, evasions and the filler of padded answers.
FILLER = tomllib.loads((TEXTS / "filler.toml").read_text(encoding="utf-8"))

# Every TIE_EVERY-th prompt gets two responses of the same tier, so some preference pairs tie.
TIE_EVERY = 25
TIE_COMBOS = ((0, 0, 4), (1, 1, 3), (0, 0, 3), (1, 1, 4))
# Share of 3-response prompts that contribute two preference pairs instead of one.
SECOND_PAIR_RATE = 0.75
# (tier = helpfulness, correctness, coherence) of each kind of response; complexity and
# verbosity are computed.
KIND_SCORES = {
    "good": (4, 4, 4), "thin": (3, 3, 4),
    "padded": (2, 3, 3), "partial": (2, 2, 3), "truncated": (2, 2, 2),
    "wrong": (1, 1, 3), "evasive": (1, 1, 3),
    "refusal": (0, 0, 3), "offtopic": (0, 0, 2), "gibberish": (0, 0, 0),
}
# Response length (characters) thresholds for verbosity 1, 2, 3 and 4.
VERBOSITY_STEPS = (60, 200, 500, 900)


def tier_plan(count: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Quality tiers per prompt: cycles of all 2- and 3-tier combinations, plus some ties."""
    combos = [c for size in (2, 3) for c in itertools.combinations(range(5), size)]
    plan: list[tuple[int, ...]] = []
    while len(plan) < count:
        cycle = combos[:]
        rng.shuffle(cycle)
        plan.extend(cycle)
    plan = plan[:count]
    for index in range(TIE_EVERY // 2, count, TIE_EVERY):
        plan[index] = TIE_COMBOS[(index // TIE_EVERY) % len(TIE_COMBOS)]
    return plan


def kind_options(tier: int, item: Item) -> list[str]:
    """Kinds of response that can represent ``tier`` for ``item`` (repeats weight a kind)."""
    if tier == 2:
        return ["padded"] + (["partial"] if item.partial else []) + (
            ["truncated"] if len(item.good) >= 350 else [])
    return {4: ["good"], 3: ["thin"], 1: ["wrong", "wrong", "evasive"],
            0: ["refusal", "offtopic", "gibberish"]}[tier]


def pick_kinds(tiers: tuple[int, ...], item: Item, rng: random.Random) -> list[str]:
    """One distinct kind of response per tier."""
    kinds: list[str] = []
    for tier in tiers:
        kinds.append(rng.choice([k for k in kind_options(tier, item) if k not in kinds]))
    return kinds


def padded(item: Item, rng: random.Random) -> str:
    """The thin answer buried in filler."""
    parts = (rng.choice(FILLER["pad_openers"]), item.thin, rng.choice(FILLER["pad_middles"]),
             rng.choice(FILLER["pad_closers"]))
    return "\n\n".join(parts)


def truncated(item: Item) -> str:
    """The good answer cut off mid-way, like a generation that hit its length limit."""
    cut = item.good.rfind(" ", 0, int(len(item.good) * 0.45))
    return item.good[:cut].rstrip(" ,;:-")


def gibberish(item: Item, rng: random.Random) -> str:
    """A degenerate word salad made from the good answer, with a stutter."""
    words = item.good.replace("**", "").split()
    rng.shuffle(words)
    words = words[:40]
    at = rng.randrange(len(words))
    words[at:at] = [words[at]] * 3
    return " ".join(words)


def render(kind: str, item: Item, rng: random.Random, items: list[Item]) -> tuple[str, int]:
    """The text of a response of ``kind`` and its complexity score."""
    simple: dict[str, tuple[str, int]] = {
        "good": (item.good, item.complexity),
        "thin": (item.thin, max(item.complexity - 1, 0)),
        "partial": (item.partial, item.complexity),
        "wrong": (item.wrong, item.complexity),
    }
    if kind in simple:
        return simple[kind]
    if kind == "offtopic":
        other = rng.choice([o for o in items if o.family != item.family])
        return other.good, other.complexity
    makers: dict[str, Callable[[], tuple[str, int]]] = {
        "padded": lambda: (padded(item, rng), 1),
        "truncated": lambda: (truncated(item), item.complexity),
        "evasive": lambda: (rng.choice(FILLER["evasions"]), 1),
        "refusal": lambda: (rng.choice(FILLER["refusals"]), 0),
        "gibberish": lambda: (gibberish(item, rng), 0),
    }
    return makers[kind]()


def verbosity(kind: str, text: str) -> int:
    """Verbosity score: length-based, except that padding is always maximal."""
    if kind == "padded":
        return 4
    return sum(len(text) >= step for step in VERBOSITY_STEPS)


def make_row(item: Item, kind: str, text: str, complexity: int) -> dict[str, Any]:
    """A pointwise row in the HelpSteer2 schema."""
    scores = (*KIND_SCORES[kind], complexity, verbosity(kind, text))
    return {"prompt": item.prompt, "response": text, **dict(zip(ATTRIBUTES, scores, strict=True))}


def build_groups(items: list[Item], rng: random.Random) -> list[list[dict[str, Any]]]:
    """Rows grouped by prompt, each group in a shuffled response order."""
    groups = []
    for item, tiers in zip(items, tier_plan(len(items), rng), strict=True):
        rows = []
        for kind in pick_kinds(tiers, item, rng):
            text, complexity = render(kind, item, rng, items)
            rows.append(make_row(item, kind, text, complexity))
        rng.shuffle(rows)
        groups.append(rows)
    return groups


def preference_row(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """A HelpSteer2-preference row; negative strength means response_1 is better."""
    diff = second["helpfulness"] - first["helpfulness"]
    return {"prompt": first["prompt"], "response_1": first["response"],
            "response_2": second["response"], "preference_strength": max(-3, min(3, diff))}


def preference_rows(groups: list[list[dict[str, Any]]], rng: random.Random) -> list[dict]:
    """One or two pairs per prompt, always keeping pairs of equal helpfulness."""
    rows = []
    for group in groups:
        pairs = list(itertools.combinations(group, 2))
        if len(pairs) > 1:
            ties = [p for p in pairs if p[0]["helpfulness"] == p[1]["helpfulness"]]
            others = [p for p in pairs if p not in ties]
            rng.shuffle(others)
            keep = 2 if ties or rng.random() < SECOND_PAIR_RATE else 1
            pairs = (ties + others)[:keep]
        for pair in pairs:
            first, second = pair if rng.random() < 0.5 else pair[::-1]
            rows.append(preference_row(first, second))
    return rows


def check(groups: list[list[dict[str, Any]]]) -> None:
    """Raise ValueError if prompts repeat, a (prompt, response) pair repeats or a text is empty."""
    prompts = [group[0]["prompt"] for group in groups]
    if len(set(prompts)) != len(prompts):
        raise ValueError("duplicate prompt")
    pairs = [(row["prompt"], row["response"]) for group in groups for row in group]
    if len(set(pairs)) != len(pairs):
        raise ValueError("duplicate (prompt, response) pair")
    if not all(prompt.strip() and response.strip() for prompt, response in pairs):
        raise ValueError("empty prompt or response")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as UTF-8 JSON lines with a fixed key order."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    """Generate both sample files and print a short summary."""
    parser = argparse.ArgumentParser(description="Generate the HelpSteer2-style sample data.")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"output directory (default: {DEFAULT_OUT_DIR})")
    args = parser.parse_args()
    rng = random.Random(SEED)
    items = collect_items(rng)
    groups = build_groups(items, rng)
    check(groups)
    pointwise = [row for group in groups for row in group]
    preference = preference_rows(groups, rng)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out_dir / POINTWISE_FILE, pointwise)
    write_jsonl(args.out_dir / PREFERENCE_FILE, preference)
    histogram = Counter(row["helpfulness"] for row in pointwise)
    print(f"{len(pointwise)} rows over {len(groups)} prompts, {len(preference)} pairs; "
          f"helpfulness {dict(sorted(histogram.items()))}")


if __name__ == "__main__":
    main()
