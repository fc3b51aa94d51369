"""Stage keys follow the code each stage runs, and a skip follows the evaluation too."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
import pytest

from rm_core import artifacts
from rm_core.artifacts import STAGE_CODE, code_version, stage_key
from rm_core.evaluation.promotion import evaluation_version, unchanged_reason
from rm_core.evaluation.registry import (
    ChampionMetadata,
    decide,
    load_champion,
    promote,
    read_decisions,
    record_decision,
)
from rm_core.evaluation.settings import EvaluationSettings, GateSettings
from rm_core.evaluation.stage import evaluation_key
from rm_core.judge.templates import PointwiseTemplate

LIBRARY = Path(artifacts.__file__).resolve().parent
REPORTS = ("evaluation/report.py", "evaluation/plots.py", "data/reports.py")
# Imported by stage code without shaping any stage output: keys and atomic writes, error
# classes, the config models (their values are key inputs), Ray transport, log parsing.
SHAPES_NO_OUTPUT = {"artifacts.py", "errors.py", "config.py", "cluster/jobs.py",
                    "cluster/job_log.py", "cluster/stage_jobs.py", "cluster/resources.py",
                    "training/monitor.py"}
# Stages whose key is in this stage's key (or whose output files it fingerprints), so
# their code needs no second listing.
UPSTREAM = {
    "ingest": (),
    "split": ("ingest",),
    "verl": ("split", "ingest"),
    "train": ("verl", "split", "ingest"),
    "merge": ("train", "verl", "split", "ingest"),
    "eval": ("merge", "train", "verl", "split", "ingest"),
    "promote": ("eval", "merge", "train", "verl", "split", "ingest"),
    "learning-signal": ("verl", "split", "ingest"),
    "bench": ("merge", "train", "verl", "split", "ingest"),
    "sft": ("verl", "split", "ingest"),
    "bt": ("split", "ingest"),
    "bt-eval": ("bt", "verl", "split", "ingest"),
}
# Imported for something other than the stage's output, per stage.
NOT_OUTPUT_OF = {
    # data/stage.py drives all three data steps; the split and verl code it imports is
    # hashed by those stages, whose keys hold ingest's.
    "ingest": {"data/split.py", "data/verl_rows.py", "judge/templates.py"},
    # METRICS: which way a metric ranks checkpoints, not what evaluation.json holds.
    "eval": {"evaluation/registry.py"},
    # evaluation/stage.py gives Bradley-Terry scoring only the evaluation file's name.
    "bt-eval": {"evaluation/registry.py", "evaluation/checkpoints.py", "training/run.py"},
}


def chained_keys() -> dict[str, str]:
    """Every stage's key with fixed inputs, chained the way the pipeline chains them."""
    keys = {"ingest": stage_key("ingest", source="sha-of-rows", converter="helpsteer2")}
    keys["split"] = stage_key("split", samples=keys["ingest"], seed=42)
    keys["verl"] = stage_key("verl", split=keys["split"], template="<score>")
    keys["train"] = stage_key("train", data=keys["verl"], spec={"lr": 1e-6}, model="m")
    keys["merge"] = stage_key("merge", actor="files-of-step-2")
    keys["eval"] = stage_key("eval", model="files-of-merged", val="sha-of-val")
    return keys


@pytest.fixture
def edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`edit(*modules)`: the keys before, and after appending a line to each module of a
    copy of rm_core that the hasher reads."""

    def edit(*modules: str) -> tuple[dict[str, str], dict[str, str]]:
        copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}" / "rm_core"
        shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
        monkeypatch.setattr(artifacts, "PACKAGE_DIR", copy)
        before = chained_keys()
        edited_copy = copy.parent.with_name(copy.parent.name + "-edited") / "rm_core"
        shutil.copytree(copy, edited_copy)
        for module in modules:
            with (edited_copy / module).open("a", encoding="utf-8") as handle:
                handle.write("# an edit\n")
        monkeypatch.setattr(artifacts, "PACKAGE_DIR", edited_copy)
        return before, chained_keys()

    return edit


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {stage for stage in before if before[stage] != after[stage]}


def test_editing_reports_and_plots_changes_no_stage_key(edited) -> None:
    before, after = edited(*REPORTS)
    assert changed(before, after) == set()


def test_editing_the_reward_changes_training_and_evaluation_not_the_data(edited) -> None:
    before, after = edited("judge/rewards.py")
    assert changed(before, after) == {"train", "eval"}


def test_editing_the_split_changes_the_split_and_every_key_chained_to_it(edited) -> None:
    before, after = edited("data/split.py")
    assert changed(before, after) == {"split", "verl", "train"}


def test_editing_ray_transport_changes_no_stage_key(edited) -> None:
    before, after = edited("cluster/jobs.py", "training/monitor.py")
    assert changed(before, after) == set()


def test_the_whole_library_version_still_follows_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "rm_core"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(artifacts, "PACKAGE_DIR", copy)
    before = code_version()
    with (copy / "evaluation" / "report.py").open("a", encoding="utf-8") as handle:
        handle.write("# an edit\n")
    artifacts._source_digest.cache_clear()
    assert code_version() != before


def test_an_unknown_stage_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"unknown stage 'training'.*ingest"):
        stage_key("training", data="x")


def test_a_stage_listing_a_file_that_is_gone_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "rm_core"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "data" / "split.py").unlink()
    monkeypatch.setattr(artifacts, "PACKAGE_DIR", copy)
    with pytest.raises(FileNotFoundError, match=r"STAGE_CODE\['split'\] lists data/split.py"):
        code_version("split")


def _rm_core_imports(path: Path) -> set[str]:
    """The rm_core files `path` imports (at the top or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.ImportFrom) and node.module
                and node.module.split(".")[0] == "rm_core"):
            continue
        package = LIBRARY.joinpath(*node.module.split(".")[1:])
        for alias in node.names:
            for candidate in (package / f"{alias.name}.py", package.with_suffix(".py"),
                              package / "__init__.py"):
                if candidate.is_file():
                    found.add(candidate.relative_to(LIBRARY).as_posix())
                    break
    return found


def _listed(stage: str) -> set[str]:
    return {path.relative_to(LIBRARY).as_posix()
            for path in artifacts._source_files(LIBRARY, stage)}


@pytest.mark.parametrize("stage", list(STAGE_CODE))
def test_every_module_a_stage_imports_is_in_its_code_version(stage: str) -> None:
    """A module a stage starts to use is hashed with it, or said here why not."""
    covered = _listed(stage).union(*(_listed(up) for up in UPSTREAM[stage]))
    allowed = covered | SHAPES_NO_OUTPUT | NOT_OUTPUT_OF.get(stage, set())
    unlisted = {f"{module} (imported by {path})"
                for path in sorted(_listed(stage))
                for module in _rm_core_imports(LIBRARY / path) - allowed}
    assert not unlisted


# ----------------------------------------------------------------- skipping a run

N = 60
TRUE = np.arange(N) % 5
IDS = [f"row-{i}" for i in range(N)]


def _record(registry: Path, run_id: str, train_key: str, evaluation: str) -> None:
    decision = decide(list(TRUE), TRUE, IDS, None, n_resamples=50, data_fingerprint="fp")
    record_decision(registry, decision, run_id, train_key, evaluation)


def _promote(registry: Path, tmp_path: Path, train_key: str, evaluation: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    promote(registry, model, ChampionMetadata(
        metrics={"mean_reward": 1.0}, predictions=list(TRUE), unique_ids=IDS,
        data_fingerprint="fp", run_id="run-1", step=2,
        config={"train_key": train_key, "evaluation_version": evaluation},
    ))


def test_the_evaluation_version_follows_the_settings_that_judge() -> None:
    settings = EvaluationSettings()
    assert evaluation_version(settings) == evaluation_version(EvaluationSettings())
    for changed_setting in ({"limit": 8}, {"metric": "mae_parsed"}, {"temperature": 0.7},
                            {"gate": GateSettings(beat_constants=False)},
                            {"gate": GateSettings(beat_text_baseline=True)},
                            {"collapse_share": 0.9}):
        other = EvaluationSettings(**changed_setting)
        assert evaluation_version(other) != evaluation_version(settings), changed_setting
    moved = EvaluationSettings(registry_dir=Path("/elsewhere"))
    assert evaluation_version(moved) == evaluation_version(settings)


def test_the_evaluation_version_follows_the_evaluation_code(edited) -> None:
    settings = EvaluationSettings()
    original = evaluation_version(settings)
    edited("evaluation/report.py", "evaluation/plots.py", "data/reports.py")
    assert evaluation_version(settings) == original
    for module in ("evaluation/runner.py", "evaluation/checkpoints.py", "evaluation/registry.py",
                   "evaluation/gate.py", "evaluation/text_baseline.py", "judge/generation.py"):
        edited(module)
        assert evaluation_version(settings) != original, module


def test_a_decided_run_is_skipped_only_when_its_evaluation_is_unchanged(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    _record(registry, "run-1", "train-a", "eval-1")
    decisions = read_decisions(registry)
    assert decisions[-1]["evaluation_version"] == "eval-1"
    reason = unchanged_reason(None, decisions, "train-a", "eval-1")
    assert reason is not None and "run-1" in reason and "evaluation" in reason
    assert unchanged_reason(None, decisions, "train-a", "eval-2") is None
    assert unchanged_reason(None, decisions, "train-b", "eval-1") is None
    _record(registry, "run-2", "train-a", "eval-2")
    reason = unchanged_reason(None, read_decisions(registry), "train-a", "eval-2")
    assert reason is not None and "run-2" in reason


def test_a_champion_is_not_a_reason_to_skip_once_the_evaluation_changed(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    _promote(registry, tmp_path, "train-a", "eval-1")
    champion = load_champion(registry)
    reason = unchanged_reason(champion, [], "train-a", "eval-1")
    assert reason is not None and "champion" in reason
    assert unchanged_reason(champion, [], "train-a", "eval-2") is None


def test_decisions_recorded_before_evaluation_versions_do_not_skip(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    decision = decide(list(TRUE), TRUE, IDS, None, n_resamples=50, data_fingerprint="fp")
    record_decision(registry, decision, "run-0", "train-a")
    assert unchanged_reason(None, read_decisions(registry), "train-a", "eval-1") is None


def test_a_gate_change_after_a_promotion_decides_again_from_the_cached_judgements(
    tmp_path: Path
) -> None:
    """A stricter gate re-decides the champion's run (not skipped as unchanged), but the
    judgements it reads are the stored ones: the gate shapes no generation."""
    settings = EvaluationSettings()
    stricter = settings.model_copy(update={"gate": GateSettings(beat_text_baseline=True),
                                           "collapse_share": 0.6})
    registry = tmp_path / "registry"
    _promote(registry, tmp_path, "train-a", evaluation_version(settings))
    champion = load_champion(registry)
    assert unchanged_reason(champion, [], "train-a", evaluation_version(settings)) is not None
    assert unchanged_reason(champion, [], "train-a", evaluation_version(stricter)) is None
    model = tmp_path / "model"
    val = tmp_path / "val.parquet"
    val.write_bytes(b"rows")
    template = PointwiseTemplate(answer_prefix="<score>")
    assert (evaluation_key(model, val, template, settings, 16)
            == evaluation_key(model, val, template, stricter, 16))
