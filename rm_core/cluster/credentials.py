"""Credentials around a Ray job: which cluster token to use, the secrets a job gets, and
their removal from log lines.

The orchestrator's own secret store (a Prefect Secret block) is passed in as a lookup
`name -> value or None`, so this stays free of Prefect and is consulted only when the
environment does not already answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

from rm_core.cluster.jobs import AUTH_TOKEN_PATH_VAR, AUTH_TOKEN_VAR
from rm_core.config import RAY_ADDRESS_VAR, RAY_TOKEN_PATH_VAR

__all__ = ["JOB_SECRETS", "RAY_TOKEN_SECRET", "SecretLookup", "auth_env", "job_secrets",
           "redact"]

SecretLookup = Callable[[str], str | None]
# Environment variables a training job gets when set (else from the secret store, under
# the lower-case, dashed name: WANDB_API_KEY -> wandb-api-key).
JOB_SECRETS = ("WANDB_API_KEY",)
RAY_TOKEN_SECRET = "ray-auth-token"


def auth_env(address: str, token_path: str | None, secret: SecretLookup,
             environ: Mapping[str, str] = os.environ) -> dict[str, str] | None:
    """The token for the job API at `address`, as `job_client` takes it; None if none.

    In order: the token file of a private head started for the run (`token_path`); the
    default cluster's token file (`RM_PIPELINE_RAY_TOKEN_PATH`, the local stack's head)
    when `address` is that cluster (`RM_PIPELINE_RAY_ADDRESS`); `RAY_AUTH_TOKEN`; the
    file named by `RAY_AUTH_TOKEN_PATH`; the secret `ray-auth-token`.
    """
    if token_path:
        return {AUTH_TOKEN_PATH_VAR: token_path}
    default_token = environ.get(RAY_TOKEN_PATH_VAR)
    if default_token and address == environ.get(RAY_ADDRESS_VAR):
        return {AUTH_TOKEN_PATH_VAR: default_token}
    if environ.get(AUTH_TOKEN_VAR):
        return {AUTH_TOKEN_VAR: environ[AUTH_TOKEN_VAR]}
    if environ.get(AUTH_TOKEN_PATH_VAR):
        return {AUTH_TOKEN_PATH_VAR: environ[AUTH_TOKEN_PATH_VAR]}
    token = secret(RAY_TOKEN_SECRET)
    return {AUTH_TOKEN_VAR: token} if token else None


def job_secrets(secret: SecretLookup, environ: Mapping[str, str] = os.environ
                ) -> dict[str, str]:
    """The `JOB_SECRETS` that are set, from the environment or else the secret store."""
    found = {}
    for name in JOB_SECRETS:
        value = environ.get(name) or secret(name.lower().replace("_", "-"))
        if value:
            found[name] = value
    return found


def redact(line: str, secrets: Iterable[str]) -> str:
    """`line` with every occurrence of a secret value replaced by `***`."""
    for value in secrets:
        line = line.replace(value, "***")
    return line
