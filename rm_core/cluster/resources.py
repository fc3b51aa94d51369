"""What a model job asks the cluster for (`JobResources`), set per profile in the config."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobResources(BaseModel):
    """What a model job's driver asks the cluster for: Ray places the driver on a node
    that has it (never on a head that offers nothing), and its threads follow the CPUs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_cpus: float = Field(2, ge=0)
    num_gpus: float = Field(0, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)

    def placement(self) -> dict[str, Any]:
        """`JobSubmissionClient.submit_job` keyword arguments."""
        placement: dict[str, Any] = {"entrypoint_num_cpus": self.num_cpus}
        if self.num_gpus:
            placement["entrypoint_num_gpus"] = self.num_gpus
        if self.resources:
            placement["entrypoint_resources"] = dict(self.resources)
        return placement

    def node_placement(self) -> dict[str, Any]:
        """Only the custom resources: for a driver whose own work asks for the CPUs."""
        return {"entrypoint_resources": dict(self.resources)} if self.resources else {}

    def threads(self) -> int:
        """Threads torch may use: the CPUs the job was given (Ray gives one otherwise)."""
        return max(1, int(self.num_cpus))
