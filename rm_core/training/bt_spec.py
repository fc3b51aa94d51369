"""BtSpec: a Bradley-Terry reward model, the base model with a scalar head trained on
preference pairs.

`bradley_terry` in the experiment config (a config with it is run by `bt-train`; one
with `training` by the generative judges' flows). The profile supplies the defaults the
YAML leaves out, as `TrainSpec`'s does for GRPO.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rm_core.training.sft_spec import TrainerSettings


class BtSpec(TrainerSettings):
    """One Bradley-Terry training run: loss -log sigmoid(r_chosen - r_rejected - margin)."""

    profile: Literal["cpu", "gpu"] = "cpu"
    model_path: str = Field(
        "smollm2-135m",
        description="a Hugging Face model folder or hub name; 'smollm2-135m' is the embedded "
        "offline model; it gets a one-label scalar head",
    )
    margin: bool = Field(False, description="subtract a margin taken from the pair's "
                         "preference strength (TRL RewardTrainer's `margin` column)")
    margin_scale: float = Field(1.0, gt=0, description="margin = scale x preference strength")

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
