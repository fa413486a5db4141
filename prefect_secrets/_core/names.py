"""Secret names, and how a name maps to an env var and to a Prefect block name.

| secret name          | env var                                         | block name           |
|----------------------|-------------------------------------------------|----------------------|
| `WAREHOUSE_PASSWORD` | `PREFECT__CONTEXT__SECRETS__WAREHOUSE_PASSWORD` | `warehouse-password` |
| `api-key`            | `PREFECT__CONTEXT__SECRETS__api-key`            | `api-key`            |

Env var names keep the name's case (as Prefect 1 did). Prefect allows only
`[a-z0-9-]` in block names, so the block name is the secret name lowercased
with `_` turned into `-`: on the server, `API_KEY`, `api_key` and `api-key`
are one secret.

Scoped secrets (a project, a domain, or both) are blocks named

    scope--<project>--<domain>--<block name>      e.g. scope--etl--prod--warehouse-password
    scope--<project>----<block name>              project only
    scope----<domain>--<block name>               domain only

Project and domain names are lowercase letters and digits with single `-`
inside (as Flyte's), so they never contain `--` and the name parses back
unambiguously. Org-wide block names starting with `scope--` are reserved for
scoped secrets; such a secret can live in env vars or files, not on the server.
"""

from __future__ import annotations

import re

__all__ = [
    "NAME_RULE",
    "SCOPED_BLOCK_PREFIX",
    "SCOPE_RULE",
    "block_name",
    "checked_names",
    "env_var_name",
    "is_reserved_block_name",
    "is_valid_name",
    "parse_block_name",
    "reserved_block_name_message",
    "validate_name",
    "validate_scope",
    "validate_scopes",
]

NAME_RULE = "1-255 characters of letters, digits, '_' and '-'"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")

# Secret(...) is often built on a hot path (inside a task, per call); a regex
# match costs about as much as the whole env lookup, so remember names that
# passed. Bounded so that programs that make names up cannot grow it forever.
#: Names that passed `validate_name` (`name in checked_names` is the hot path's check).
checked_names: set[str] = set()
_CHECKED_NAMES_LIMIT = 4096


def validate_name(name: object, *, what: str = "secret name") -> str:
    """Return `name` if it is a valid secret name, else raise ValueError stating the rule."""
    if type(name) is str and name in checked_names:
        return name
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if _NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(f"invalid {what} {_shown(name)}: names are {NAME_RULE}")
    if len(checked_names) < _CHECKED_NAMES_LIMIT:
        checked_names.add(name)
    return name


def is_valid_name(name: str) -> bool:
    """Whether `name` is a valid secret name (for listings: other names are skipped)."""
    return _NAME_PATTERN.fullmatch(name) is not None


def _shown(name: str) -> str:
    # A name is not a secret, but a caller who passed a value by mistake
    # (Secret(token)) should not see it printed back in full.
    if len(name) > 40:
        return f"{name[:16]!r}... ({len(name)} characters)"
    return repr(name)


def env_var_name(prefix: str, name: str) -> str:
    """`{prefix}__CONTEXT__SECRETS__{name}`, the name's case preserved."""
    return f"{prefix}__CONTEXT__SECRETS__{name}"


def block_name(name: str, project: str | None = None, domain: str | None = None) -> str:
    """The Prefect block name of a secret: lowercased, `_` -> `-`, scope in front."""
    base = name.lower().replace("_", "-")
    if project is None and domain is None:
        return base
    return f"{SCOPED_BLOCK_PREFIX}{project or ''}--{domain or ''}--{base}"


def parse_block_name(block: str) -> tuple[str, str | None, str | None]:
    """(org-wide block name, project, domain) of a block name made by `block_name`."""
    if not block.startswith(SCOPED_BLOCK_PREFIX):
        return block, None, None
    project, _, rest = block[len(SCOPED_BLOCK_PREFIX) :].partition("--")
    domain, _, base = rest.partition("--")
    return base, project or None, domain or None


def is_reserved_block_name(name: str) -> bool:
    """Whether an org-wide secret's block name would look like a scoped one."""
    return block_name(name).startswith(SCOPED_BLOCK_PREFIX)


def reserved_block_name_message(name: str) -> str:
    """Why org-wide secret `name` cannot be a block on the server."""
    return (
        f"secret {name!r} cannot be stored on the server: org-wide block names "
        f"starting with {SCOPED_BLOCK_PREFIX!r} are reserved for scoped secrets"
    )


SCOPED_BLOCK_PREFIX = "scope--"
SCOPE_RULE = "1-63 lowercase letters and digits, with single '-' inside (like 'etl' or 'prod-eu')"
_SCOPE_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def validate_scopes(project: str | None, domain: str | None) -> tuple[str | None, str | None]:
    """(project, domain), each checked unless None (None: the settings' default)."""
    return (
        project if project is None else validate_scope(project, what="project"),
        domain if domain is None else validate_scope(domain, what="domain"),
    )


def validate_scope(value: object, *, what: str) -> str:
    """Return `value` if it is a valid project or domain name, else raise ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if len(value) > 63 or _SCOPE_PATTERN.fullmatch(value) is None:
        raise ValueError(f"invalid {what} {_shown(value)}: {what}s are {SCOPE_RULE}")
    return value
