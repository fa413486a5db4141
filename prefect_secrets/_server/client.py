"""One HTTP client for the Prefect API's Secret blocks: reads, writes, deletes and listings.

Why not Prefect's own client: it defaults to a 60 s timeout, retries on its
own schedule, opens a new connection pool per `get_client()` and checks the
server version on entry. A secret lookup needs one request, a short timeout,
a bounded number of retries, and one connection pool per process. Writes go
through the same client, so every operation has the same error handling:
a `SecretSourceError` naming the server, what was being done and why, never a
response body (Prefect's validation errors quote the request, value included).

The blocks written are exactly what `prefect.blocks.system.Secret(value=...)
.save(name)` writes (same block type and schema, as registered by the
server), so the Prefect UI, `Secret.load(...)` and lookups all read them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from prefect_secrets._core.missing import MISSING
from prefect_secrets._server.endpoint import Endpoint
from prefect_secrets._server.transport import (
    API_ADDRESS_HINT,
    ApiTransport,
    detail_of,
    limit_from,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx

__all__ = ["BLOCK_TYPE_SLUG", "ServerClient", "client_for", "close_clients"]

#: The slug of Prefect's standard `Secret` block type (`prefect.blocks.system.Secret`).
BLOCK_TYPE_SLUG = "secret"
_NOT_FOUND_DETAIL = "Block document not found"
_NOT_AN_API_ADDRESS = (
    f"answered 404 without Prefect's 'Block document not found': {API_ADDRESS_HINT}"
)


class ServerClient(ApiTransport):
    """The Secret block operations, over one endpoint's connection pool."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        # (block type id, schema id) of the Secret block, learned on the first write.
        self._secret_schema: tuple[str, str] | None = None

    def read_secret_block(self, block: str, *, timeout: float, retries: int) -> Any:
        """The stored `value` of Secret block `block`, or MISSING if there is none."""
        what = f"reading block '{BLOCK_TYPE_SLUG}/{block}'"
        response = self._block_by_name(block, True, what, timeout=timeout, retries=retries)
        return MISSING if response is None else self._block_value(response, what)

    def _block_by_name(
        self, block: str, include_secrets: bool, what: str, *, timeout: float, retries: int
    ) -> httpx.Response | None:
        """The answer for Secret block `block`; None when the server has no such block."""
        response = self.request(
            "GET",
            f"block_types/slug/{BLOCK_TYPE_SLUG}/block_documents/name/{block}",
            params={"include_secrets": "true" if include_secrets else "false"},
            what=what,
            timeout=timeout,
            retries=retries,
        )
        if response.status_code == 404:
            if detail_of(response) == _NOT_FOUND_DETAIL:
                return None
            raise self.error(what, _NOT_AN_API_ADDRESS)
        return response

    def read_secret_blocks(
        self, blocks: Sequence[str], *, timeout: float, retries: int
    ) -> dict[str, Any]:
        """{block: value} of those of `blocks` that exist, in as few requests as the API allows.

        One POST to /block_documents/filter per `limit` names (200 by default).
        """
        found: dict[str, Any] = {}
        pending = list(dict.fromkeys(blocks))
        while pending:
            batch = pending[: self.filter_limit]
            what = f"reading {len(batch)} '{BLOCK_TYPE_SLUG}' blocks"
            response = self.request(
                "POST",
                "block_documents/filter",
                json={
                    "block_documents": {"name": {"any_": batch}, "is_anonymous": {"eq_": False}},
                    "block_types": {"slug": {"any_": [BLOCK_TYPE_SLUG]}},
                    "include_secrets": True,
                    "limit": len(batch),
                },
                what=what,
                timeout=timeout,
                retries=retries,
            )
            server_limit = limit_from(response)
            if server_limit is not None and 0 < server_limit < len(batch):
                self.filter_limit = server_limit
                continue
            if response.status_code != 200:
                raise self.error(what, f"answered HTTP {response.status_code}")
            try:
                for document in response.json():
                    found[document["name"]] = document["data"]["value"]
            except (ValueError, KeyError, TypeError):
                raise self.error(
                    what, "answered with something that is not a list of block documents"
                ) from None
            pending = pending[len(batch) :]
        return found

    def list_secret_blocks(self, *, timeout: float, retries: int) -> list[str]:
        """The names of the server's (named) Secret blocks, sorted. Values are not requested."""
        what = f"listing '{BLOCK_TYPE_SLUG}' blocks"
        names: list[str] = []
        offset = 0
        while True:
            response = self.request(
                "POST",
                "block_documents/filter",
                json={
                    "block_documents": {"is_anonymous": {"eq_": False}},
                    "block_types": {"slug": {"any_": [BLOCK_TYPE_SLUG]}},
                    "include_secrets": False,
                    "offset": offset,
                    "limit": self.filter_limit,
                },
                what=what,
                timeout=timeout,
                retries=retries,
            )
            server_limit = limit_from(response)
            if server_limit is not None and 0 < server_limit < self.filter_limit:
                self.filter_limit = server_limit
                continue
            page = self.json_list(response, what)
            try:
                names.extend(document["name"] for document in page if document.get("name"))
            except (KeyError, TypeError, AttributeError):
                raise self.error(
                    what, "answered with something that is not block documents"
                ) from None
            if len(page) < self.filter_limit:
                return sorted(names)
            offset += len(page)

    def save_secret_block(self, block: str, value: Any, *, timeout: float, retries: int) -> str:
        """Create or replace Secret block `block` with `value`: "created" or "replaced"."""
        what = f"writing block '{BLOCK_TYPE_SLUG}/{block}'"
        type_id, schema_id = self._secret_block_schema(what, timeout=timeout, retries=retries)
        data = {"value": value}
        response = self.request(
            "POST",
            "block_documents/",
            json={
                "name": block,
                "block_type_id": type_id,
                "block_schema_id": schema_id,
                "data": data,
                "is_anonymous": False,
            },
            what=what,
            timeout=timeout,
            retries=retries,
        )
        if response.status_code in (200, 201):
            return "created"
        if response.status_code != 409:
            raise self.error(what, f"answered HTTP {response.status_code}")
        # It exists (or a retried create landed): replace its data, as Block.save(overwrite=True).
        document_id = self._block_document_id(block, what, timeout=timeout, retries=retries)
        if document_id is None:
            raise self.error(what, "said the block exists, then that it does not")
        response = self.request(
            "PATCH",
            f"block_documents/{document_id}",
            json={"block_schema_id": schema_id, "data": data, "merge_existing_data": False},
            what=what,
            timeout=timeout,
            retries=retries,
        )
        if response.status_code not in (200, 204):
            raise self.error(what, f"answered HTTP {response.status_code}")
        return "replaced"

    def delete_secret_block(self, block: str, *, timeout: float, retries: int) -> bool:
        """Delete Secret block `block`; False when there is none."""
        what = f"deleting block '{BLOCK_TYPE_SLUG}/{block}'"
        document_id = self._block_document_id(block, what, timeout=timeout, retries=retries)
        if document_id is None:
            return False
        response = self.request(
            "DELETE", f"block_documents/{document_id}", what=what, timeout=timeout, retries=retries
        )
        if response.status_code == 404:
            return False  # deleted meanwhile
        if response.status_code not in (200, 204):
            raise self.error(what, f"answered HTTP {response.status_code}")
        return True

    def block_exists(self, block: str, *, timeout: float, retries: int) -> bool:
        """Whether Secret block `block` exists (its value is not requested)."""
        what = f"reading block '{BLOCK_TYPE_SLUG}/{block}'"
        return self._block_document_id(block, what, timeout=timeout, retries=retries) is not None

    def _block_document_id(
        self, block: str, what: str, *, timeout: float, retries: int
    ) -> str | None:
        response = self._block_by_name(block, False, what, timeout=timeout, retries=retries)
        if response is None:
            return None
        document = self.json_object(response, what)
        document_id = document.get("id")
        if not isinstance(document_id, str):
            raise self.error(what, "answered with something that is not a block document")
        return document_id

    def _secret_block_schema(self, what: str, *, timeout: float, retries: int) -> tuple[str, str]:
        """(block type id, block schema id) of the Secret block, as the server registered it."""
        if self._secret_schema is not None:
            return self._secret_schema
        response = self.request(
            "GET",
            f"block_types/slug/{BLOCK_TYPE_SLUG}",
            what=what,
            timeout=timeout,
            retries=retries,
        )
        if response.status_code == 404:
            raise self.error(
                what,
                "this server has no Secret block type registered (run "
                "`prefect block register -m prefect.blocks.system` against it)",
            )
        type_id = self.json_object(response, what).get("id")
        response = self.request(
            "POST",
            "block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [type_id]}}, "limit": 1},
            what=what,
            timeout=timeout,
            retries=retries,
        )
        schemas = self.json_list(response, what)
        if not schemas or not isinstance(type_id, str):
            raise self.error(what, "has no schema registered for the Secret block type")
        # The server lists the newest schema first: the one its own Secret block uses.
        self._secret_schema = (type_id, str(schemas[0]["id"]))
        return self._secret_schema

    def _block_value(self, response: httpx.Response, what: str) -> Any:
        if response.status_code != 200:
            raise self.error(what, f"answered HTTP {response.status_code}")
        try:
            document = response.json()
            return document["data"]["value"]
        except (ValueError, KeyError, TypeError):
            raise self.not_what_was_asked(response, what, "a Secret block document") from None


_clients: dict[Endpoint, ServerClient] = {}
_clients_lock = threading.Lock()


def client_for(endpoint: Endpoint) -> ServerClient:
    """The process's client for `endpoint` (one connection pool per endpoint)."""
    client = _clients.get(endpoint)
    if client is None:
        with _clients_lock:
            client = _clients.get(endpoint)
            if client is None:
                if not _clients:
                    import atexit

                    atexit.register(close_clients)
                client = _clients[endpoint] = ServerClient(endpoint)
    return client


def close_clients() -> None:
    """Close every pool (at exit, and in tests that restart servers)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
