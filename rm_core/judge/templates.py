"""Judge prompt templates and the parsers of their answers.

The same template object renders the training prompts (verl parquet), the evaluation
prompts and parses what the model wrote for the reward function, so training, reward
and evaluation can never disagree on the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

SCALE_ANCHORS = {
    "helpfulness": ("not helpful", "very helpful"),
    "correctness": ("wrong", "perfect"),
    "coherence": ("incoherent", "perfectly clear"),
    "complexity": ("basic", "expert-level"),
    "verbosity": ("terse", "very verbose"),
}
# Bounded tag bodies keep parsing linear on adversarial output (megabytes, nested tags).
_SCORE_TAG = re.compile(r"<score>\s*([^<>]{0,16}?)\s*</score>", re.IGNORECASE)
_PREFERENCE_TAG = re.compile(r"<preference>\s*([^<>]{0,16}?)\s*</preference>", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d{1,6}")
_DIMENSION_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class SingleResponsePrompt:
    """Rendering of a prompt built as head + query + middle + response + tail."""

    def pieces(self) -> tuple[str, str, str]:
        raise NotImplementedError

    def render(self, query: str, response: str) -> str:
        """The prompt for one (query, response)."""
        head, middle, tail = self.pieces()
        return f"{head}{query}{middle}{response}{tail}"

    def render_batch(self, queries: pa.Array, responses: pa.Array) -> pa.Array:
        """`render` over whole Arrow arrays, without per-row Python."""
        head, middle, tail = self.pieces()
        return pc.binary_join_element_wise(head, queries, middle, responses, tail, "")


@dataclass(frozen=True)
class PointwiseTemplate(SingleResponsePrompt):
    """Rate one response on `dimension` from 0 to `max_score`, answered `<score>X</score>`."""

    dimension: str = "helpfulness"
    max_score: int = 4
    answer_prefix: str = ""

    def pieces(self) -> tuple[str, str, str]:
        """The literal text before the query, between query and response, and after."""
        low, high = SCALE_ANCHORS.get(self.dimension, ("lowest", "highest"))
        return (
            f"Evaluate the {self.dimension} of this response on a scale of 0-{self.max_score}."
            "\n\nQuery: ",
            "\n\nResponse: ",
            "\n\nProvide your evaluation in this format:\n<score>X</score>\n\n"
            f"Where X is a number from 0 ({low}) to {self.max_score} ({high}).",
        )

    def parse(self, text: str) -> int | None:
        """Score in the last `<score>` tag; None if absent, not an integer or out of range."""
        matches = _SCORE_TAG.findall(text)
        return _integer_in_range(matches[-1], self.max_score) if matches else None

    def parse_completion(self, completion: str) -> int | None:
        """Parse what the model generated after the pre-filled `answer_prefix`."""
        return self.parse(self.answer_prefix + completion)


@dataclass(frozen=True)
class PairwiseTemplate:
    """Which of two responses is better, answered `<preference>A</preference>` (or B, tie)."""

    allow_tie: bool = True
    answer_prefix: str = ""

    def pieces(self) -> tuple[str, str, str, str]:
        """Literal text around the query, response A and response B."""
        choices = "A, B or tie" if self.allow_tie else "A or B"
        return (
            "Compare two responses to the same query and decide which one is more helpful."
            "\n\nQuery: ",
            "\n\nResponse A: ",
            "\n\nResponse B: ",
            "\n\nProvide your decision in this format:\n<preference>X</preference>\n\n"
            f"Where X is {choices}.",
        )

    def render(self, query: str, response_a: str, response_b: str) -> str:
        """The prompt for one (query, A, B)."""
        head, before_a, before_b, tail = self.pieces()
        return f"{head}{query}{before_a}{response_a}{before_b}{response_b}{tail}"

    def render_batch(self, queries: pa.Array, first: pa.Array, second: pa.Array) -> pa.Array:
        """`render` over whole Arrow arrays."""
        head, before_a, before_b, tail = self.pieces()
        return pc.binary_join_element_wise(
            head, queries, before_a, first, before_b, second, tail, ""
        )

    def parse(self, text: str) -> str | None:
        """"A", "B" or "tie" from the last `<preference>` tag, else None."""
        matches = _PREFERENCE_TAG.findall(text)
        if not matches:
            return None
        verdict = matches[-1].strip().lower()
        if verdict in ("a", "b"):
            return verdict.upper()
        return "tie" if verdict == "tie" and self.allow_tie else None

    def parse_completion(self, completion: str) -> str | None:
        """Parse what the model generated after the pre-filled `answer_prefix`."""
        return self.parse(self.answer_prefix + completion)


def _integer_in_range(body: str, max_score: int) -> int | None:
    if not _INTEGER.fullmatch(body):
        return None
    score = int(body)
    return score if 0 <= score <= max_score else None


@dataclass(frozen=True)
class MultiAttributeTemplate(SingleResponsePrompt):
    """Rate one response on several dimensions at once, one `<dim>X</dim>` tag each."""

    dimensions: tuple[str, ...] = tuple(SCALE_ANCHORS)
    max_score: int = 4
    answer_prefix: str = ""

    def __post_init__(self) -> None:
        if not self.dimensions or len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError(f"dimensions must be distinct and non-empty: {self.dimensions}")
        bad = [d for d in self.dimensions if not _DIMENSION_NAME.fullmatch(d)]
        if bad:
            raise ValueError(f"dimension names must be lowercase identifiers (tags): {bad}")

    def _tags(self) -> dict[str, re.Pattern[str]]:
        return {d: re.compile(rf"<{d}>\s*([^<>]{{0,16}}?)\s*</{d}>", re.IGNORECASE)
                for d in self.dimensions}

    def pieces(self) -> tuple[str, str, str]:
        """The literal text before the query, between query and response, and after."""
        scales = "\n".join(
            f"- {d}: 0 ({SCALE_ANCHORS.get(d, ('lowest', 'highest'))[0]}) to {self.max_score} "
            f"({SCALE_ANCHORS.get(d, ('lowest', 'highest'))[1]})"
            for d in self.dimensions
        )
        answer = "\n".join(f"<{d}>X</{d}>" for d in self.dimensions)
        return (
            "Evaluate this response on each of these dimensions, each on a scale of "
            f"0-{self.max_score}:\n{scales}\n\nQuery: ",
            "\n\nResponse: ",
            f"\n\nProvide your evaluation in this format:\n{answer}\n\n"
            "Where each X is a whole number on its dimension's scale.",
        )

    def parse(self, text: str) -> dict[str, int | None]:
        """Per dimension, the score in its last tag; None if absent, non-integer or out of range."""
        parsed: dict[str, int | None] = {}
        for dimension, tag in self._tags().items():
            matches = tag.findall(text)
            parsed[dimension] = _integer_in_range(matches[-1], self.max_score) if matches else None
        return parsed

    def parse_completion(self, completion: str) -> dict[str, int | None]:
        return self.parse(self.answer_prefix + completion)


Template = PointwiseTemplate | MultiAttributeTemplate | PairwiseTemplate
# Preferences as numbers (metrics, verl's per-sample logs): A, B, tie.
PREFERENCE_CODES = {"A": 0, "B": 1, "tie": 2}


def dimensions(template: PointwiseTemplate | MultiAttributeTemplate) -> tuple[str, ...]:
    """The dimensions a scoring template asks for, in answer order."""
    if isinstance(template, MultiAttributeTemplate):
        return template.dimensions
    return (template.dimension,)


def asked_for(template: Template) -> str:
    """What a verl row rendered with `template` records as its `extra_info.dimension`."""
    if isinstance(template, PairwiseTemplate):
        return "preference"
    return "+".join(dimensions(template))
