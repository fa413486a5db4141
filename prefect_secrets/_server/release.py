"""What a Prefect server's release can do for this library, asked of the server itself.

The package runs on Prefect 3.4.25 and later, but a process may talk to a server of
another release (an older server kept while clients upgrade). One server feature
depends on it: rotation push (`_server.push`) needs the server's `prefect.block-document.*`
events, which Prefect's server emits from 3.7.4 on (`prefect/server/events/schemas/
lifecycle.py`). Against an older server, a subscriber would connect and hear nothing.
"""

from __future__ import annotations

import re

from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._server.endpoint import Endpoint

__all__ = ["BLOCK_EVENTS_SINCE", "block_events_missing", "server_release"]

#: The first Prefect release whose server emits `prefect.block-document.*` events.
BLOCK_EVENTS_SINCE = (3, 7, 4)
_RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def server_release(endpoint: Endpoint, *, timeout: float) -> str | None:
    """The Prefect release `endpoint`'s server runs (`GET /admin/version`), or None when
    it cannot be told: unreachable, or an answer that is not a release."""
    from prefect_secrets._server.client import client_for

    try:
        response = client_for(endpoint).request(
            "GET", "admin/version", what="asking the server's release", timeout=timeout, retries=0
        )
    except SecretSourceError:
        return None
    if response.status_code != 200:
        return None
    try:
        release = response.json()
    except ValueError:
        return None
    return release if isinstance(release, str) and _RELEASE.match(release) else None


def block_events_missing(release: str | None) -> str | None:
    """Why a server of `release` cannot push rotations, or None when it can (or when its
    release is unknown: then the subscriber tries, and falls back to the TTL if it fails)."""
    found = _RELEASE.match(release or "")
    if found is None:
        return None
    if tuple(int(part) for part in found.groups()) >= BLOCK_EVENTS_SINCE:
        return None
    since = ".".join(str(part) for part in BLOCK_EVENTS_SINCE)
    return (
        f"the server runs Prefect {found.group(0)}, which emits no block events "
        f"(Prefect {since} and later do): cached answers expire by cache_ttl"
    )
