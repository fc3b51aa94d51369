"""The SFT warm start: its examples parse back to their labels, bad settings are refused,
its key chains into training's, and a real tiny job on Ray makes the training answers
more likely, resuming from its last checkpoint after its driver is killed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from killed_jobs import killed_then_resumed

from rm_core.artifacts import is_complete, read_result
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.resources import JobResources
from rm_core.config import load_experiment
from rm_core.errors import ConfigError
from rm_core.judge.templates import MultiAttributeTemplate, PairwiseTemplate, PointwiseTemplate
from rm_core.model_jobs import sft_job
from rm_core.training import run
from rm_core.training.sft_examples import completion_text
from rm_core.training.sft_spec import PROFILE_SFT_DEFAULTS
from rm_core.training.spec import TrainSpec

TRUTH = {"helpfulness": 3, "correctness": 1, "coherence": 4, "complexity": 0, "verbosity": 2}
# Small enough for the tiny model to learn in seconds; checkpoints often, so a kill lands
# between two of them.
TINY_SFT = {"enabled": True, "epochs": 1, "lr": 3e-3, "batch_size": 8, "warmup_steps": 0,
            "save_steps": 5, "bf16": False}


@pytest.mark.parametrize("template", [
    PointwiseTemplate(answer_prefix="<score>"),
    PointwiseTemplate(dimension="coherence"),
    MultiAttributeTemplate(("helpfulness", "verbosity"), answer_prefix="<helpfulness>"),
    PairwiseTemplate(answer_prefix="<preference>"),
])
def test_an_example_answer_parses_back_to_its_label(template) -> None:
    truth = {**TRUTH, "preference": "B", "strength": 2}
    parsed = template.parse_completion(completion_text(template, truth))
    expected = {
        PointwiseTemplate: lambda: truth[template.dimension],
        MultiAttributeTemplate: lambda: {d: truth[d] for d in template.dimensions},
        PairwiseTemplate: lambda: "B",
    }[type(template)]()
    assert parsed == expected


def _config(tmp_path: Path, sft: dict) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump({"name": "sft", "training": {"sft": sft}}), "utf-8")
    return path


def test_sft_is_off_unless_enabled_and_takes_the_profile_defaults(tmp_path: Path) -> None:
    spec = load_experiment(_config(tmp_path, {})).training
    assert not spec.sft.enabled
    assert spec.sft.model_dump(exclude={"enabled", "weight_decay", "seed"}) == \
        PROFILE_SFT_DEFAULTS["cpu"]
    gpu = TrainSpec(profile="gpu", sft={"enabled": True, "epochs": 3})
    assert (gpu.sft.epochs, gpu.sft.batch_size) == (3, PROFILE_SFT_DEFAULTS["gpu"]["batch_size"])


@pytest.mark.parametrize(("setting", "value"), [
    ("epochs", 0), ("lr", 0), ("lr", 2.0), ("batch_size", 0), ("max_length", 4),
    ("warmup_steps", -1), ("max_grad_norm", 0), ("save_steps", 0), ("unknown", 1),
])
def test_sft_settings_that_cannot_work_are_refused_naming_them(
    tmp_path: Path, setting: str, value: object
) -> None:
    path = _config(tmp_path, {"enabled": True, setting: value})
    with pytest.raises(ConfigError) as refused:
        load_experiment(path)
    assert str(path) in str(refused.value)
    assert f"training.sft.{setting}" in str(refused.value)


def test_the_sft_key_chains_into_the_train_key_and_not_into_the_data(
    workspace: dict, tmp_path: Path
) -> None:
    verl, model = workspace["verl"], workspace["model"]
    off, on = TrainSpec(grpo={}), TrainSpec(grpo={}, sft={"enabled": True})
    faster = TrainSpec(grpo={}, sft={"enabled": True, "lr": 1e-4})
    assert run.sft_dir(verl, off, model, tmp_path) is None
    # Off, its settings weigh nothing; on, every one does, through the SFT key.
    assert run.train_key(verl, off, model) == run.train_key(
        verl, TrainSpec(grpo={}, sft={"lr": 1e-4}), model)
    assert run.train_key(verl, on, model) != run.train_key(verl, off, model)
    assert run.sft_key(verl, faster, model) != run.sft_key(verl, on, model)
    assert run.train_key(verl, faster, model) != run.train_key(verl, on, model)
    assert run.sft_key(verl, on, model) == run.sft_key(verl, TrainSpec(grpo={}, sft={
        "enabled": True}), model)
    assert verl.key == workspace["verl"].key  # the data stage is upstream: untouched


def _tiny_job(workspace: dict, root: Path):
    spec = TrainSpec(grpo={"rollout_n": 2, "max_response_length": 8}, sft=TINY_SFT)
    verl, model = workspace["verl"], workspace["model"]
    out = run.sft_dir(verl, spec, model, root)
    job = sft_job(str(model), verl.train_path, verl.val_path, workspace["data"], spec, out,
                  root / "jobs" / "sft" / out.name, JobResources(num_cpus=1))
    return job, out


def test_a_tiny_sft_job_learns_the_answers_and_resumes_after_its_driver_is_killed(
    cluster: LocalRayCluster, workspace: dict
) -> None:
    job, out = _tiny_job(workspace, workspace["root"] / "sft")
    done, _, _, _ = killed_then_resumed(cluster, job, out)
    # The training answers became far more likely, and the model is a loadable folder.
    assert done["answer_nll_after"] < 0.5 * done["answer_nll_before"], done
    assert is_complete(out) and (out / "model.safetensors").is_file()
    assert read_result(out)["steps"] == done["steps"]
    assert done["signal"]["samples"] > 0
    assert not (job.work_dir / "ray_train").exists()  # checkpoints cleaned once done
