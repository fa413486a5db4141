"""`to_job_variables` and `to_base_job_template`: a `SecurityContext` as a work pool runs it.

Values are never written: the job gets *references* that the platform resolves when it
starts the container, under the names this library reads.

| pool         | run_as                                  | each declared secret                   |
|--------------|-----------------------------------------|----------------------------------------|
| `kubernetes` | `service_account_name`                  | env `PREFECT__CONTEXT__SECRETS__<NAME>`|
|              |                                         | `valueFrom.secretKeyRef`: the k8s      |
|              |                                         | secret `k8s_secret_name`, key <NAME>   |
| `ecs`        | `task_role_arn` (iam_role),             | the container's `secrets`: env         |
|              | `execution_role_arn` (execution_role)   | `PREFECT__CONTEXT__SECRETS__<NAME>`,   |
|              |                                         | `valueFrom` the Secrets Manager ARN    |
| `docker`     | (none: refused)                         | `volumes`: `host_secrets_dir` read-only|
|              |                                         | at /run/secrets (the `mounted` source) |

The default base job templates of prefect-kubernetes and prefect-aws have no variable
for secret references (their `env` holds plain strings, and a value there would be
stored by Prefect in the clear), so for those pools the references go into the work
pool's base job template (`to_base_job_template`), the place prefect-kubernetes
documents for hard-coded secret references; `to_job_variables` gives the rest.
"""

from __future__ import annotations

import copy
import re

from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._config.settings import env_prefix
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.names import env_var_name
from prefect_secrets._security.context import SecurityContext
from prefect_secrets.sources import SecretKey

if TYPE_CHECKING:
    from typing import Any

    from prefect_secrets._secret import Secret

__all__ = ["MOUNT_POINT", "POOL_TYPES", "to_base_job_template", "to_job_variables"]

POOL_TYPES = ("kubernetes", "ecs", "docker")
#: Where Docker's secrets are mounted in the container: the `mounted` source's default.
MOUNT_POINT = "/run/secrets"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SM_ARN_PREFIX = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:")


def to_job_variables(
    ctx: SecurityContext, work_pool_type: str, *, host_secrets_dir: str | None = None
) -> dict[str, Any]:
    """The job variables (of the pool's default base job template) that run a flow as
    `ctx.run_as` and, for Docker, mount its secrets. Raises `ValueError` naming the
    field and the pool type for what the pool cannot express."""
    pool = _pool(work_pool_type)
    _check(ctx, pool)
    identity = ctx.run_as
    variables: dict[str, Any] = {}
    if pool == "kubernetes":
        if identity is not None and identity.k8s_service_account is not None:
            variables["service_account_name"] = identity.k8s_service_account
    elif pool == "ecs":
        if identity is not None and identity.iam_role is not None:
            variables["task_role_arn"] = identity.iam_role
        if identity is not None and identity.execution_role is not None:
            variables["execution_role_arn"] = identity.execution_role
    elif ctx.required():
        if not host_secrets_dir:
            raise ValueError(
                "host_secrets_dir is needed for a docker work pool: the directory of the "
                "worker's host that holds one file per declared secret"
            )
        variables["volumes"] = [f"{host_secrets_dir}:{MOUNT_POINT}:ro"]
        # Set, not left to the default: a mount that failed is then an error, not "no secret".
        variables["env"] = {"PREFECT_SECRETS_MOUNTED_DIRS": MOUNT_POINT}
    return variables


def to_base_job_template(
    ctx: SecurityContext,
    work_pool_type: str,
    base_job_template: dict[str, Any] | None = None,
    *,
    k8s_secret_name: str | None = None,
    aws_secret_arn_prefix: str | None = None,
) -> dict[str, Any]:
    """A copy of `base_job_template` (default: the installed worker's default) with the
    references to `ctx`'s secrets in the job manifest (kubernetes) or the task
    definition (ecs); docker's template is returned unchanged (see `to_job_variables`).

    `k8s_secret_name`: the Kubernetes Secret holding one key per declared secret name.
    `aws_secret_arn_prefix`: `arn:aws:secretsmanager:<region>:<account>:secret:`; the
    secret's name in AWS follows the `aws` source's naming (`prefix`, scopes).
    """
    pool = _pool(work_pool_type)
    _check(ctx, pool)
    template = copy.deepcopy(
        base_job_template if base_job_template is not None else _default_template(pool)
    )
    secrets = ctx.required()
    if pool == "kubernetes" and secrets:
        container = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"][
            "containers"
        ][0]
        # A list, not "{{ env }}": the worker puts the `env` variable's entries first.
        container["env"] = [
            _secret_key_ref(s, _required(k8s_secret_name, "k8s_secret_name", pool)) for s in secrets
        ]
    elif pool == "ecs" and secrets:
        prefix = _required(aws_secret_arn_prefix, "aws_secret_arn_prefix", pool)
        if not _SM_ARN_PREFIX.fullmatch(prefix):
            raise ValueError(
                f"aws_secret_arn_prefix {prefix!r}: expected "
                "arn:aws:secretsmanager:<region>:<account>:secret:"
            )
        container = template["job_configuration"]["task_definition"]["containerDefinitions"][0]
        container["secrets"] = [_ecs_secret(s, prefix) for s in secrets]
    return template


def _pool(work_pool_type: str) -> str:
    if work_pool_type not in POOL_TYPES:
        raise ValueError(
            f"work pool type {work_pool_type!r}: supported are {', '.join(POOL_TYPES)}"
        )
    return work_pool_type


def _check(ctx: SecurityContext, pool: str) -> None:
    """Refuse what `pool` cannot express, naming the field: never a silent drop."""
    if not isinstance(ctx, SecurityContext):
        raise TypeError(f"expected a SecurityContext, not {type(ctx).__name__}")
    cannot = {
        "kubernetes": ("iam_role", "execution_role"),
        "ecs": ("k8s_service_account",),
        "docker": ("k8s_service_account", "iam_role", "execution_role"),
    }[pool]
    for field in cannot:
        if ctx.run_as is not None and getattr(ctx.run_as, field) is not None:
            hint = " (on EKS, annotate the service account: IRSA)" if pool == "kubernetes" else ""
            raise ValueError(f"run_as.{field} cannot be expressed by a {pool} work pool{hint}")
    names: dict[str, Secret] = {}
    for secret in ctx.required():
        if secret.version is not None and pool != "ecs":
            raise ValueError(
                f"secret {secret.name!r}: version cannot be expressed by a {pool} work pool "
                "(it provides the current value only): pin it in the flow, not here"
            )
        if names.setdefault(secret.name, secret) is not secret:
            raise ValueError(
                f"secret {secret.name!r} is declared twice (other scope or version): a {pool} "
                "work pool provides one env var or file per name"
            )


def _required(value: str | None, field: str, pool: str) -> str:
    if not value:
        raise ValueError(f"{field} is needed to provide secrets in a {pool} work pool")
    return value


def _env_var(secret: Secret) -> str:
    # The variable the `env` source reads, so that `Secret(name).get()` finds it.
    return env_var_name(env_prefix(), secret.name)


def _secret_key_ref(secret: Secret, k8s_secret: str) -> dict[str, Any]:
    ref = {"name": k8s_secret, "key": secret.name}
    return {"name": _env_var(secret), "valueFrom": {"secretKeyRef": ref}}


def _ecs_secret(secret: Secret, arn_prefix: str) -> dict[str, str]:
    from prefect_secrets._sources.registry import source_of_kind

    config = SourceConfig()
    name = source_of_kind("aws", config).store_name(  # type: ignore[attr-defined]
        SecretKey(secret.name, secret.project, secret.domain), config
    )
    value_from = f"{arn_prefix}{name}"
    if secret.version is not None:
        # ECS: arn:...:secret:<name>:<json-key>:<version-stage>:<version-id>
        version = secret.version
        value_from += f":::{version}" if _UUID.fullmatch(version) else f"::{version}:"
    return {"name": _env_var(secret), "valueFrom": value_from}


_WORKERS = {
    "kubernetes": ("prefect_kubernetes.worker", "KubernetesWorker", "prefect-kubernetes"),
    "ecs": ("prefect_aws.workers", "ECSWorker", "prefect-aws"),
    "docker": ("prefect_docker.worker", "DockerWorker", "prefect-docker"),
}


def _default_template(pool: str) -> dict[str, Any]:
    """The default base job template of the installed worker of `pool`."""
    from importlib import import_module

    module, worker, package = _WORKERS[pool]
    try:
        template: dict[str, Any] = getattr(
            import_module(module), worker
        ).get_default_base_job_template()
    except ImportError:
        raise ValueError(
            f"a {pool} work pool's default template comes from {package}: pip install "
            f"{package}, or pass base_job_template"
        ) from None
    return template
