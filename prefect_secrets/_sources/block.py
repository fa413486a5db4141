"""Any Prefect `SecretBlock` (`kind = "block"`): prefect-aws's `AwsSecret`, prefect-gcp's
`GcpSecret`, your own, read as `Block.load("<type slug>/<name>").read_secret()`.

| secret `DB_PASSWORD`, with settings            | block read                              |
|------------------------------------------------|-----------------------------------------|
| `types = ["aws-secret", "gcp-secret"]`         | `aws-secret/db-password`, else          |
|                                                | `gcp-secret/db-password`                |
| ... in project `etl`, domain `prod`            | `aws-secret/scope--etl--prod--db-password`, ... |
| `map = { DB_PASSWORD = "aws-secret/prod-db" }` | `aws-secret/prod-db` (that one only)    |

The rule: an org-wide name in `map` reads that block; every other name is looked for
under Prefect's block name for it (`_core.names`: lowercased, `_` as `-`, scoped ones
`scope--<project>--<domain>--<name>`) in each of `types`, in order, and the first block
that exists answers. Settings (`[settings.block]`, env `PREFECT_SECRETS_BLOCK_<NAME>`):

| setting | default | what                                                            |
|---------|---------|-----------------------------------------------------------------|
| types   | []      | block type slugs to search, in order (`"aws-secret"`)           |
| map     | {}      | secret name -> `"<type slug>/<block name>"`; in an env var as   |
|         |         | JSON or `NAME=slug/name,NAME2=slug/name`                        |

With neither, the source is not asked (`which` says why). Blocks live on the Prefect
server, so the setting `server` decides whether lookups ask at all (as for Secret blocks);
Prefect's own client and settings (`PREFECT_API_URL`, profiles, API keys) reach it.

A missing block document is MISSING. Anything else is a `SecretSourceError` naming the
block, with the exception's type (and an AWS-style error code) but never its message:
the server unreachable, a block type whose collection is not installed here, a block that
is not a SecretBlock, and a `read_secret` that fails (a block pointing at a secret its
store does not have is a broken block, not a missing secret). Values: bytes are decoded
as UTF-8 when they are text (prefect-aws's `write_secret` stores SecretBinary), else kept;
a str (prefect-aws's SecretString, despite the annotation) is returned as is.

`set` writes through an existing block's `write_secret` (the block says where and with
which credentials; this library does not make blocks). `delete` calls the block's
`delete_secret` where its type has one (AwsSecret: AWS's 30-day recovery window); the
block document stays, and lookups through it fail, naming it, until a value is written
again.
"""

from __future__ import annotations

import re

from prefect_secrets._config.parsers import string_list
from prefect_secrets._config.settings import Setting
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError, UnsupportedBySource
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import block_name, is_valid_name, parse_block_name
from prefect_secrets._server.endpoint import (
    configured_api_url,
    require_api_url,
    server_skip_reason,
)
from prefect_secrets._sources.remote import RemoteSource
from prefect_secrets.sources import SecretKey, SourceConfig

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

__all__ = ["BlockSource"]

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_BLOCK = re.compile(r"[a-z0-9][a-z0-9-]*")
_PAGE = 200


def _types(value: object) -> tuple[str, ...]:
    slugs = tuple(string_list(value, ",", "block type slugs"))
    for slug in slugs:
        if _SLUG.fullmatch(slug) is None:
            raise ValueError(f"{slug!r} is not a block type slug (like 'aws-secret')")
    return slugs


def _map(value: object) -> dict[str, str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            import json

            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError('expected a JSON object, like {"NAME": "slug/name"}') from None
        else:
            pairs = [item.partition("=") for item in text.split(",") if item.strip()]
            value = {name.strip(): ref.strip() for name, _, ref in pairs}
    if not isinstance(value, dict):
        raise ValueError('expected a table of secret name -> "<type slug>/<block name>"')
    for name, ref in value.items():
        slug, _, block = ref.partition("/") if isinstance(ref, str) else ("", "", "")
        if not is_valid_name(name) or not _SLUG.fullmatch(slug) or not _BLOCK.fullmatch(block):
            raise ValueError(f'{name!r} = {ref!r}: expected NAME = "<type slug>/<block name>"')
    return dict(value)


class BlockSource(RemoteSource):
    kind = "block"
    title = "Prefect SecretBlock"
    extra = ""  # Prefect is a dependency; the block types' collections are the user's
    setting_specs = (
        Setting("types", _types, (), "block type slugs to search, in order"),
        Setting("map", _map, {}, 'secret name -> "<type slug>/<block name>"'),
    )

    # --- when it is asked -------------------------------------------------------------------

    def skip_reason(self, config: SourceConfig) -> str | None:
        settings = config.source_settings(self)
        if not settings["types"] and not settings["map"]:
            return 'no [settings.block] types (like ["aws-secret"]) or map is set'
        return server_skip_reason(config.settings)

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        return MISSING if self.skip_reason(config) else super().lookup(key, config)

    async def alookup(self, key: SecretKey, config: SourceConfig) -> Any:
        return MISSING if self.skip_reason(config) else await super().alookup(key, config)

    def lookup_many(self, keys: Sequence[SecretKey], config: SourceConfig) -> dict[SecretKey, Any]:
        return {} if self.skip_reason(config) else super().lookup_many(keys, config)

    # --- names ------------------------------------------------------------------------------

    def store_name(self, key: SecretKey, config: SourceConfig) -> str:
        """`slug/name` for a mapped secret; the bare block name, searched in each type."""
        mapped: dict[str, str] = config.source_settings(self)["map"]
        if key[1] is None and key[2] is None and key[0] in mapped:
            return mapped[key[0]]
        return block_name(key[0], key[1], key[2])

    def _candidates(self, name: str, config: SourceConfig) -> list[str]:
        if "/" in name:
            return [name]
        return [f"{slug}/{name}" for slug in config.source_settings(self)["types"]]

    def key_of(self, name: str, config: SourceConfig) -> SecretKey | None:
        settings = config.source_settings(self)
        for secret, ref in settings["map"].items():
            if ref == name:
                return SecretKey(secret)
        slug, _, block = name.partition("/")
        if slug not in settings["types"]:
            return None
        base, project, domain = parse_block_name(block)
        return SecretKey(base, project, domain) if base else None

    def canonical_name(self, name: str) -> str:
        return block_name(name)

    def error_name(self, name: str, config: SourceConfig) -> str:
        return " or ".join(self._candidates(name, config)) or name

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        refs = " or ".join(self._candidates(self.store_name(key, config), config))
        return f"{self.title} {refs or '(no types)'} on {configured_api_url() or 'no server'}"

    # --- reads ------------------------------------------------------------------------------

    def fetch(self, name: str, config: SourceConfig) -> Any:
        for ref in self._candidates(name, config):
            block = self._load(ref)
            if block is not None:
                return self._read(ref, block)
        return MISSING

    def _load(self, ref: str) -> Any:
        """The block `ref` ("slug/name"), or None when there is no such block document."""
        from prefect.blocks.abstract import SecretBlock
        from prefect.blocks.core import Block
        from prefect.exceptions import ObjectNotFound

        load: Any = Block.load
        try:
            block = load(ref, _sync=True)
        except ValueError as exc:
            # Prefect's "Unable to find block document named ...", from a 404.
            if isinstance(exc.__cause__, ObjectNotFound):
                return None
            raise self._failed(ref, "loading it", exc) from None
        except Exception as exc:  # noqa: BLE001 - every failure becomes one error
            raise self._failed(ref, "loading it", exc) from None
        if not isinstance(block, SecretBlock):
            raise self.error(ref, f"is a {type(block).__name__} block, not a SecretBlock")
        return block

    def _read(self, ref: str, block: Any) -> Any:
        try:
            value = _call(block.read_secret)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one error
            raise self._failed(ref, "read_secret", exc) from None
        if isinstance(value, (bytes, bytearray)):
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                return bytes(value)
        return value

    # --- writes -----------------------------------------------------------------------------

    def exists(self, key: SecretKey, config: SourceConfig) -> bool:
        """Whether a block answers for `key` with a value (`set` asks before replacing)."""
        require_api_url()
        found = self._existing(self.store_name(key, config), config)
        return found is not None and self._holds_value(*found)

    def _existing(self, name: str, config: SourceConfig) -> tuple[str, Any] | None:
        for ref in self._candidates(name, config):
            block = self._load(ref)
            if block is not None:
                return ref, block
        return None

    def _holds_value(self, ref: str, block: Any) -> bool:
        """Whether the block's store has its secret: False for a store's "not found" (a
        block made before its secret), which only writes ask; other failures raise."""
        try:
            _call(block.read_secret)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one error
            if "NotFound" in _described(exc):  # AWS ResourceNotFound..., Google NotFound
                return False
            raise self._failed(ref, "read_secret", exc) from None
        return True

    def store(self, name: str, value: Any, config: SourceConfig) -> str:
        require_api_url()
        found = self._existing(name, config)
        if found is None:
            raise self.error(
                " or ".join(self._candidates(name, config)) or name,
                "no such block to write through: create it first (it says where the "
                "secret lives, and with which credentials)",
            )
        ref, block = found
        outcome = "replaced" if self._holds_value(ref, block) else "created"
        try:
            _call(block.write_secret, _as_bytes(value))
        except Exception as exc:  # noqa: BLE001 - every failure becomes one error
            raise self._failed(ref, "write_secret", exc) from None
        return outcome

    def remove(self, name: str, config: SourceConfig) -> bool:
        require_api_url()
        found = self._existing(name, config)
        if found is None:
            return False
        ref, block = found
        delete = getattr(block, "delete_secret", None)
        if delete is None:
            raise UnsupportedBySource(f"block type of {ref!r} has no delete_secret")
        try:
            _call(delete)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one error
            raise self._failed(ref, "delete_secret", exc) from None
        return True

    def list_names(self, config: SourceConfig) -> list[str]:
        require_api_url()
        return [name for slug in self._slugs(config) for name in self._documents(slug)]

    def _slugs(self, config: SourceConfig) -> list[str]:
        """The block types searched or mapped to, each once."""
        settings = config.source_settings(self)
        mapped = (ref.partition("/")[0] for ref in settings["map"].values())
        return list(dict.fromkeys([*settings["types"], *mapped]))

    def _documents(self, slug: str) -> Iterator[str]:
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                offset = 0
                while True:
                    page = client.read_block_documents_by_type(
                        slug, offset=offset, limit=_PAGE, include_secrets=False
                    )
                    yield from (f"{slug}/{d.name}" for d in page if not d.is_anonymous)
                    if len(page) < _PAGE:
                        return
                    offset += len(page)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one error
            raise self._failed(f"{slug}/*", "listing", exc) from None

    def check(self, config: SourceConfig) -> str:
        from prefect.client.orchestration import get_client

        slugs = self._slugs(config)
        with get_client(sync_client=True) as client:
            for slug in slugs:
                try:
                    client.read_block_type_by_slug(slug)
                except Exception as exc:  # noqa: BLE001 - every failure becomes one error
                    raise self._failed(f"{slug}/*", "reading its block type", exc) from None
        return f"block types {', '.join(slugs)} found on {require_api_url()}"

    # --- errors -----------------------------------------------------------------------------

    def _failed(self, ref: str, doing: str, exc: BaseException) -> SecretSourceError:
        """The one-line error: what failed, the exception's type and AWS-style code, never
        its message (a store's SDK may put anything in it)."""
        kind = type(exc).__name__
        if kind == "UnknownBlockType":
            return self.error(
                ref,
                f"block type {ref.split('/')[0]!r} is not installed here: install the Prefect "
                "collection that defines it (prefect-aws for aws-secret, prefect-gcp for "
                "gcp-secret)",
            )
        if kind == "ObjectNotFound":
            return self.error(ref, f"{doing}: not found on {configured_api_url()}")
        return self.error(ref, f"{doing} failed ({_described(exc)})")


def _described(exc: BaseException) -> str:
    """The exception's type, and its AWS-style error code or HTTP status if it has one."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        code = str(response["Error"].get("Code", ""))
        return code if code == type(exc).__name__ else f"{type(exc).__name__} {code}"
    status = getattr(response, "status_code", None)
    return type(exc).__name__ + (f" HTTP {status}" if status is not None else "")


def _call(method: Any, *args: Any) -> Any:
    """`method(*args)` of a block, synchronously: Prefect's sync/async dispatch (`.aio`)
    would hand back a coroutine inside an async flow; plain async methods are run here."""
    result = method(*args, _sync=True) if hasattr(method, "aio") else method(*args)
    if hasattr(result, "__await__"):
        from prefect.utilities.asyncutils import run_coro_as_sync

        result = run_coro_as_sync(result)
    return result


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    import json

    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError):
        raise UnstorableValueError(
            f"a {type(value).__name__} cannot be written to a SecretBlock: store a str, bytes, "
            "or JSON data"
        ) from None
