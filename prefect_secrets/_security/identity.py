"""`Identity`: who a flow run runs as, in the terms Prefect's work pools understand.

Flyte's `Identity` (iam_role, k8s_service_account, ...) names the identity a task runs
under; Prefect has no such notion of its own, but its work pools do: a Kubernetes job's
service account, an ECS task's task role and execution role. `to_job_variables` maps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Identity"]

# Kubernetes object names (DNS-1123 subdomain): checked here so that a typo fails when
# the context is declared, not when the worker submits the job.
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


@dataclass(frozen=True)
class Identity:
    """The identity a flow run runs as; every field optional.

    Identity(k8s_service_account="etl-runner")                          # Kubernetes
    Identity(iam_role="arn:aws:iam::123456789012:role/etl-task",        # ECS task role
             execution_role="arn:aws:iam::123456789012:role/etl-exec")  # ECS execution role
    """

    k8s_service_account: str | None = None
    """The Kubernetes service account of the flow run's pod (`serviceAccountName`)."""
    iam_role: str | None = None
    """The AWS IAM role the flow run's code acts as: the ECS task role (`taskRoleArn`)."""
    execution_role: str | None = None
    """The IAM role ECS uses to start the task (pull the image, read the container's
    `secrets` from Secrets Manager): the ECS execution role (`executionRoleArn`)."""

    def __post_init__(self) -> None:
        account = self.k8s_service_account
        if account is not None and not (isinstance(account, str) and _K8S_NAME.fullmatch(account)):
            raise ValueError(
                f"Identity.k8s_service_account {account!r}: not a Kubernetes name (lower-case "
                "letters, digits, '-' and '.', at most 253)"
            )
        for field in ("iam_role", "execution_role"):
            role = getattr(self, field)
            if role is not None and not (isinstance(role, str) and _ROLE_ARN.fullmatch(role)):
                raise ValueError(
                    f"Identity.{field} {role!r}: not an IAM role ARN "
                    "(arn:aws:iam::<account>:role/<name>)"
                )
