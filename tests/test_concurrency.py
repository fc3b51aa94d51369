"""One training of an experiment at a time, on a real Prefect server (the test harness):
a second run of a busy experiment is skipped with its reason when the config says so."""

from __future__ import annotations

import pytest
from prefect import flow

from rm_core.config import ExperimentConfig
from tasks.concurrency import slot_name, training_slot

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow
def second_run(config: ExperimentConfig) -> str | None:
    with training_slot(config) as busy:
        return busy


@flow
def first_run(config: ExperimentConfig) -> tuple[str | None, str | None]:
    """Hold the experiment's slot and start a second run meanwhile."""
    with training_slot(config) as busy:
        return busy, second_run(config)


def test_a_second_run_of_a_busy_experiment_is_skipped_with_when_busy_skip() -> None:
    config = ExperimentConfig(name="busy/one", when_busy="skip")
    first, second = first_run(config)
    assert first is None
    assert second is not None and "'busy/one' is training in another run" in second
    assert slot_name("busy/one") in second and "when_busy is 'skip'" in second
    # the slot was given back: a later run trains
    assert second_run(config) is None


def test_other_experiments_do_not_share_the_slot() -> None:
    busy = ExperimentConfig(name="busy-two", when_busy="skip")

    @flow
    def two_experiments() -> str | None:
        with training_slot(busy):
            return second_run(ExperimentConfig(name="idle", when_busy="skip"))

    assert two_experiments() is None
