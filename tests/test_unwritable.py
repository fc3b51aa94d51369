"""A full disk or an unwritable artifacts directory: a clear error, no partial output kept."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from flows.prepare_data import main
from rm_core.artifacts import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
# The data stage of the sample under a 64 KiB file size limit: the kernel refuses the
# first larger write (EFBIG), as a full disk refuses every write (ENOSPC).
STAGE = """
import sys
from pathlib import Path
from rm_core.data import stage as data_stage
from rm_core.config import DataConfig, TemplateConfig
from rm_core.errors import RmPipelineError
from rm_core.data.sources import fetch
root = Path(sys.argv[1])
config = DataConfig(template=TemplateConfig(answer_prefix="<score>"))
try:
    data_stage.ingest(fetch(config.source, root), config, root)
except RmPipelineError as exc:
    print(exc)
    sys.exit(3)
"""


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_full_disk_mid_stage_is_a_clear_error_and_nothing_looks_finished(
    tmp_path: Path,
) -> None:
    root = tmp_path / "art"
    done = subprocess.run([sys.executable, "-c", STAGE, str(root)], cwd=ROOT, text=True,
                          capture_output=True, preexec_fn=limit_file_size, check=False)

    assert done.returncode == 3, done.stderr[-2000:]
    assert "cannot write" in done.stdout and "File too large" in done.stdout
    assert str(root) in done.stdout
    assert not list(root.rglob(MANIFEST)), "a stage was marked finished"
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name], "temporary files were left"


@pytest.mark.usefixtures("prefect_harness")
def test_an_unwritable_artifacts_dir_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    # /sys refuses new directories even to root, where file modes would not.
    target = Path("/sys/rm-pipeline-unwritable")
    assert main(["--artifacts-dir", str(target)]) == 1
    error = capsys.readouterr().err
    assert f"cannot write {target}" in error and "Operation not permitted" in error
