"""One machine-readable headline line per measured figure, so `run_all.py` can collect them.

Standard library only: `data_stage.py`'s parent process must not import pandas or
pyarrow (its children would inherit the RSS high-water mark).

    RESULT name=data_stage metric='stage / baseline time' value=6.03x baseline='11.3 s' ...
"""

from __future__ import annotations

import shlex

PREFIX = "RESULT "
FIELDS = ("name", "metric", "value", "baseline", "target", "verdict")


def headline(name: str, metric: str, value: str, baseline: str = "-", target: str = "-",
             verdict: str = "-") -> None:
    """Print one RESULT line; values are shell-quoted so they may hold spaces."""
    values = dict(zip(FIELDS, (name, metric, value, baseline, target, verdict), strict=True))
    print(PREFIX + " ".join(f"{key}={shlex.quote(text)}" for key, text in values.items()),
          flush=True)


def parse(text: str) -> list[dict[str, str]]:
    """Every RESULT line of a benchmark's output as a dict of its fields."""
    found = []
    for line in text.splitlines():
        if line.startswith(PREFIX):
            pairs = (item.partition("=") for item in shlex.split(line[len(PREFIX):]))
            found.append({key: value for key, _, value in pairs})
    return found
