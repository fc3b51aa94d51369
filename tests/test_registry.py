"""Model registry: promotion decisions on shared rows, durable and atomic champion files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rm_core.errors import RmPipelineError
from rm_core.evaluation import registry as reg
from rm_core.evaluation.registry import (
    DIFFERENT_DATA,
    Baseline,
    ChampionMetadata,
    RegistryError,
    decide,
    load_champion,
    promote,
    read_decisions,
    record_decision,
)

N = 400
RNG = np.random.default_rng(7)
TRUE = RNG.integers(0, 5, size=N)
IDS = [f"row-{i}" for i in range(N)]
FINGERPRINT = "fp-val-1"


def _wrong(i: int) -> int:
    """A prediction two points off the label (always inside 0..4)."""
    t = int(TRUE[i])
    return t + 2 if t <= 2 else t - 2


# Champion: rows 0..199 are two points off, the rest exact.
CHAMP_PRED = [_wrong(i) if i < 200 else int(TRUE[i]) for i in range(N)]
# Challenger: 60 more exact hits than the champion, nothing worse.
BETTER_PRED = [int(TRUE[i]) if i < 60 else p for i, p in enumerate(CHAMP_PRED)]
# Challenger: 60 fewer exact hits than the champion.
WORSE_PRED = [_wrong(i) if 200 <= i < 260 else p for i, p in enumerate(CHAMP_PRED)]
# Challenger: 15 rows fixed, 15 others broken the same way - equal up to noise.
NOISY_PRED = [
    int(TRUE[i]) if i < 15 else _wrong(i) if 200 <= i < 215 else p for i, p in enumerate(CHAMP_PRED)
]


def _model_dir(root: Path, name: str, payload: str = "weights") -> Path:
    """A tiny fake model folder: a config.json and a small weights file."""
    d = root / name
    (d / "sub").mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_type": "fake", "name": name}))
    (d / "sub" / "model.bin").write_text(payload)
    return d


def _meta(run_id: str, pred: list[int], ids: list[str] = IDS, **extra: Any) -> ChampionMetadata:
    return ChampionMetadata(
        metrics={"mean_reward": 0.5, "accuracy": 0.5, "pearson_parsed": float("nan")},
        predictions=pred,
        unique_ids=ids,
        data_fingerprint=extra.pop("data_fingerprint", FINGERPRINT),
        config={"lr": 1e-6, "model": {"name": "fake"}},
        run_id=run_id,
        step=extra.pop("step", 100),
    )


@pytest.fixture
def with_champion(tmp_path: Path) -> Path:
    registry = tmp_path / "registry" / "judge"
    promote(registry, _model_dir(tmp_path, "champ", "champion weights"), _meta("run-1", CHAMP_PRED))
    return registry


def _decide(pred: list[int], registry: Path, **kw: Any) -> reg.Decision:
    return decide(pred, TRUE, IDS, load_champion(registry), n_resamples=500, **kw)


def test_without_champion_or_base_model_the_first_model_becomes_champion(
    tmp_path: Path,
) -> None:
    registry = tmp_path / "registry"
    assert load_champion(registry) is None
    decision = decide(CHAMP_PRED, TRUE, IDS, None)
    assert decision.promote and "no champion" in decision.reason
    assert decision.incumbent is None
    champion = promote(registry, _model_dir(tmp_path, "m"), _meta("run-1", CHAMP_PRED))
    assert champion.run_id == "run-1"
    assert (registry / "champion" / "config.json").is_file()
    assert load_champion(registry) is not None


def test_before_the_first_promotion_the_base_model_is_the_bar() -> None:
    order = np.random.default_rng(5).permutation(N)
    base = Baseline(predictions=[CHAMP_PRED[i] for i in order], unique_ids=[IDS[i] for i in order])
    better = decide(BETTER_PRED, TRUE, IDS, None, n_resamples=500, baseline=base)
    assert better.promote and better.incumbent == "base model"
    assert better.delta == pytest.approx(better.challenger_value - better.champion_value)
    assert "base model" in better.reason and "promoted" in better.reason
    for pred in (list(CHAMP_PRED), WORSE_PRED, NOISY_PRED):
        decision = decide(pred, TRUE, IDS, None, n_resamples=500, baseline=base)
        assert not decision.promote and "not promoted" in decision.reason
        assert decision.champion_run_id is None


def test_a_champion_is_the_bar_even_when_a_base_model_was_judged(with_champion: Path) -> None:
    weak_base = Baseline(predictions=WORSE_PRED, unique_ids=IDS)
    d = _decide(list(CHAMP_PRED), with_champion, baseline=weak_base)
    assert not d.promote and d.incumbent == "champion" and d.champion_run_id == "run-1"


def test_clearly_better_challenger_promotes(with_champion: Path) -> None:
    d = _decide(BETTER_PRED, with_champion, data_fingerprint=FINGERPRINT)
    assert d.promote
    assert d.ci_low is not None and d.ci_low > 0
    assert d.delta == pytest.approx(d.challenger_value - d.champion_value)
    assert f"{d.delta:+.4f}" in d.reason and "promoted" in d.reason


def test_better_on_accuracy_metric_also_promotes(with_champion: Path) -> None:
    d = _decide(BETTER_PRED, with_champion, metric="accuracy")
    assert d.promote and d.delta == pytest.approx(60 / N)


def test_lower_is_better_metric_is_oriented(with_champion: Path) -> None:
    d = _decide(BETTER_PRED, with_champion, metric="mae_parsed")
    assert d.challenger_value < d.champion_value
    assert d.promote and d.delta > 0


def test_equal_challenger_does_not_promote(with_champion: Path) -> None:
    d = _decide(list(CHAMP_PRED), with_champion)
    assert not d.promote
    assert d.delta == 0.0 and d.ci_low == 0.0
    assert "not promoted" in d.reason


def test_worse_challenger_does_not_promote(with_champion: Path) -> None:
    d = _decide(WORSE_PRED, with_champion)
    assert not d.promote
    assert d.delta < 0 and d.ci_high < 0


def test_challenger_equal_up_to_noise_does_not_promote(with_champion: Path) -> None:
    d = _decide(NOISY_PRED, with_champion)
    assert not d.promote
    assert d.ci_low < 0 < d.ci_high


def test_champion_is_matched_by_unique_id_not_position(with_champion: Path) -> None:
    order = np.random.default_rng(3).permutation(N)
    d = decide(
        [BETTER_PRED[i] for i in order],
        TRUE[order],
        [IDS[i] for i in order],
        load_champion(with_champion),
        n_resamples=300,
    )
    assert d.promote and d.n_rows == N


def test_different_unique_ids_do_not_promote(with_champion: Path) -> None:
    other_ids = [f"other-{i}" for i in range(N)]
    d = decide(BETTER_PRED, TRUE, other_ids, load_champion(with_champion))
    assert not d.promote
    assert DIFFERENT_DATA in d.reason
    assert d.delta is None and d.champion_value is None


def test_different_fingerprint_does_not_promote(with_champion: Path) -> None:
    d = _decide(BETTER_PRED, with_champion, data_fingerprint="fp-val-2")
    assert not d.promote and DIFFERENT_DATA in d.reason


def test_decisions_jsonl_records_every_decision(with_champion: Path) -> None:
    for run_id, pred in [("run-2", BETTER_PRED), ("run-3", WORSE_PRED)]:
        record_decision(with_champion, _decide(pred, with_champion), run_id, f"key-{run_id}")
    lines = (with_champion / "decisions.jsonl").read_text().splitlines()
    assert len(lines) == 2
    entries = read_decisions(with_champion)
    assert [e["run_id"] for e in entries] == ["run-2", "run-3"]
    assert [e["promote"] for e in entries] == [True, False]
    assert [e["train_key"] for e in entries] == ["key-run-2", "key-run-3"]
    for e in entries:
        assert e["metric"] == "mean_reward" and e["champion_run_id"] == "run-1"
        for key in ("champion_value", "challenger_value", "delta", "ci_low", "ci_high"):
            assert isinstance(e[key], float)
        assert e["reason"] and e["decided_at"]


def test_champion_survives_reload(with_champion: Path, tmp_path: Path) -> None:
    champion = load_champion(with_champion)
    assert champion is not None
    assert champion.path == with_champion / "champion"
    assert (champion.path / "sub" / "model.bin").read_text() == "champion weights"
    assert champion.predictions == CHAMP_PRED and champion.unique_ids == IDS
    assert champion.data_fingerprint == FINGERPRINT and champion.step == 100
    assert champion.config == {"lr": 1e-6, "model": {"name": "fake"}}
    assert champion.metrics["accuracy"] == 0.5 and np.isnan(champion.metrics["pearson_parsed"])
    assert champion.promoted_at and set(champion.files) == {"config.json", "sub/model.bin"}
    # The registry holds a copy: deleting the training output keeps the champion.
    shutil.rmtree(tmp_path / "champ")
    assert load_champion(with_champion) is not None


def test_promoting_a_new_champion_replaces_the_old(with_champion: Path, tmp_path: Path) -> None:
    promote(with_champion, _model_dir(tmp_path, "new", "new weights"), _meta("run-2", BETTER_PRED))
    champion = load_champion(with_champion)
    assert champion is not None and champion.run_id == "run-2"
    assert (champion.path / "sub" / "model.bin").read_text() == "new weights"
    leftovers = [p.name for p in with_champion.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_corrupt_champion_json_raises_naming_the_file(with_champion: Path) -> None:
    path = with_champion / "champion.json"
    path.write_text("{ not json")
    with pytest.raises(RegistryError, match=r"champion\.json") as info:
        load_champion(with_champion)
    assert str(path) in str(info.value)
    assert isinstance(info.value, RmPipelineError)


def test_champion_json_missing_fields_raises(with_champion: Path) -> None:
    (with_champion / "champion.json").write_text(json.dumps({"run_id": "x"}))
    with pytest.raises(RegistryError, match="corrupt champion metadata"):
        load_champion(with_champion)


def test_missing_model_dir_raises_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(RegistryError, match="no-such-model"):
        promote(tmp_path / "registry", missing, _meta("run-1", CHAMP_PRED))


def test_failed_copy_leaves_previous_champion_intact(
    with_champion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (with_champion / "champion.json").read_text()

    def broken_copy(src: Path, dst: Path, **_: Any) -> None:
        Path(dst).mkdir()
        (Path(dst) / "config.json").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(reg.shutil, "copytree", broken_copy)
    with pytest.raises(RegistryError, match="cannot copy model directory"):
        promote(with_champion, _model_dir(tmp_path, "new"), _meta("run-2", BETTER_PRED))
    assert (with_champion / "champion.json").read_text() == before
    champion = load_champion(with_champion)
    assert champion is not None and champion.run_id == "run-1"
    assert (champion.path / "sub" / "model.bin").read_text() == "champion weights"
    assert [p.name for p in with_champion.iterdir() if p.name.startswith(".")] == []


def test_crash_between_swap_and_metadata_is_detected(
    with_champion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(path: Path, text: str) -> None:
        raise OSError("crash before champion.json was replaced")

    monkeypatch.setattr(reg, "_write_atomic", crash)
    with pytest.raises(OSError):
        promote(with_champion, _model_dir(tmp_path, "new", "other size"), _meta("r2", CHAMP_PRED))
    with pytest.raises(RegistryError, match="do not match"):
        load_champion(with_champion)


def test_metadata_rows_must_line_up() -> None:
    with pytest.raises(ValueError, match="predictions"):
        _meta("run-1", CHAMP_PRED[:10])
    with pytest.raises(ValueError, match="duplicates"):
        _meta("run-1", [0, 1], ids=["a", "a"])


def test_unknown_metric_raises(with_champion: Path) -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        _decide(BETTER_PRED, with_champion, metric="bleu")


def test_a_run_is_unchanged_when_its_train_stage_was_decided_on_promoted_or_not(
    with_champion: Path,
) -> None:
    from rm_core.evaluation.promotion import unchanged_reason

    assert unchanged_reason(None, [], "key-a", "eval-1") is None
    record_decision(with_champion, _decide(WORSE_PRED, with_champion), "run-2", "key-a",
                    "eval-1")
    decisions = read_decisions(with_champion)
    reason = unchanged_reason(load_champion(with_champion), decisions, "key-a", "eval-1")
    assert reason is not None and "run-2" in reason and "not promoted" in reason
    assert "force=true" in reason
    assert unchanged_reason(load_champion(with_champion), decisions, "key-b", "eval-1") is None
