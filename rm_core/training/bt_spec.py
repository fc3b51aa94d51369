"""BtSpec: a Bradley-Terry reward model, the base model with a scalar head trained on
preference pairs.

`bradley_terry` in the experiment config (a config with it is run by `bt-train`; one
with `training` by the generative judges' flows). The profile supplies the defaults the
YAML leaves out, as `TrainSpec`'s does for GRPO.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BtSpec(BaseModel):
    """One Bradley-Terry training run: loss -log sigmoid(r_chosen - r_rejected - margin)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Literal["cpu", "gpu"] = "cpu"
    model_path: str = Field(
        "smollm2-135m",
        description="a Hugging Face model folder or hub name; 'smollm2-135m' is the embedded "
        "offline model; it gets a one-label scalar head",
    )
    margin: bool = Field(False, description="subtract a margin taken from the pair's "
                         "preference strength (TRL RewardTrainer's `margin` column)")
    margin_scale: float = Field(1.0, gt=0, description="margin = scale x preference strength")
    epochs: int = Field(ge=1, description="passes over the train split's pairs")
    lr: float = Field(gt=0, lt=1, description="AdamW learning rate")
    max_length: int = Field(ge=16, description="tokens of prompt + answer; longer pairs are "
                            "left out (counted), never truncated")
    batch_size: int = Field(ge=1, description="pairs per optimizer step")
    warmup_steps: int = Field(ge=0, description="linear warm-up, then linear decay")
    max_grad_norm: float = Field(gt=0, description="gradient clipping")
    weight_decay: float = Field(0.0, ge=0)
    save_steps: int = Field(ge=1, description="optimizer steps between checkpoints a killed "
                            "job resumes from")
    bf16: bool = Field(description="bf16 autocast (fp32 master weights)")
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            profile = data.get("profile", "cpu")
            if profile in PROFILE_BT_DEFAULTS:
                data = {**PROFILE_BT_DEFAULTS[profile], **data}
        return data


# cpu: sized for SmolLM2-135M on two cores and the embedded sample; gpu: the usual
# reward-model recipe (OpenRLHF / TRL examples: lr 9e-6 to 2e-5, one or two epochs).
PROFILE_BT_DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {"epochs": 1, "lr": 2e-5, "max_length": 1024, "batch_size": 4,
            "warmup_steps": 5, "max_grad_norm": 1.0, "save_steps": 25, "bf16": True},
    "gpu": {"epochs": 1, "lr": 1e-5, "max_length": 4096, "batch_size": 64,
            "warmup_steps": 10, "max_grad_norm": 1.0, "save_steps": 100, "bf16": True},
}
