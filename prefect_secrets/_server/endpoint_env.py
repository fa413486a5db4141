"""The Prefect endpoint read from the environment alone, without importing Prefect.

`import prefect` costs 1.2 s and 80 MiB here (2.3 to 2.8 s in a fleet's cold start,
where 128 processes import it at once on 2 cores). A process that only needs its
secrets from the server (a script, a container's entry point, a flow run's setup
before Prefect is imported) should not pay it inside its first lookup.

This is taken only when the environment alone decides the endpoint, the way
Prefect's settings would: PREFECT_API_URL is set, Prefect is not imported yet (once
it is, its settings are asked: they are loaded and cheap), and nothing of lower
precedence than env vars could change a client setting:
- no `.env`, `prefect.toml`, or `pyproject.toml` with `[tool.prefect]` in the current
  directory (Prefect reads those);
- the active profile sets no client setting (the URL, the key, the auth string, TLS
  options, custom headers);
- every value set is one this module parses exactly as Prefect does (else Prefect is
  asked, and its error is the one a user sees).
In every other case `current_endpoint` asks Prefect's settings as before.
"""

from __future__ import annotations

import json
import os
import re

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv, snapshot

if TYPE_CHECKING:
    from prefect_secrets._server.endpoint import Endpoint

__all__ = ["endpoint_from_environment"]

#: Prefect's client settings that say where and how to reach the API.
CLIENT_SETTINGS = (
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
    "PREFECT_API_AUTH_STRING",
    "PREFECT_API_TLS_INSECURE_SKIP_VERIFY",
    "PREFECT_API_SSL_CERT_FILE",
    "PREFECT_CLIENT_CUSTOM_HEADERS",
)
#: Prefect's test modes, which read another profiles file.
_TEST_MODES = (
    "PREFECT_TEST_MODE",
    "PREFECT_UNIT_TEST_MODE",
    "PREFECT_TESTING_UNIT_TEST_MODE",
    "PREFECT_TESTING_TEST_MODE",
)
#: Env vars that decide which files Prefect's settings read, and the CA file's default.
_LOCATING = ("SSL_CERT_FILE", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH", "PREFECT_HOME", "HOME")
_WATCHED = CLIENT_SETTINGS + _LOCATING + _TEST_MODES

# pydantic's bool parsing, which Prefect's settings use.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})

#: Decided once per combination of these env vars, as Prefect decides its settings once:
#: (env values, the endpoint or None when Prefect must be asked).
_decided: tuple[tuple[object, ...], Endpoint | None] | None = None


def endpoint_from_environment() -> Endpoint | None:
    """The endpoint Prefect's settings would give, or None when only Prefect can say."""
    global _decided
    environment = snapshot(_WATCHED)
    decided = _decided
    if decided is not None and decided[0] == environment:
        return decided[1]
    endpoint = _decide()
    _decided = (environment, endpoint)
    return endpoint


def _decide() -> Endpoint | None:
    from prefect_secrets._server.endpoint import Endpoint, authorization

    api_url = getenv("PREFECT_API_URL")
    if not api_url or _test_mode() or _settings_files_here() or _profile_sets_client_settings():
        return None
    insecure = (getenv("PREFECT_API_TLS_INSECURE_SKIP_VERIFY") or "false").strip().lower()
    if insecure not in _TRUE | _FALSE:
        return None
    custom = _custom_headers(getenv("PREFECT_CLIENT_CUSTOM_HEADERS"))
    version = _server_api_version()
    if custom is None or version is None:
        return None
    headers = {"X-PREFECT-API-VERSION": version, **custom}
    headers.update(authorization(getenv("PREFECT_API_AUTH_STRING"), getenv("PREFECT_API_KEY")))
    return Endpoint(
        api_url=api_url.rstrip("/"),
        headers=tuple(sorted(headers.items())),
        tls_insecure=insecure in _TRUE,
        ca_file=_ca_file(),
    )


def _ca_file() -> str | None:
    # Set, even empty, it replaces the default ($SSL_CERT_FILE), as in Prefect's settings.
    own = getenv("PREFECT_API_SSL_CERT_FILE")
    return (own if own is not None else getenv("SSL_CERT_FILE")) or None


def _test_mode() -> bool:
    # Prefect's test mode reads another profiles file: let Prefect decide.
    return any(getenv(name) for name in _TEST_MODES)


def _settings_files_here() -> bool:
    if os.path.exists(".env") or os.path.exists("prefect.toml"):
        return True
    try:
        with open("pyproject.toml", "rb") as handle:
            return b"tool.prefect" in handle.read()
    except OSError:
        return False


def _profile_sets_client_settings() -> bool:
    from prefect_secrets._server.endpoint import active_profile

    profile = active_profile()
    # Its PREFECT_API_URL is overridden by the env var; any other client setting is not.
    return profile is None or any(name in profile for name in CLIENT_SETTINGS[1:])


def _custom_headers(raw: str | None) -> dict[str, str] | None:
    """PREFECT_CLIENT_CUSTOM_HEADERS (a JSON object of strings), or None when it is
    anything else (Prefect then reports it)."""
    if not raw:
        return {}
    try:
        headers = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(headers, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in headers.items()
    ):
        return None
    return headers


_VERSION = re.compile(rb'^SERVER_API_VERSION\s*=\s*"([^"]+)"', re.MULTILINE)


def _server_api_version() -> str | None:
    """`prefect.client.constants.SERVER_API_VERSION`, read from its source: importing the
    module would import Prefect."""
    from importlib.util import find_spec

    spec = find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        try:
            with open(os.path.join(folder, "client", "constants.py"), "rb") as handle:
                found = _VERSION.search(handle.read())
        except OSError:
            continue
        if found:
            return found.group(1).decode()
    return None
