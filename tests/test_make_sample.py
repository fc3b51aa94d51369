"""scripts/make_sample.py reproduces the committed data/sample/ files byte for byte, so the
texts in scripts/sample_texts/ and the committed sample cannot drift apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rm_core.config import REPO_ROOT

SAMPLE_DIR = REPO_ROOT / "data" / "sample"
GENERATED = ["helpsteer2_preference_sample.jsonl", "helpsteer2_sample.jsonl"]


def first_difference(new: Path, committed: Path) -> str:
    """The first line where two files differ, for a readable failure message."""
    new_lines = new.read_bytes().splitlines(keepends=True)
    old_lines = committed.read_bytes().splitlines(keepends=True)
    for number, (line, old) in enumerate(zip(new_lines, old_lines, strict=False), start=1):
        if line != old:
            same = (a == b for a, b in zip(line, old, strict=False))
            at = next((i for i, equal in enumerate(same) if not equal), len(old))
            start = max(at - 40, 0)
            return (f"line {number}, byte {at}: generated {line[start:at + 40]!r}, "
                    f"committed {old[start:at + 40]!r}")
    return f"generated {len(new_lines)} lines, committed {len(old_lines)}"


def test_generator_reproduces_the_committed_sample(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_sample.py"), "--out-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == GENERATED
    for name in GENERATED:
        new, committed = tmp_path / name, SAMPLE_DIR / name
        assert new.read_bytes() == committed.read_bytes(), (
            f"{name}: {first_difference(new, committed)}")
