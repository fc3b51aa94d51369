"""TrainSpec: what a GRPO run of a judge needs, independent of where it runs.

The same spec runs on this CPU machine (profile `cpu`: hf rollout, fsdp2, sdpa, gloo,
the CPU patches, small batches) and on a GPU Ray cluster (profile `gpu`: vLLM rollout,
tensor parallel). A profile supplies defaults for the GRPO settings the YAML leaves
out, plus the verl overrides of its hardware. `verl_overrides` renders everything as
Hydra overrides of verl's own `ppo_trainer` config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rm_core.training.sft_spec import SftSpec, with_profile_defaults

ProfileName = Literal["cpu", "gpu"]
# Relative to the job's working_dir (the project's code), where verl loads it by path.
JUDGE_DATASET_FILE = "rm_core/training/judge_dataset.py"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrpoSettings(Strict):
    """The GRPO knobs users tune; defaults come from the profile."""

    rollout_n: int = Field(gt=1, description="samples per prompt: the GRPO group size")
    train_batch_size: int = Field(gt=0, description="prompts per step")
    ppo_mini_batch_size: int = Field(gt=0, description="prompts per actor update")
    micro_batch_size_per_gpu: int = Field(gt=0)
    max_prompt_length: int = Field(gt=0, description="tokens")
    max_response_length: int = Field(gt=0, description="tokens")
    lr: float = Field(gt=0)
    use_kl_loss: bool = True
    kl_loss_coef: float = Field(0.001, ge=0)
    entropy_coeff: float = Field(0.0, ge=0)
    temperature: float = Field(1.0, gt=0)
    total_epochs: int = Field(1, gt=0)
    total_training_steps: int | None = Field(None, gt=0, description="caps the epochs")
    lora_rank: int = Field(0, ge=0, description="0: full fine-tuning; > 0: LoRA of this rank "
                           "(wants a 10-100x higher lr)")
    lora_alpha: float = Field(16.0, gt=0)
    lora_target_modules: str = "all-linear"

    @model_validator(mode="after")
    def _mini_batch_divides_batch(self) -> GrpoSettings:
        if self.train_batch_size % self.ppo_mini_batch_size:
            raise ValueError(
                f"ppo_mini_batch_size {self.ppo_mini_batch_size} must divide "
                f"train_batch_size {self.train_batch_size}"
            )
        return self


class GpuSettings(Strict):
    """Cluster shape for the gpu profile."""

    n_gpus_per_node: int = Field(8, gt=0)
    nnodes: int = Field(1, gt=0)
    tensor_parallel_size: int = Field(2, gt=0)
    gpu_memory_utilization: float = Field(0.6, gt=0, le=1)


class CpuSettings(Strict):
    """Threads each training process may use on the cpu profile, and the work a step skips
    (`rm_core.training.cpu_steps`; all on by default, compared in benchmarks/train_cpu.py)."""

    threads: int = Field(2, gt=0)
    trim_padding: bool = Field(True, description="pad prompts and responses per batch, "
                               "not to max_prompt_length / max_response_length")
    stop_at_answer: bool = Field(True, description="end each sample at the answer's "
                                 "closing tag and mask what follows")
    drop_uniform_groups: bool = Field(True, description="leave prompt groups whose rewards "
                                      "are all equal out of the actor update")


class WandbSettings(Strict):
    """Weights & Biases logging; offline unless the user asks for online (needs a key)."""

    enabled: bool = True
    mode: Literal["offline", "online"] = "offline"
    project: str = "rm-pipeline"


class RewardSettings(Strict):
    """Parameters of the pointwise reward exp(-k * |pred - true| / max_score)."""

    k: float = Field(2.0, gt=0)


PROFILE_GRPO_DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {
        "rollout_n": 4,
        "train_batch_size": 4,
        "ppo_mini_batch_size": 4,
        "micro_batch_size_per_gpu": 4,
        "max_prompt_length": 1024,
        "max_response_length": 64,
        "lr": 1e-6,
    },
    # The RM-Gallery pointwise run script's settings.
    "gpu": {
        "rollout_n": 4,
        "train_batch_size": 96,
        "ppo_mini_batch_size": 24,
        "micro_batch_size_per_gpu": 4,
        "max_prompt_length": 4096,
        "max_response_length": 2048,
        "lr": 1e-6,
    },
}


class TrainSpec(Strict):
    """One GRPO training run of a judge model."""

    profile: ProfileName = "cpu"
    model_path: str = Field(
        "smollm2-135m",
        description="a Hugging Face model folder or hub name; 'smollm2-135m' is the embedded "
        "offline model, converted on first use",
    )
    train_files: Path | None = Field(None, description="verl parquet; default: the data stage's")
    val_files: Path | None = None
    grpo: GrpoSettings
    sft: SftSpec = Field(description="optional supervised warm start before GRPO")
    save_freq: int = Field(2, description="steps between checkpoints (-1: only at the end)")
    test_freq: int = Field(2, description="steps between validations (-1: never)")
    val_before_train: bool = True
    max_checkpoints_to_keep: int | None = Field(2, gt=0)
    resume_mode: Literal["auto", "disable"] = "auto"
    checkpoint_dir: Path | None = Field(None, description="default: the run's directory")
    thinking: bool = Field(False, description="reasoning model: enable_thinking in the template")
    reward: RewardSettings = RewardSettings()
    wandb: WandbSettings = WandbSettings()
    cpu: CpuSettings = CpuSettings()
    gpu: GpuSettings = GpuSettings()
    extra_overrides: tuple[str, ...] = Field(
        (), description="verl Hydra overrides passed through as they are, applied last"
    )

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            profile = data.get("profile", "cpu")
            given = data.get("grpo") or {}
            if isinstance(given, dict) and profile in PROFILE_GRPO_DEFAULTS:
                data = {**data, "grpo": {**PROFILE_GRPO_DEFAULTS[profile], **given}}
            data = {**data, "sft": with_profile_defaults(profile, data.get("sft"))}
        return data


class RunPaths(Strict):
    """Concrete inputs and outputs of one run, resolved by the caller."""

    model: Path
    train_files: Path
    val_files: Path
    checkpoint_dir: Path
    reward_file: Path
    experiment_name: str
    dimension: str = "helpfulness"
    dimensions: tuple[str, ...] = ()  # a multi-attribute judge: every one of these
    weights: dict[str, float] = Field(default_factory=dict)
    allow_tie: bool = True
    max_score: int = 4
    answer_prefix: str = ""


def _multi_attribute(paths: RunPaths) -> list[str]:
    """The reward's dimensions and weights, for a judge that scores several at once."""
    if not paths.dimensions:
        return []
    prefix = "+custom_reward_function.reward_kwargs"
    overrides = [f"{prefix}.dimensions=[{','.join(paths.dimensions)}]"]
    if paths.weights:
        weights = ",".join(f"{name}:{weight}" for name, weight in paths.weights.items())
        overrides.append(f"{prefix}.weights={{{weights}}}")
    return overrides


def verl_overrides(spec: TrainSpec, paths: RunPaths) -> list[str]:
    """Hydra overrides of verl's `ppo_trainer` config for `spec` on its profile."""
    grpo = spec.grpo
    loggers = ["console", "wandb"] if spec.wandb.enabled else ["console"]
    overrides = [
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=false",
        f"data.train_files={_quote(paths.train_files)}",
        f"data.val_files={_quote(paths.val_files)}",
        "data.prompt_key=prompt",
        f"data.train_batch_size={grpo.train_batch_size}",
        f"data.max_prompt_length={grpo.max_prompt_length}",
        f"data.max_response_length={grpo.max_response_length}",
        "data.filter_overlong_prompts=true",
        "data.truncation=error",
        f"data.custom_cls.path={JUDGE_DATASET_FILE}",
        "data.custom_cls.name=JudgeRLDataset",
        f"+data.answer_prefix={_quote(paths.answer_prefix)}",
        f"+data.enable_thinking={str(spec.thinking).lower()}",
        f"actor_rollout_ref.model.path={_quote(paths.model)}",
        f"actor_rollout_ref.actor.optim.lr={grpo.lr}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={grpo.ppo_mini_batch_size}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={grpo.micro_batch_size_per_gpu}",
        f"actor_rollout_ref.actor.use_kl_loss={str(grpo.use_kl_loss).lower()}",
        f"actor_rollout_ref.actor.kl_loss_coef={grpo.kl_loss_coef}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        f"actor_rollout_ref.actor.entropy_coeff={grpo.entropy_coeff}",
        f"actor_rollout_ref.rollout.n={grpo.rollout_n}",
        f"actor_rollout_ref.rollout.temperature={grpo.temperature}",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu="
        f"{grpo.micro_batch_size_per_gpu}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={grpo.micro_batch_size_per_gpu}",
        "reward_model.reward_manager=naive",
        f"custom_reward_function.path={_quote(paths.reward_file)}",
        "custom_reward_function.name=compute_score",
        f"+custom_reward_function.reward_kwargs.k={spec.reward.k}",
        f"+custom_reward_function.reward_kwargs.max_score={paths.max_score}",
        f"+custom_reward_function.reward_kwargs.dimension={paths.dimension}",
        f"+custom_reward_function.reward_kwargs.answer_prefix={_quote(paths.answer_prefix)}",
        f"+custom_reward_function.reward_kwargs.allow_tie={str(paths.allow_tie).lower()}",
        *_multi_attribute(paths),
        f"trainer.logger=[{','.join(loggers)}]",
        f"trainer.project_name={spec.wandb.project}",
        f"trainer.experiment_name={paths.experiment_name}",
        f"trainer.default_local_dir={_quote(paths.checkpoint_dir)}",
        f"trainer.save_freq={spec.save_freq}",
        f"trainer.test_freq={spec.test_freq}",
        f"trainer.val_before_train={str(spec.val_before_train).lower()}",
        f"trainer.total_epochs={grpo.total_epochs}",
        f"trainer.resume_mode={spec.resume_mode}",
    ]
    if grpo.total_training_steps is not None:
        overrides.append(f"trainer.total_training_steps={grpo.total_training_steps}")
    if grpo.lora_rank:
        overrides += [f"actor_rollout_ref.model.lora_rank={grpo.lora_rank}",
                      f"actor_rollout_ref.model.lora_alpha={grpo.lora_alpha}",
                      f"actor_rollout_ref.model.target_modules={_quote(grpo.lora_target_modules)}"]
    if spec.max_checkpoints_to_keep is not None:
        overrides.append(f"trainer.max_actor_ckpt_to_keep={spec.max_checkpoints_to_keep}")
    overrides += _profile_overrides(spec, paths)
    return overrides + list(spec.extra_overrides)


def stop_strings(paths: RunPaths) -> list[str]:
    """The closing tags that end an answer: the last dimension's for a multi-attribute
    judge (its tags come in order), else the pointwise and the pairwise tag."""
    if paths.dimensions:
        return [f"</{paths.dimensions[-1]}>"]
    return ["</score>", "</preference>"]


def _cpu_step_overrides(spec: TrainSpec, paths: RunPaths) -> list[str]:
    """The keys `rm_core.training.cpu_steps` reads from verl's config."""
    cpu, rollout = spec.cpu, "+actor_rollout_ref.rollout"
    overrides = [f"{rollout}.trim_padding={str(cpu.trim_padding).lower()}",
                 f"+algorithm.drop_uniform_groups={str(cpu.drop_uniform_groups).lower()}"]
    if cpu.stop_at_answer:
        tags = ",".join(_quote(tag) for tag in stop_strings(paths))
        overrides.append(f"{rollout}.stop_strings=[{tags}]")
    return overrides


def _profile_overrides(spec: TrainSpec, paths: RunPaths) -> list[str]:
    if spec.profile == "cpu":
        return [*_cpu_step_overrides(spec, paths),
            "trainer.device=cpu",
            "trainer.n_gpus_per_node=1",
            "trainer.nnodes=1",
            "actor_rollout_ref.rollout.name=hf",
            "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
            "actor_rollout_ref.actor.strategy=fsdp2",
            "actor_rollout_ref.ref.strategy=fsdp2",
            "critic.strategy=fsdp2",
            "actor_rollout_ref.model.use_remove_padding=false",
            "actor_rollout_ref.model.enable_gradient_checkpointing=false",
            "actor_rollout_ref.actor.use_torch_compile=false",
            "+actor_rollout_ref.model.override_config._attn_implementation=sdpa",
            "data.dataloader_num_workers=0",
        ]
    gpu = spec.gpu
    return [
        "trainer.device=cuda",
        f"trainer.n_gpus_per_node={gpu.n_gpus_per_node}",
        f"trainer.nnodes={gpu.nnodes}",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.tensor_model_parallel_size={gpu.tensor_parallel_size}",
        f"actor_rollout_ref.rollout.gpu_memory_utilization={gpu.gpu_memory_utilization}",
        "actor_rollout_ref.actor.strategy=fsdp",
        "actor_rollout_ref.model.use_remove_padding=true",
        "actor_rollout_ref.model.enable_gradient_checkpointing=true",
    ]


def _quote(value: object) -> str:
    """A Hydra override value that survives spaces, commas and special characters."""
    text = str(value)
    if text and all(ch.isalnum() or ch in "/._-+:" for ch in text):
        return text
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def job_env(spec: TrainSpec) -> dict[str, str]:
    """Environment of the training job (no secrets: those are added by the caller)."""
    env = {"HYDRA_FULL_ERROR": "1", "TOKENIZERS_PARALLELISM": "false"}
    if spec.wandb.enabled:
        env["WANDB_MODE"] = spec.wandb.mode
    if spec.profile == "cpu":
        threads = str(spec.cpu.threads)
        env.update({"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads,
                    "MKL_NUM_THREADS": threads})
    return env
