"""Masking in what Prefect's API client sends: log batches, run parameters, states, names.

| hook point                                         | what goes through it                 |
|----------------------------------------------------|--------------------------------------|
| `PrefectHttpxAsyncClient/SyncClient.build_request` | every request body Prefect's client  |
| (`prefect.client.base`)                            | sends: logs, flow run parameters,    |
|                                                    | states and their messages, artifacts |

What is only shown (logs, states, run names, an in-process subflow's
parameters, artifacts) is masked. What Prefect hands back as data is refused
instead, with `SecretStorageRefused` naming the field and the fix: a Variable's
value, a deployment's parameters and job variables, the parameters of a run
created from a deployment (`run_deployment`, `flow.serve`), a flow run's input,
a work pool's base job template. Masking those would store `********` and the
run would get it as its value, silently; storing them plainly is the leak this
library exists to prevent. The fix is always the same: pass the secret's name,
and resolve it inside the run with `Secret(name).get()`.

Block documents are left as they are: Prefect encrypts them, and a Secret
block must keep its value (non-secret block fields are checked in `blocks`).
"""

from __future__ import annotations

import re

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretStorageRefused
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.references import without_secret_references
from prefect_secrets._masking.registry import current_masker, redact_data

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from prefect_secrets._masking.matcher import Masker

__all__ = ["install_http_hooks", "refusal_for"]

_MARK = MARK

# Prefect stores secrets in block documents on purpose (encrypted at rest);
# masking there would save "********" as the secret.
_UNMASKED_PATHS = ("/block_documents",)

# (method, path pattern, what it stores): routes whose body Prefect hands back as data.
_STORED_AS_DATA = (
    ("POST", re.compile(r"/variables/?$"), "a Prefect Variable"),
    ("PATCH", re.compile(r"/variables/(?:name/)?[^/]+$"), "a Prefect Variable"),
    ("POST", re.compile(r"/deployments/?$"), "a deployment"),
    ("PATCH", re.compile(r"/deployments/[^/]+$"), "a deployment"),
    ("POST", re.compile(r"/deployments/[^/]+/create_flow_run$"), "a run of a deployment"),
    ("POST", re.compile(r"/flow_runs/[^/]+/input$"), "a flow run's input"),
    ("POST", re.compile(r"/work_pools/?$"), "a work pool"),
    ("PATCH", re.compile(r"/work_pools/[^/]+$"), "a work pool"),
)


def install_http_hooks(module: ModuleType) -> None:
    """Hook point 3: `build_request` of Prefect's httpx clients (async and sync).

    Why there: every call of Prefect's API client (`PrefectClient`,
    `SyncPrefectClient`, the log worker's `create_logs`) builds its request
    with it, through `client.request()`, `client.post()` or the route
    helpers, and the body is still a Python object there (`json=`), so values
    are masked inside strings, not in serialized bytes. Only Prefect's own
    client classes are patched: this library's and the user's httpx clients
    are untouched. Block documents are left as they are (see above).
    """
    for cls in (module.PrefectHttpxAsyncClient, module.PrefectHttpxSyncClient):
        build_request = cls.build_request
        if getattr(build_request, _MARK, False):
            continue

        def masking_build_request(
            self: Any, method: str, url: Any, *args: Any, _build: Any = build_request, **kwargs: Any
        ) -> Any:
            path = str(url).split("?", 1)[0]
            if not any(unmasked in path for unmasked in _UNMASKED_PATHS):
                refusal = refusal_for(method, path, kwargs.get("json"))
                if refusal is not None:
                    raise refusal
                body = kwargs.get("json")
                masker = current_masker() if body is not None else None
                if masker is not None:
                    kwargs["json"] = redact_data(without_secret_references(body, masker), masker)
                if isinstance(kwargs.get("content"), (str, bytes)):
                    kwargs["content"] = _redact_content(kwargs["content"])
            return _build(self, method, url, *args, **kwargs)

        setattr(masking_build_request, _MARK, True)
        masking_build_request.__wrapped__ = build_request  # type: ignore[attr-defined]
        cls.build_request = masking_build_request


def refusal_for(method: str, path: str, body: Any) -> SecretStorageRefused | None:
    """The error for a request that would store a registered value as data, else None."""
    masker = current_masker()
    if masker is None or body is None:
        return None
    for route_method, route, what in _STORED_AS_DATA:
        if method.upper() == route_method and route.search(path):
            field = _field_holding_a_value(body, masker, "")
            if field is not None:
                return SecretStorageRefused(
                    f"{what} would store a secret's value in its field {field!r}, where "
                    "Prefect keeps it readable and hands it back (masking it would store "
                    "'********' instead). Pass the secret's name and resolve it inside the "
                    "run with prefect_secrets.Secret(name).get(), or give the deployment the "
                    "secret through its environment from the platform's secret store"
                )
    return None


def _field_holding_a_value(data: Any, masker: Masker, path: str) -> str | None:
    """The dotted path of the first field of `data` holding a registered value."""
    if isinstance(data, str):
        return (path or "(the body)") if masker.found_in(data) else None
    if isinstance(data, dict):
        for key, value in data.items():
            found = _field_holding_a_value(value, masker, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            found = _field_holding_a_value(value, masker, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _redact_content(content: str | bytes) -> str | bytes:
    """A body that is already serialized: masked as JSON when it is JSON, else as text."""
    masker = current_masker()
    if masker is None:
        return content
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if not masker.found_in(text):
        return content
    import orjson

    try:
        masked = orjson.dumps(redact_data(orjson.loads(content), masker))
    except orjson.JSONDecodeError:
        masked = masker.mask(text).encode()
    return masked if isinstance(content, bytes) else masked.decode()
