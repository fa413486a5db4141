"""What a Prefect server keeps that a secret may have been pasted into: every deployment
(parameters, job variables, the parameters' schema with its defaults, pull steps), every
work pool (its base job template) and every Prefect `Variable`. Read-only: filter requests
(POST, as Prefect's client sends them), page by page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prefect_secrets._server.transport import ApiTransport, limit_from

__all__ = ["ServerInventory", "read_inventory"]


@dataclass
class ServerInventory:
    """(label, document) of each thing read: `deployment 'flow/name'`, `work pool 'p'`,
    `variable 'v'`; the documents as the API returns them."""

    deployments: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    work_pools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    variables: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.deployments
        yield from self.work_pools
        yield from self.variables


def read_inventory(client: ApiTransport, *, timeout: float, retries: int) -> ServerInventory:
    """Every deployment, work pool and variable of the server `client` talks to."""
    inventory = ServerInventory()
    flows = {
        flow.get("id"): flow.get("name")
        for flow in _all(client, "flows/filter", "listing flows", timeout, retries)
    }
    for deployment in _all(client, "deployments/filter", "listing deployments", timeout, retries):
        flow_name = flows.get(deployment.get("flow_id"), "?")
        inventory.deployments.append(
            (f"deployment '{flow_name}/{deployment.get('name')}'", deployment)
        )
    for pool in _all(client, "work_pools/filter", "listing work pools", timeout, retries):
        inventory.work_pools.append((f"work pool '{pool.get('name')}'", pool))
    for variable in _all(client, "variables/filter", "listing variables", timeout, retries):
        inventory.variables.append((f"variable '{variable.get('name')}'", variable))
    return inventory


def _all(
    client: ApiTransport, path: str, what: str, timeout: float, retries: int
) -> list[dict[str, Any]]:
    """Every document of a `.../filter` route, page by page."""
    documents: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = client.request(
            "POST",
            path,
            json={"offset": offset, "limit": client.filter_limit},
            what=what,
            timeout=timeout,
            retries=retries,
        )
        server_limit = limit_from(response)
        if server_limit is not None and 0 < server_limit < client.filter_limit:
            client.filter_limit = server_limit
            continue
        page = client.json_list(response, what)
        if not all(isinstance(document, dict) for document in page):
            raise client.error(what, "answered with something that is not a list of objects")
        documents.extend(page)
        if len(page) < client.filter_limit:
            return documents
        offset += len(page)
