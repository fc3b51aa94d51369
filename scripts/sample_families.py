"""Prompt families of the sample dataset, each item with reference answers at several levels.

The words live in ``sample_texts/``: hand-written records and ``str.format`` templates. This
module only computes the values that fill the templates, so the top-tier answers of the
computed families (conversions, word problems) are actually correct. The random draws happen
in a fixed order: changing it changes every file ``make_sample.py`` writes.
"""

from __future__ import annotations

import operator
import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

TEXTS = Path(__file__).resolve().parent / "sample_texts"
FAMILIES = tomllib.loads((TEXTS / "families.toml").read_text(encoding="utf-8"))
ARITHMETIC = FAMILIES["arithmetic"]
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
# Room sizes (length, width) in metres; none has an area equal to its perimeter.
ROOMS = ((3.5, 2.5), (4, 2.5), (4.5, 3), (4.5, 3.5), (5, 2.5), (5, 3.5), (6, 3.5), (6, 4))


@dataclass(frozen=True)
class Item:
    """A prompt with reference answers at several quality levels."""

    family: str
    prompt: str
    good: str
    thin: str
    wrong: str
    complexity: int
    partial: str = ""


def parse_records(name: str) -> list[tuple[str, dict[str, str]]]:
    """``(header, {section: text})`` records of a ``sample_texts/*.txt`` file (format in it)."""
    block = (TEXTS / name).read_text(encoding="utf-8").replace("\\\n", "")
    records = []
    for chunk in block.split("\n=== ")[1:]:
        header, *parts = chunk.split("\n--- ")
        sections = {}
        for part in parts:
            section, _, body = part.partition("\n")
            sections[section.strip()] = body.strip()
        records.append((header.strip(), sections))
    return records


def fill(family: str, texts: dict[str, Any], prompt: str, values: dict[str, Any]) -> Item:
    """An item of ``family`` whose prompt and answers are templates filled with ``values``."""
    answers = {key: texts[key].format(**values) for key in ("good", "thin", "wrong", "partial")
               if key in texts}
    return Item(family, prompt.format(**values), complexity=FAMILIES[family]["complexity"],
                **answers)


def fmt(value: float, digits: int = 2) -> str:
    """Format a number with thousands separators and without trailing zeros."""
    text = f"{round(value, digits):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money(cents: int) -> str:
    """Format an amount of cents as dollars."""
    return f"${cents // 100:,}.{cents % 100:02d}"


def clock(minutes: int) -> str:
    """Format minutes after midnight as an evening clock time (all times are pm)."""
    hour, minute = divmod(minutes, 60)
    return f"{hour - 12 if hour > 12 else hour}:{minute:02d} pm"


def apply(steps: list[list[Any]], value: float) -> float:
    """Apply ``[operator, number]`` steps to ``value`` from left to right."""
    return reduce(lambda acc, step: OPERATORS[step[0]](acc, step[1]), steps, value)


def handwritten_items() -> list[Item]:
    """Items for the hand-written prompts."""
    items = []
    for header, sec in parse_records("prompts.txt"):
        family, complexity = header.split()
        items.append(Item(family, sec["prompt"], sec["good"], sec["thin"], sec["wrong"],
                          int(complexity)))
    return items


def record_items(family: str, records: list[dict[str, Any]]) -> list[Item]:
    """One item per record, the family's prompt templates taken in turn."""
    spec, prompts = FAMILIES[family], FAMILIES[family]["prompts"]
    return [fill(family, spec, prompts[index % len(prompts)], record)
            for index, record in enumerate(records)]


def glossary_records() -> list[dict[str, str]]:
    """The glossary terms with the values their templates use."""
    return [{**sec, "term": term,
             "bare": term.removeprefix("an ").removeprefix("a ").removeprefix("the "),
             "first_sentence": sec["definition"].split(". ")[0].rstrip(".") + "."}
            for term, sec in parse_records("glossary.txt")]


def conversion_items(rng: random.Random) -> list[Item]:
    """Two unit-conversion items per conversion, with values drawn from its list."""
    spec, prompts = FAMILIES["conversion"], FAMILIES["conversion"]["prompts"]
    items = []
    for conv in spec["records"]:
        for value in rng.sample(conv["values"], 2):
            v, result = fmt(value), apply(conv["formula"], value)
            rounded = abs(result - round(result, 2)) > 1e-9
            values = {**conv, "v": v, "result": fmt(result), "calc": conv["calc"].format(v=v),
                      "mistake": fmt(apply(conv["wrong_formula"], value)),
                      "note": spec["rounded_note"] if rounded else ""}
            items.append(fill("conversion", spec, prompts[len(items) % len(prompts)], values))
    return items


def shopping(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Total cost of two kinds of goods."""
    name = rng.choice(ARITHMETIC["names"])
    thing_a, thing_b = rng.choice(ARITHMETIC["shopping_goods"])
    qty_a, qty_b = rng.randint(2, 6), rng.randint(2, 9)
    price_a, price_b = rng.choice((125, 150, 275, 320, 450)), rng.choice((60, 80, 110, 135))
    cost_a, cost_b = qty_a * price_a, qty_b * price_b
    return fill("arithmetic", texts, texts["prompt"], {
        "name": name, "thing_a": thing_a, "thing_b": thing_b, "qty_a": qty_a, "qty_b": qty_b,
        "thing_a_cap": thing_a.capitalize(), "thing_b_cap": thing_b.capitalize(),
        "price_a": money(price_a), "price_b": money(price_b), "cost_a": money(cost_a),
        "cost_b": money(cost_b), "total": money(cost_a + cost_b),
        "slip": money(cost_a + price_b)})


def travel_time(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Journey time from distance and speed (a half-hour remainder invites a slip)."""
    speed, hours = rng.choice((60, 70, 80, 90, 100, 120)), rng.choice((1.5, 2.5, 3.5, 4.5))
    return fill("arithmetic", texts, texts["prompt"], {
        "speed": speed, "hours": hours, "distance": int(speed * hours),
        "whole_hours": f"{int(hours)} hour{'s' if hours >= 2 else ''}"})


def discount(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Sale price after a percentage discount."""
    thing, price = rng.choice(ARITHMETIC["sale_goods"]), rng.choice((40, 60, 75, 80, 90, 120, 150))
    pct = rng.choice((15, 20, 25, 30, 35, 40))
    return fill("arithmetic", texts, texts["prompt"], {
        "thing": thing, "price": price, "pct": pct, "off": money(price * pct),
        "sale": money(price * 100 - price * pct), "rate": fmt(pct / 100), "pay_pct": 100 - pct,
        "pay_rate": fmt((100 - pct) / 100)})


def bill_split(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Per-person share of a bill plus tip."""
    people, bill = rng.choice((3, 4, 5, 6)), rng.choice((84, 96, 120, 132, 150, 168))
    tip_pct = rng.choice((15, 18, 20))
    tip = bill * tip_pct
    total = bill * 100 + tip
    return fill("arithmetic", texts, texts["prompt"], {
        "people": people, "bill": bill, "tip_pct": tip_pct, "tip": money(tip),
        "total": money(total), "each": money(round(total / people)),
        "note": texts["rounded_note"] if total % people else "",
        "slip": money(round(bill * 100 / people))})


def average(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Mean of four test scores."""
    name, scores = rng.choice(ARITHMETIC["names"]), [rng.randint(62, 99) for _ in range(4)]
    total = sum(scores)
    return fill("arithmetic", texts, texts["prompt"], {
        "name": name, "scores": scores, "sum": " + ".join(map(str, scores)), "total": total,
        "mean": fmt(total / 4), "slip": fmt(total / 3)})


def interest(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Simple interest over several years."""
    principal, rate = rng.choice((500, 1200, 2000, 2500, 5000)), rng.choice((2, 3, 4, 5))
    years = rng.choice((2, 3, 4, 5))
    cents = principal * rate * years  # principal * 100 * rate / 100 * years
    return fill("arithmetic", texts, texts["prompt"], {
        "principal": principal, "rate": rate, "years": years, "interest": money(cents),
        "rate_decimal": fmt(rate / 100), "balance": money(principal * 100 + cents),
        "slip": money(principal * rate)})


def recipe(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Scaling an ingredient to a different number of servings."""
    serves = rng.choice((4, 6, 8))
    target = rng.choice([n for n in (2, 3, 5, 10, 12) if n != serves])
    grams = rng.choice((240, 300, 360, 480))
    return fill("arithmetic", texts, texts["prompt"], {
        "serves": serves, "target": target, "grams": grams, "need": fmt(grams * target / serves),
        "per": fmt(grams / serves), "slip": fmt(grams * serves / target)})


def flooring(rng: random.Random, texts: dict[str, Any]) -> Item:
    """Area of a rectangular room (the perimeter is the tempting mistake)."""
    length, width = rng.choice(ROOMS)
    return fill("arithmetic", texts, texts["prompt"], {
        "length": fmt(length), "width": fmt(width), "area": fmt(length * width),
        "area_extra": fmt(length * width * 1.1, 1), "perimeter": fmt(2 * (length + width))})


def percentage(rng: random.Random, texts: dict[str, Any]) -> Item:
    """A percentage of a number."""
    pct, number = rng.choice((8, 12, 15, 35, 40, 65)), rng.choice((45, 80, 250, 360, 1200))
    return fill("arithmetic", texts, rng.choice(texts["prompts"]), {
        "pct": pct, "number": number, "result": fmt(pct * number / 100),
        "rate": fmt(pct / 100), "slip": fmt(number / pct)})


def movie_end(rng: random.Random, texts: dict[str, Any]) -> Item:
    """End time of a film whose minutes carry over into the next hour."""
    start = rng.choice((18, 19, 20)) * 60 + rng.choice((40, 45, 50, 55))
    hours, mins = rng.choice((1, 2)), rng.choice((25, 30, 35, 40, 45))
    end = start + hours * 60 + mins
    return fill("arithmetic", texts, texts["prompt"], {
        "start": clock(start), "hours": hours, "mins": mins,
        "unit": "hour" if hours == 1 else "hours", "middle": clock(start + hours * 60),
        "end": clock(end), "slip": clock(end - 60)})


WORD_PROBLEMS: tuple[Callable[[random.Random, dict[str, Any]], Item], ...] = (
    shopping, travel_time, discount, bill_split, average, interest, recipe, flooring, percentage,
    movie_end)


def word_problem_items(rng: random.Random, per_kind: int = 3) -> list[Item]:
    """``per_kind`` distinct items from each word problem (templates named after it)."""
    items: list[Item] = []
    seen: set[str] = set()
    for make in WORD_PROBLEMS:
        made = 0
        while made < per_kind:
            item = make(rng, ARITHMETIC[make.__name__])
            if item.prompt not in seen:
                seen.add(item.prompt)
                items.append(item)
                made += 1
    return items


def collect_items(rng: random.Random) -> list[Item]:
    """All items of every family, in a shuffled order."""
    items = [*handwritten_items(), *record_items("glossary", glossary_records()),
             *record_items("translation", FAMILIES["translation"]["records"]),
             *record_items("geography", FAMILIES["geography"]["records"]),
             *record_items("grammar", FAMILIES["grammar"]["records"]),
             *conversion_items(rng), *word_problem_items(rng)]
    rng.shuffle(items)
    return items
