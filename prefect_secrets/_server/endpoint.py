"""Where the Prefect server is, how to talk to it, and whether lookups ask it at all.

The URL, credentials, TLS options and custom headers are Prefect's own
settings (`PREFECT_API_URL`, `PREFECT_API_KEY`, `PREFECT_API_AUTH_STRING`,
profiles, `PREFECT_API_TLS_INSECURE_SKIP_VERIFY`, `PREFECT_API_SSL_CERT_FILE`,
`PREFECT_CLIENT_CUSTOM_HEADERS`), read through Prefect, so a self-hosted
server, Prefect Cloud and Prefect's temporary server all work unchanged.

When lookups ask the server (setting `server`):
- "never": not asked.
- "always": asked; with no PREFECT_API_URL, Prefect's temporary server is used.
- "auto" (default): asked when PREFECT_API_URL is set (in the environment, in
  Prefect's settings if Prefect is imported, or in the active Prefect
  profile), or when the code runs inside a Prefect flow or task run.
  Otherwise a missing secret fails in milliseconds, never by starting a server.

Writes, deletes and listings never start Prefect's temporary server: it takes
seconds to start and writes to this machine's own database, which deployed
flows do not read; with no PREFECT_API_URL they fail saying so.
"""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import dataclass, field

from prefect_secrets._config.settings import Settings
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv
from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._server.endpoint_env import endpoint_from_environment

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "NO_SERVER_MESSAGE",
    "Endpoint",
    "active_profile",
    "authorization",
    "configured_api_url",
    "current_endpoint",
    "require_api_url",
    "server_skip_reason",
]

NO_SERVER_MESSAGE = (
    "no Prefect server is configured: set PREFECT_API_URL (e.g. "
    "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`) or log in with "
    "`prefect cloud login`. Prefect's temporary server is not started for this: it "
    "would write to this machine's own database, which deployed flows do not read"
)


@dataclass(frozen=True)
class Endpoint:
    """Where the Prefect API is and how to talk to it. Its repr hides credentials."""

    api_url: str
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    tls_insecure: bool = False
    ca_file: str | None = None
    temporary: bool = False

    def __str__(self) -> str:
        return f"{self.api_url} (Prefect's temporary server)" if self.temporary else self.api_url


def current_endpoint(*, start_temporary: bool = True) -> Endpoint:
    """The endpoint Prefect's own client would use here and now (imports prefect).

    Without `start_temporary`, no configured PREFECT_API_URL is a
    `SecretSourceError` saying how to configure one.
    """
    global _last_endpoint
    if "prefect.settings" not in sys.modules:
        from_environment = endpoint_from_environment()
        if from_environment is not None:
            return from_environment
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    # Prefect hands out the same Settings object until settings change
    # (temporary_settings, a new profile): remember the endpoint built from it.
    last = _last_endpoint
    if last is not None and last[0] is settings:
        return last[1]
    if not start_temporary and not settings.api.url:
        raise SecretSourceError(NO_SERVER_MESSAGE, source="server")
    endpoint = _endpoint_from(settings)
    if not endpoint.temporary:
        _last_endpoint = (settings, endpoint)
    return endpoint


_last_endpoint: tuple[object, Endpoint] | None = None


def configured_api_url() -> str | None:
    """The API URL from Prefect's settings (env, profile), or None when there is none."""
    if "prefect.settings" not in sys.modules:
        from_environment = endpoint_from_environment()
        if from_environment is not None:
            return from_environment.api_url
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def require_api_url() -> str:
    """The configured API URL; SecretSourceError saying how to configure one when there is none."""
    return current_endpoint(start_temporary=False).api_url


def _endpoint_from(settings: Any) -> Endpoint:
    from prefect.client.constants import SERVER_API_VERSION

    api_url = settings.api.url
    temporary = False
    if not api_url:
        if not settings.server.ephemeral.enabled:
            raise SecretSourceError(
                "the Prefect server is to be asked, but PREFECT_API_URL is not set and "
                "Prefect's temporary server is disabled (PREFECT_SERVER_ALLOW_EPHEMERAL_MODE)",
                source="server",
            )
        # The same per-process server that Prefect's get_client() starts; in a
        # flow run without PREFECT_API_URL it is already running.
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        api_url, temporary = server.api_url, True
    headers = {"X-PREFECT-API-VERSION": SERVER_API_VERSION}
    headers.update(settings.client.custom_headers or {})
    auth_string, api_key = settings.api.auth_string, settings.api.key
    headers.update(
        authorization(
            auth_string.get_secret_value() if auth_string is not None else None,
            api_key.get_secret_value() if api_key is not None else None,
        )
    )
    return Endpoint(
        api_url=str(api_url).rstrip("/"),
        headers=tuple(sorted(headers.items())),
        tls_insecure=bool(settings.api.tls_insecure_skip_verify),
        ca_file=settings.api.ssl_cert_file or None,
        temporary=temporary,
    )


def authorization(auth_string: str | None, api_key: str | None) -> dict[str, str]:
    """The Authorization header Prefect's client sends: an auth string beats an API key."""
    if auth_string:
        token = base64.b64encode(auth_string.encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if api_key:
        return {"Authorization": f"Bearer {api_key}"}
    return {}


def server_skip_reason(settings: Settings) -> str | None:
    """Why lookups do not ask the server, or None when they do."""
    if settings.server == "always":
        return None
    if settings.server == "never":
        return "server = never"
    if getenv("PREFECT_API_URL"):
        return None
    if "prefect.context" in sys.modules:
        if _in_prefect_run() or _prefect_api_url_setting():
            return None
    elif _profile_api_url():
        return None
    return (
        "server = auto, no PREFECT_API_URL is set and this is not a flow run; "
        "set PREFECT_SECRETS_SERVER=always to ask Prefect's temporary server"
    )


def _in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _prefect_api_url_setting() -> bool:
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


_profiles_cache: dict[tuple[str, str | None, int, int], dict[str, object] | None] = {}


def _profile_api_url() -> bool:
    """Whether the active Prefect profile sets PREFECT_API_URL, read without importing prefect."""
    return bool((active_profile() or {}).get("PREFECT_API_URL"))


def active_profile() -> dict[str, object] | None:
    """The settings of the active Prefect profile, read without importing prefect: {} when
    there is no profiles file, None when it cannot be read (Prefect reports that itself)."""
    home = getenv("PREFECT_HOME") or os.path.join(
        getenv("HOME") or os.path.expanduser("~"), ".prefect"
    )
    path = getenv("PREFECT_PROFILES_PATH") or os.path.join(home, "profiles.toml")
    try:
        st = os.stat(os.path.expanduser(path))
    except OSError:
        return {}
    active = getenv("PREFECT_PROFILE")
    key = (path, active, st.st_mtime_ns, st.st_size)
    if key not in _profiles_cache:
        import tomllib

        try:
            with open(os.path.expanduser(path), "rb") as handle:
                profiles = tomllib.load(handle)
            name = active or profiles.get("active") or "ephemeral"
            profile = profiles.get("profiles", {}).get(name, {})
            _profiles_cache[key] = profile if isinstance(profile, dict) else None
        except (OSError, tomllib.TOMLDecodeError, AttributeError):
            _profiles_cache[key] = None
    return _profiles_cache[key]
