"""Secrets for Prefect 3 flows: one `Secret("NAME").get()` from the context, env vars,
mounted files, a local TOML file, tokens minted on demand, the Prefect server's `Secret`
blocks and any plug-in source (`prefect_secrets.sources`).

This module is the whole public surface (`__all__`); everything else is private.
`import prefect_secrets` does not import `prefect` (about 1.2 s and 80 MiB): only a
server lookup and the Prefect task wrapper load it, when first used.
"""

from __future__ import annotations

from prefect_secrets._context import context, secrets_context
from prefect_secrets._core.errors import (
    PrefectSecretsError,
    SecretInjectionError,
    SecretNotFound,
    SecretSourceError,
    SecretStorageRefused,
    SettingsError,
    UnsupportedBySource,
)
from prefect_secrets._core.version import VERSION
from prefect_secrets._secret import Secret, aget_many, get_many

__version__ = VERSION

# Loaded on first use, so that `import prefect_secrets` stays light.
_LAZY = {
    "Place": "prefect_secrets._resolution.explain",
    "with_secrets": "prefect_secrets._inject",
    "SecretTask": "prefect_secrets._prefect.task",
    "SecretsTask": "prefect_secrets._prefect.task",
    "Identity": "prefect_secrets._security.identity",
    "SecurityContext": "prefect_secrets._security.context",
    "to_job_variables": "prefect_secrets._security.job_variables",
    "to_base_job_template": "prefect_secrets._security.job_variables",
    "OAuth2ClientCredentials": "prefect_secrets._tokens.oauth2",
    "GcpIdToken": "prefect_secrets._tokens.gcp",
    "KubernetesServiceAccountToken": "prefect_secrets._tokens.kubernetes",
    "declare_tokens": "prefect_secrets._tokens.registry",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_secrets' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "GcpIdToken",
    "Identity",
    "KubernetesServiceAccountToken",
    "OAuth2ClientCredentials",
    "Place",
    "PrefectSecretsError",
    "Secret",
    "SecretInjectionError",
    "SecretNotFound",
    "SecretSourceError",
    "SecretStorageRefused",
    "SecretTask",
    "SecretsTask",
    "SecurityContext",
    "SettingsError",
    "UnsupportedBySource",
    "__version__",
    "aget_many",
    "context",
    "declare_tokens",
    "get_many",
    "secrets_context",
    "to_base_job_template",
    "to_job_variables",
    "with_secrets",
]
