"""SftSpec: the optional supervised warm start of a generative judge before GRPO.

`training.sft` in the experiment config. Off unless `enabled`; the profile (the training
spec's `cpu` or `gpu`) supplies the defaults the YAML leaves out, as for GRPO.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrainerSettings(BaseModel):
    """What a Hugging Face trainer run under Ray Train is given (SFT, Bradley-Terry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(ge=1, description="passes over the train split")
    lr: float = Field(gt=0, lt=1, description="AdamW learning rate")
    max_length: int = Field(ge=16, description="tokens of prompt + answer; longer examples "
                            "are left out (counted), never truncated")
    batch_size: int = Field(ge=1, description="examples (pairs) per optimizer step")
    warmup_steps: int = Field(ge=0, description="linear warm-up, then linear decay")
    max_grad_norm: float = Field(gt=0, description="gradient clipping")
    weight_decay: float = Field(0.0, ge=0)
    save_steps: int = Field(ge=1, description="optimizer steps between checkpoints a "
                            "killed job resumes from")
    bf16: bool = Field(description="bf16 autocast (fp32 master weights)")
    seed: int = 0


class SftSpec(TrainerSettings):
    """Supervised fine-tuning on the train split's judgements: rendered judge prompt ->
    the label in the template's answer format, loss on the answer only."""

    enabled: bool = False


# The cpu values are what the embedded sample was measured with (docs/pipeline.md): two
# epochs of SmolLM2-135M lift its val mean reward far above the "always 2" reference.
PROFILE_SFT_DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {"epochs": 2, "lr": 5e-5, "max_length": 1024, "batch_size": 8,
            "warmup_steps": 10, "max_grad_norm": 1.0, "save_steps": 25, "bf16": True},
    "gpu": {"epochs": 2, "lr": 1e-5, "max_length": 4096, "batch_size": 32,
            "warmup_steps": 10, "max_grad_norm": 1.0, "save_steps": 100, "bf16": True},
}


def with_profile_defaults(profile: str, given: Any) -> Any:
    """`given` (the YAML's `training.sft`) completed with the profile's defaults."""
    if given is None:
        given = {}
    if isinstance(given, dict) and profile in PROFILE_SFT_DEFAULTS:
        return {**PROFILE_SFT_DEFAULTS[profile], **given}
    return given
