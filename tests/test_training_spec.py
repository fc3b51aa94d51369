"""TrainSpec -> verl overrides, checked against verl's own Hydra config for each profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from rm_core.config import load_experiment
from rm_core.errors import ConfigError
from rm_core.training.launcher import validated_config
from rm_core.training.spec import RunPaths, TrainSpec, verl_overrides

PATHS = RunPaths(
    model=Path("/models/judge"),
    train_files=Path("/data/train.parquet"),
    val_files=Path("/data/val set.parquet"),
    checkpoint_dir=Path("/runs/r1/checkpoints"),
    reward_file=Path("/code/rm_core/judge/rewards.py"),
    experiment_name="r1",
    answer_prefix="<score>",
)


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_each_profile_composes_with_verls_own_config(profile: str) -> None:
    spec = TrainSpec(profile=profile, grpo={})
    config = validated_config(verl_overrides(spec, PATHS))
    assert config.algorithm.adv_estimator == "grpo"
    assert config.data.val_files == "/data/val set.parquet"
    assert config.data.answer_prefix == "<score>"
    assert config.custom_reward_function.reward_kwargs.answer_prefix == "<score>"
    assert config.actor_rollout_ref.rollout.n == spec.grpo.rollout_n


def test_cpu_profile_has_the_cpu_settings() -> None:
    config = validated_config(verl_overrides(TrainSpec(profile="cpu", grpo={}), PATHS))
    assert config.trainer.device == "cpu"
    assert config.actor_rollout_ref.rollout.name == "hf"
    assert config.actor_rollout_ref.actor.strategy == "fsdp2"
    assert config.actor_rollout_ref.model.override_config._attn_implementation == "sdpa"
    assert config.actor_rollout_ref.model.use_remove_padding is False


def test_gpu_profile_follows_the_seed_run_script() -> None:
    config = validated_config(verl_overrides(TrainSpec(profile="gpu", grpo={}), PATHS))
    assert config.actor_rollout_ref.rollout.name == "vllm"
    assert config.data.train_batch_size == 96
    assert config.actor_rollout_ref.actor.ppo_mini_batch_size == 24
    assert config.actor_rollout_ref.actor.optim.lr == pytest.approx(1e-6)
    assert config.actor_rollout_ref.actor.kl_loss_coef == pytest.approx(0.001)
    assert (config.data.max_prompt_length, config.data.max_response_length) == (4096, 2048)
    assert config.actor_rollout_ref.rollout.tensor_model_parallel_size == 2


def test_yaml_values_override_profile_defaults() -> None:
    spec = TrainSpec(profile="gpu", grpo={"train_batch_size": 48, "lr": 5e-7})
    assert spec.grpo.train_batch_size == 48 and spec.grpo.ppo_mini_batch_size == 24
    assert spec.grpo.lr == 5e-7


def test_extra_overrides_pass_through_and_apply_last() -> None:
    spec = TrainSpec(grpo={}, extra_overrides=("trainer.save_freq=7",))
    assert validated_config(verl_overrides(spec, PATHS)).trainer.save_freq == 7


def test_unknown_key_fails_composition() -> None:
    spec = TrainSpec(grpo={}, extra_overrides=("trainer.no_such_setting=1",))
    with pytest.raises(ConfigCompositionException, match="no_such_setting"):
        validated_config(verl_overrides(spec, PATHS))


def test_wrongly_typed_override_is_named() -> None:
    spec = TrainSpec(grpo={}, extra_overrides=("data.train_batch_size=many",))
    with pytest.raises(ConfigError, match=r"data\.train_batch_size='many': expected int"):
        validated_config(verl_overrides(spec, PATHS))


def test_mini_batch_must_divide_batch() -> None:
    with pytest.raises(ValueError, match="must divide"):
        TrainSpec(grpo={"train_batch_size": 10, "ppo_mini_batch_size": 4})


TRAINING_CONFIGS = [
    path
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    if load_experiment(path).training is not None
]


def test_the_cpu_and_gpu_configs_are_shipped() -> None:
    names = {path.name for path in TRAINING_CONFIGS}
    assert {"pointwise_helpsteer2_sample.yaml", "pointwise_helpsteer2_gpu.yaml"} <= names


@pytest.mark.parametrize("config_file", TRAINING_CONFIGS, ids=lambda path: path.name)
def test_every_shipped_training_config_composes(config_file: Path) -> None:
    config = load_experiment(config_file)
    verl = validated_config(verl_overrides(config.training, PATHS))
    assert verl.trainer.device == ("cpu" if config.training.profile == "cpu" else "cuda")


def test_multi_attribute_and_pairwise_reward_settings_reach_the_reward_kwargs() -> None:
    multi = PATHS.model_copy(update={"dimensions": ("helpfulness", "correctness"),
                                     "weights": {"helpfulness": 2.0}, "allow_tie": False})
    config = validated_config(verl_overrides(TrainSpec(grpo={}), multi))
    kwargs = config.custom_reward_function.reward_kwargs
    assert list(kwargs.dimensions) == ["helpfulness", "correctness"]
    assert dict(kwargs.weights) == {"helpfulness": 2.0}
    assert kwargs.allow_tie is False
    single = validated_config(verl_overrides(TrainSpec(grpo={}), PATHS))
    assert "dimensions" not in single.custom_reward_function.reward_kwargs


def test_the_cpu_step_savers_reach_the_rollout_and_the_algorithm() -> None:
    on = validated_config(verl_overrides(TrainSpec(grpo={}), PATHS))
    assert on.actor_rollout_ref.rollout.trim_padding is True
    assert list(on.actor_rollout_ref.rollout.stop_strings) == ["</score>", "</preference>"]
    assert on.algorithm.drop_uniform_groups is True
    multi = PATHS.model_copy(update={"dimensions": ("helpfulness", "correctness")})
    assert list(validated_config(verl_overrides(TrainSpec(grpo={}), multi))
                .actor_rollout_ref.rollout.stop_strings) == ["</correctness>"]

    off = TrainSpec(grpo={}, cpu={"trim_padding": False, "stop_at_answer": False,
                                  "drop_uniform_groups": False})
    config = validated_config(verl_overrides(off, PATHS))
    assert config.actor_rollout_ref.rollout.trim_padding is False
    assert "stop_strings" not in config.actor_rollout_ref.rollout
    assert config.algorithm.drop_uniform_groups is False
    gpu = validated_config(verl_overrides(TrainSpec(profile="gpu", grpo={}), PATHS))
    assert "trim_padding" not in gpu.actor_rollout_ref.rollout


def test_lora_uses_verls_own_options() -> None:
    full = validated_config(verl_overrides(TrainSpec(grpo={}), PATHS))
    assert full.actor_rollout_ref.model.lora_rank == 0
    spec = TrainSpec(grpo={"lora_rank": 8, "lora_alpha": 32, "lr": 1e-4})
    model = validated_config(verl_overrides(spec, PATHS)).actor_rollout_ref.model
    assert (model.lora_rank, model.lora_alpha, model.target_modules) == (8, 32, "all-linear")
