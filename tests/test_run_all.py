"""benchmarks/run_all.py: the chosen benchmarks run in child processes, their tables and
RESULT lines land in one markdown file. Fake benchmark scripts keep this fast."""

from __future__ import annotations

from pathlib import Path

from benchmarks.run_all import Benchmark, main

FAKE = """
import sys
print("warming up", file=sys.stderr)
size = sys.argv[-1]
print("| metric | value |")
print("|---|---:|")
print(f"| speed | {size} |")
print(f"RESULT name=fake metric=speed value={size} baseline='1 s copy' target='<= 2' verdict=PASS")
"""

BROKEN = """
import sys
print("half a table")
print("boom: the model is missing", file=sys.stderr)
sys.exit(3)
"""


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_quick_only_runs_the_chosen_benchmarks_and_writes_their_tables(tmp_path: Path) -> None:
    fake = script(tmp_path, "fake.py", FAKE)
    benchmarks = {"fake": Benchmark(fake, dir_option=None, quick=("--size", "7")),
                  "other": Benchmark(fake, dir_option=None),
                  "big": Benchmark(fake, quick=None, skip_note="too big for --quick")}
    out = tmp_path / "results.md"

    code = main(["--quick", "--only", "fake,big", "--output", str(out)], benchmarks)

    text = out.read_text()
    assert code == 0
    assert "| fake | speed | 7 | 1 s copy | <= 2 | PASS | 0 |" in text
    assert "| metric | value |\n|---|---:|\n| speed | 7 |" in text
    assert "| big | too big for --quick | | | | | skipped |" in text
    assert "## other" not in text
    assert "--size 7" in text


def test_a_failing_benchmark_fails_the_run_and_its_stderr_is_kept(tmp_path: Path) -> None:
    broken = script(tmp_path, "broken.py", BROKEN)
    out = tmp_path / "results.md"

    code = main(["--output", str(out)], {"broken": Benchmark(broken, dir_option=None)})

    text = out.read_text()
    assert code == 1
    assert "| broken | no RESULT line | | | | | 3 |" in text
    assert "boom: the model is missing" in text
