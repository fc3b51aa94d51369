"""One resolved config per run: flow parameters and `overrides` (dotted keys) reach every
stage of a real pointwise-train run, down to the champion's record; bad keys are clear
errors."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import wait_for
from prefect_events import asset_graph
from tiny_training import TINY_TRAINING

from deployments.run import parameters
from flows.judge_training import RunSettings, config_setting
from flows.pointwise_train import main, pointwise_train
from rm_core.config import SAMPLE_FILES, load_experiment
from rm_core.errors import ConfigError
from rm_core.evaluation.registry import load_champion

# Not this run's model and steps: the run's flow parameters replace them.
YAML_TRAINING = {**TINY_TRAINING, "model_path": "no-such-model"}


def write_config(path: Path) -> Path:
    config = {"name": "tiny", "data": {"template": {"answer_prefix": "<score>"}},
              "training": YAML_TRAINING, "evaluation": {"limit": 8, "n_resamples": 100}}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.usefixtures("prefect_harness")
def test_parameters_and_overrides_reach_data_training_evaluation_and_registry(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "tiny.yaml")
    root = tmp_path / "art"
    result = pointwise_train(
        str(config), max_steps=1, model_path="tiny-qwen2", artifacts_dir=str(root),
        overrides={"evaluation.limit": 6, "evaluation.include_base": False,
                   "evaluation.gate.beat_constants": False,
                   "evaluation.gate.positive_spearman": False,
                   "data.split.val_fraction": 0.3},
    )

    assert result.train.last_step == 1
    steps = sorted(step.name for step in result.train.checkpoint_dir.glob("global_step_*"))
    assert steps == ["global_step_1"]
    evaluation = result.evaluation
    assert [(m.label, m.evaluation.n) for m in evaluation.models] == [("step 1", 6)]
    # no base model judged and the bars a random judge cannot clear switched off: the
    # first model becomes the champion
    assert evaluation.decision is not None and evaluation.decision.promote
    recorded = load_champion(root / "registry" / "tiny").config["config"]
    assert recorded["training"]["grpo"]["total_training_steps"] == 1
    assert recorded["training"]["model_path"] == "tiny-qwen2"
    assert recorded["evaluation"]["limit"] == 6
    assert recorded["data"]["split"]["val_fraction"] == 0.3
    # the data stage split with the overridden fraction (the YAML's default is 0.1)
    [report] = [json.loads(path.read_text()) for path in root.glob("split/*/split_report.json")]
    share = report["val_prompts"] / (report["val_prompts"] + report["train_prompts"])
    assert share == pytest.approx(0.3, abs=0.02)

    # lineage: source -> verl dataset -> the checkpoint -> the champion, as Prefect assets
    checkpoint = result.train.checkpoint_dir / "global_step_1"
    [dataset] = root.glob("verl/*")
    graph = wait_for(lambda: (found := asset_graph(root)) and len(found) == 3 and found, 60)
    assert graph == {f"file://{dataset}": {f"file://{SAMPLE_FILES['helpsteer2']}"},
                     f"file://{checkpoint}": {f"file://{dataset}"},
                     f"file://{root / 'registry' / 'tiny' / 'champion'}": {f"file://{checkpoint}"}}


@pytest.mark.usefixtures("prefect_harness")
def test_an_unknown_key_fails_the_run_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "tiny.yaml")
    assert main([str(config), "--artifacts-dir", str(tmp_path / "art"),
                 "--set", "evaluation.limit=6", "--set", "evaluation.limt=6"]) == 1
    err = capsys.readouterr().err
    assert "unknown config key 'evaluation.limt': evaluation has no setting 'limt'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("key", "reason"), [
    ("trainin.model_path", "the experiment config has no setting 'trainin'"),
    ("training.model_path.name", "training.model_path is a value, not a section"),
    ("ray.model_jobs.gpus", "ray.model_jobs has no setting 'gpus'"),
])
def test_load_experiment_names_an_unknown_override_key(tmp_path: Path, key: str,
                                                       reason: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"unknown config key '{key}': {reason}")):
        load_experiment(write_config(tmp_path / "tiny.yaml"), {key: 1})


def test_overrides_reach_nested_sections_and_free_form_mappings(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text("name: bare\ntraining:\n")  # an empty section is filled by overrides
    config = load_experiment(path, {"training.grpo.total_training_steps": 1,
                                    "ray.model_jobs.resources.model_node": 1,
                                    "data.dimension_weights.helpfulness": 2.0,
                                    "data.dimensions": ["helpfulness"]})
    assert config.training.grpo.total_training_steps == 1
    assert config.ray.model_jobs.resources == {"model_node": 1}
    assert config.data.dimension_weights == {"helpfulness": 2.0}


def test_a_key_set_twice_with_different_values_is_an_error() -> None:
    steps = "training.grpo.total_training_steps"
    same = RunSettings(max_steps=1, overrides={steps: 1, "evaluation.limit": 6}).config_overrides()
    assert same == {steps: 1, "evaluation.limit": 6}
    with pytest.raises(ConfigError, match=re.escape(f"{steps} set twice")):
        RunSettings(max_steps=1, overrides={steps: 2}).config_overrides()


def test_set_reads_values_as_yaml() -> None:
    assert config_setting("evaluation.limit=6") == ("evaluation.limit", 6)
    assert config_setting("evaluation.include_base=false") == ("evaluation.include_base", False)
    assert config_setting("training.model_path=tiny-qwen2") == ("training.model_path",
                                                                "tiny-qwen2")
    with pytest.raises(argparse.ArgumentTypeError, match="wants KEY=VALUE"):
        config_setting("evaluation.limit")


def test_deployment_runner_passes_overrides_as_one_dict_parameter() -> None:
    args = argparse.Namespace(config=None, artifacts_dir=None, max_steps=1, model_path=None,
                              profile=None, ray_address=None,
                              param=['overrides={"evaluation.limit": 6, '
                                     '"evaluation.include_base": false}'])
    assert parameters(args) == {"max_steps": 1, "overrides": {
        "evaluation.limit": 6, "evaluation.include_base": False}}
