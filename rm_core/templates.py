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


@dataclass(frozen=True)
class PointwiseTemplate:
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

    def render(self, query: str, response: str) -> str:
        """The prompt for one (query, response)."""
        head, middle, tail = self.pieces()
        return f"{head}{query}{middle}{response}{tail}"

    def render_batch(self, queries: pa.Array, responses: pa.Array) -> pa.Array:
        """`render` over whole Arrow arrays, without per-row Python."""
        head, middle, tail = self.pieces()
        return pc.binary_join_element_wise(head, queries, middle, responses, tail, "")

    def parse(self, text: str) -> int | None:
        """Score in the last `<score>` tag; None if absent, not an integer or out of range."""
        matches = _SCORE_TAG.findall(text)
        if not matches or not _INTEGER.fullmatch(matches[-1]):
            return None
        score = int(matches[-1])
        return score if 0 <= score <= self.max_score else None

    def parse_completion(self, completion: str) -> int | None:
        """Parse what the model generated after the pre-filled `answer_prefix`."""
        return self.parse(self.answer_prefix + completion)


@dataclass(frozen=True)
class PairwiseTemplate:
    """Which of two responses is better, answered `<preference>A</preference>` (or B, tie)."""

    allow_tie: bool = True

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
