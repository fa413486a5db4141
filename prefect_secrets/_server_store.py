"""Writing, deleting and listing the Prefect server's `Secret` blocks, with Prefect's own API.

Writes go through `prefect.blocks.system.Secret(value=...).save(...)` and
Prefect's client, so a block is exactly what the Prefect UI shows and what
`Secret.load(...)` and lookups read. The server's URL and credentials are
Prefect's settings (`PREFECT_API_URL`, `PREFECT_API_KEY`, profiles...).

Unlike lookups with `server = "always"`, these operations never start
Prefect's temporary server: it takes seconds to start and writes to this
machine's own database (in PREFECT_HOME), which deployed flows do not read;
a user who forgot PREFECT_API_URL wants to hear that, not to find the
secret missing later. With no `PREFECT_API_URL` they fail saying so.

Every write and delete tells the lookup cache (`_sources.server.invalidate`),
so the next lookup in this process sees it. Errors are `SecretSourceError`s
naming the server and the block, never a response body: Prefect's
validation errors quote the request, which holds the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prefect_secrets._errors import SecretSourceError
from prefect_secrets._names import SCOPED_BLOCK_PREFIX, block_name, is_reserved_block_name
from prefect_secrets._sources.server import invalidate

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = [
    "BLOCK_TYPE_SLUG",
    "configured_api_url",
    "delete_secret_block",
    "list_secret_blocks",
    "require_api_url",
    "save_secret_block",
    "secret_block_exists",
]

BLOCK_TYPE_SLUG = "secret"

NO_SERVER_MESSAGE = (
    "no Prefect server is configured: set PREFECT_API_URL (e.g. "
    "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`) or log in with "
    "`prefect cloud login`. Prefect's temporary server is not started for this: it "
    "would write to this machine's own database, which deployed flows do not read"
)


def configured_api_url() -> str | None:
    """The API URL from Prefect's settings (env, profile), or None when there is none."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def save_secret_block(
    name: str,
    value: Any,
    *,
    overwrite: bool = True,
    project: str | None = None,
    domain: str | None = None,
) -> str:
    """Save `value` as the Secret block of secret `name` (in a scope): "created",
    "replaced" or "kept"."""
    from prefect.blocks.system import Secret as SecretBlock

    block = _block(name, project, domain)
    api_url = require_api_url()
    with _client(api_url, block, "writing") as client:
        exists = _exists(client, block)
        if exists and not overwrite:
            return "kept"
        from prefect.exceptions import ObjectNotFound

        # Block.save opens its own client, with the same settings.
        try:
            SecretBlock(value=value).save(block, overwrite=True)
        except ObjectNotFound:
            # Prefect 3.8 race: a fresh server creates its encryption key on its first
            # block write, and concurrent first writes can miss it. The save is
            # idempotent; once more finds the key. PREFECT_SERVER_ENCRYPTION_KEY avoids it.
            SecretBlock(value=value).save(block, overwrite=True)
    invalidate(block)
    return "replaced" if exists else "created"


def delete_secret_block(
    name: str, *, project: str | None = None, domain: str | None = None
) -> bool:
    """Delete the Secret block of secret `name` (in a scope); False if there is none."""
    from prefect.exceptions import ObjectNotFound

    block = _block(name, project, domain)
    api_url = require_api_url()
    with _client(api_url, block, "deleting") as client:
        try:
            document = client.read_block_document_by_name(
                name=block, block_type_slug=BLOCK_TYPE_SLUG, include_secrets=False
            )
            client.delete_block_document(document.id)
        except ObjectNotFound:
            return False
        finally:
            invalidate(block)
    return True


def secret_block_exists(
    name: str, *, project: str | None = None, domain: str | None = None
) -> bool:
    """Whether secret `name` (in a scope) has a Secret block on the server."""
    block = _block(name, project, domain)
    api_url = require_api_url()
    with _client(api_url, block, "reading") as client:
        return _exists(client, block)


def list_secret_blocks(api_url: str | None = None) -> list[str]:
    """The names of the server's Secret blocks, sorted. Values are not requested."""
    import httpx

    url = api_url or require_api_url()
    with _client(url, None, "listing") as client:
        try:
            documents = client.read_block_documents_by_type(
                block_type_slug=BLOCK_TYPE_SLUG, include_secrets=False
            )
        except httpx.HTTPStatusError as exc:
            # A server that has never registered the Secret type has no Secret blocks.
            if exc.response.status_code == 404:
                return []
            raise
    return sorted(
        document.name
        for document in documents
        if document.name and not getattr(document, "is_anonymous", False)
    )


def _block(name: str, project: str | None, domain: str | None) -> str:
    """The block name of a secret; refuses org-wide names that would read as scoped ones."""
    if project is None and domain is None and is_reserved_block_name(name):
        raise ValueError(
            f"secret {name!r} cannot be stored on the server: org-wide block names "
            f"starting with {SCOPED_BLOCK_PREFIX!r} are reserved for scoped secrets"
        )
    return block_name(name, project, domain)


def require_api_url() -> str:
    """The configured API URL; SecretSourceError saying how to configure one when there is none."""
    url = configured_api_url()
    if url is None:
        raise SecretSourceError(NO_SERVER_MESSAGE, source="server")
    return url


def _exists(client: SyncPrefectClient, block: str) -> bool:
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_block_document_by_name(
            name=block, block_type_slug=BLOCK_TYPE_SLUG, include_secrets=False
        )
    except ObjectNotFound:
        return False
    return True


@contextmanager
def _client(api_url: str, block: str | None, doing: str) -> Iterator[SyncPrefectClient]:
    """Prefect's sync client; its failures become one-line SecretSourceErrors."""
    import httpx
    from prefect.client.orchestration import get_client

    what = f"{doing} block '{BLOCK_TYPE_SLUG}/{block}'" if block else f"{doing} Secret blocks"

    def error(reason: str) -> SecretSourceError:
        return SecretSourceError(
            f"Prefect server {api_url}: {what}: {reason}", source="server", place=api_url
        )

    try:
        with get_client(sync_client=True) as client:
            yield client
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise error(
                f"refused access (HTTP {status}): check PREFECT_API_KEY / "
                "PREFECT_API_AUTH_STRING for this server"
            ) from None
        if status == 404:
            raise error(
                "answered 404: is PREFECT_API_URL the API's address (it usually ends in /api)?"
            ) from None
        # Never the body: a validation error quotes the request, value included.
        raise error(f"answered HTTP {status}") from None
    except httpx.TimeoutException:
        raise error("no answer in time") from None
    except httpx.ConnectError as exc:
        reason = (str(exc) or type(exc).__name__).split("] ", 1)[-1]
        raise error(f"cannot connect ({reason})") from None
    except httpx.TransportError as exc:
        raise error(f"transport error ({type(exc).__name__})") from None
