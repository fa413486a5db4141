"""The public surface: what `prefect_secrets` exports, and that importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import prefect_secrets

PUBLIC = {
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
}


def test_exported_members() -> None:
    """Every public name is in __all__ and importable; nothing else is."""
    assert set(prefect_secrets.__all__) == PUBLIC
    for name in prefect_secrets.__all__:
        assert getattr(prefect_secrets, name) is not None
    assert set(dir(prefect_secrets)) == PUBLIC


def test_import_does_not_import_prefect() -> None:
    """`import prefect` costs about 1.2 s and 80 MiB; a local lookup must not pay it, nor
    any secret manager's SDK (they are extras, imported by their source when asked).

    Counts only what the library adds: an interpreter's own startup (a `.pth` file in
    site-packages, as on CI's machine, which imports certifi and so `typing`) is not ours."""
    code = (
        "import os, sys\n"
        "at_startup = set(sys.modules)\n"
        "os.environ['PREFECT__CONTEXT__SECRETS__X'] = 'fake-x'\n"
        "import prefect_secrets\n"
        "assert prefect_secrets.Secret('X').get() == 'fake-x'\n"
        "assert not prefect_secrets.Secret('Y').exists()\n"
        "heavy = ('prefect', 'httpx', 'pydantic', 'asyncio', 'typing', 'boto3', 'botocore',\n"
        "         'google', 'hvac', 'azure', 'keyring', 'requests', 'authlib', 'lightkube',\n"
        "         'logging')\n"
        "added = set(sys.modules) - at_startup\n"
        "print(','.join(sorted(m for m in heavy if m in added)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )
    assert result.stdout.strip() == ""
