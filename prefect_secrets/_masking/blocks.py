"""Blocks: a secret value may be saved in a block's secret fields only.

Prefect keeps a block's secret fields (`SecretStr`, `SecretBytes`, `SecretDict`,
pydantic `Secret[...]`, the `Secret` block's `value`, and those of nested blocks) hidden:
reads without `include_secrets` and the UI show `********`. Every other field is
stored readable: block reads and the UI show it, and since Prefect 3.9 the server copies
a block's non-secret string fields into its `prefect.block-document.created/updated`
event payloads. Masking cannot help there (the block would hand `********` back), so:

| a registered value in ...                                 | `Block.save` / `asave`          |
|-----------------------------------------------------------|---------------------------------|
| a secret field (as the block's schema lists it in         | saved, the real value           |
| `secret_fields`, nested paths and `field.*` included)     |                                 |
| any other field, at any depth (a `str` field, a dict,     | refused: `SecretStorageRefused` |
| a list, a dict key, a nested block's plain field)         | before anything is sent         |

| hook point                                   | what goes through it                    |
|----------------------------------------------|-----------------------------------------|
| `prefect.blocks.core:Block._to_block_document` | every save: `save` (sync), `asave` and |
|                                              | `save` from async code (`_save`), and   |
|                                              | both their create and overwrite paths   |

The refusal names the block type, the block's name and the field, never the value, and
says how to fix it. The block type and schema may already be registered on the server
(Prefect does that first); no block document is created or changed. A block document
written by other means (`client.create_block_document`, the CLI, the UI) is not checked.
"""

from __future__ import annotations

import logging

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretStorageRefused
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import current_masker, redact

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType
    from typing import Any

    from prefect_secrets._masking.registry import Masker

__all__ = ["install_block_hooks", "plain_fields_holding_values"]

_MARK = MARK
_logger = logging.getLogger("prefect_secrets")

# A field's path in block data: top-level field name, then nested keys.
_FieldPath = tuple[str, ...]


def install_block_hooks(module: ModuleType) -> None:
    """Hook point: `Block._to_block_document` (`prefect.blocks.core`).

    Why there: both save paths (`_save_sync` for `save`, `_save` for `asave` and for
    `save` called from async code) build the document they send with it, after the
    block type and schema are registered and before the block document is created or
    overwritten. It returns the data as it will be stored (secrets included) with the
    schema whose `secret_fields` the server obfuscates by: the same rule, at the
    same place.
    """
    cls = module.Block
    to_block_document = cls._to_block_document
    if getattr(to_block_document, _MARK, False):
        return

    def refusing_to_block_document(self: Any, *args: Any, **kwargs: Any) -> Any:
        document = to_block_document(self, *args, **kwargs)
        _refuse_values_in_plain_fields(self, document)
        return document

    setattr(refusing_to_block_document, _MARK, True)
    refusing_to_block_document.__wrapped__ = to_block_document  # type: ignore[attr-defined]
    cls._to_block_document = refusing_to_block_document


def plain_fields_holding_values(
    data: dict[str, Any], secret_fields: list[str], aliases: dict[str, str] | None = None
) -> list[str]:
    """The dotted paths, outside `secret_fields`, of the leaves of block `data` that hold
    a registered value (path parts that hold one are masked).

    `secret_fields` is Prefect's list: `"x"` (the field and all below it), `"x.y"`,
    `"x.*"` (all below x). `aliases` maps a top-level data key to its field name
    (data keys are aliases, secret fields are field names).
    """
    masker = current_masker()
    if masker is None:
        return []
    secret = [_secret_prefix(field) for field in secret_fields]
    aliases = aliases or {}
    found: list[str] = []
    for key, value in data.items():
        top = aliases.get(key, key)
        for path in _holding(masker, value, (top,)):
            named = ".".join(redact(part) for part in path)
            if not any(path[: len(prefix)] == prefix for prefix in secret) and named not in found:
                found.append(named)
    return found


def _secret_prefix(field: str) -> _FieldPath:
    parts = tuple(field.split("."))
    # "x.*" and "x" both cover everything below x (the server cuts at the wildcard).
    return parts[: parts.index("*")] if "*" in parts else parts


def _holding(masker: Masker, value: Any, path: _FieldPath) -> Iterator[_FieldPath]:
    """The paths below `path` whose string (or dict key) holds a registered value.
    A list's items share the list's path: Prefect's secret fields name no index."""
    if isinstance(value, str):
        if masker.found_in_bytes(value.encode("utf-8", "surrogatepass")):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _holding(masker, key, path)
            yield from _holding(masker, item, (*path, str(key)))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _holding(masker, item, path)


def _refuse_values_in_plain_fields(block: Any, document: Any) -> None:
    """Raise `SecretStorageRefused` if `document` holds a value outside secret fields.
    Any other failure of the check is logged, and the save goes on: a broken check must
    not break the user's run."""
    try:
        schema = document.block_schema
        secret_fields = list(
            (schema.fields if schema is not None else {}).get("secret_fields") or []
        )
        aliases = {
            alias: name
            for name, field in type(block).model_fields.items()
            for alias in (field.alias, field.serialization_alias)
            if alias and alias != name
        }
        found = plain_fields_holding_values(document.data, secret_fields, aliases)
        if not found:
            return
        type_name = redact(str(block.get_block_type_name()))
        named = redact(repr(document.name)) if document.name else "(anonymous)"
    except Exception as exc:  # noqa: BLE001 - see the docstring
        _logger.error(
            "prefect-secrets: could not check a block for secret values in its non-secret "
            "fields before saving it (%s); it is saved unchecked",
            type(exc).__name__,
        )
        return
    fields = ", ".join(repr(path) for path in found)
    raise SecretStorageRefused(
        f"prefect-secrets: refused to save the {type_name} block {named}: its field"
        f"{'s' if len(found) > 1 else ''} {fields} hold{'' if len(found) > 1 else 's'} a "
        "secret value, but only a block's secret fields are kept hidden; Prefect stores "
        "the others readable (block reads, the UI, block events). Make the field a "
        "SecretStr, or store the secret's name and resolve it at run time."
    )
