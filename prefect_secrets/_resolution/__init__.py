"""Resolution: the one walk of the precedence (`walk`), the lookup loops (`_async`, and
`_sync` generated from it) and `explain`."""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.values import decode_value
from prefect_secrets._masking.registry import register
from prefect_secrets._resolution._async import (
    aresolve,
    aresolve_env_var,
    aresolve_many,
    aresolve_version,
)
from prefect_secrets._resolution._sync import (
    resolve,
    resolve_env_var,
    resolve_many,
    resolve_version,
)
from prefect_secrets._tokens.registry import set_secret_reader

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "aresolve",
    "aresolve_env_var",
    "aresolve_many",
    "aresolve_version",
    "resolve",
    "resolve_env_var",
    "resolve_many",
    "resolve_version",
]


def _read_for_a_token(name: str) -> Any:
    """A secret a token's mint needs (a client secret, a key), resolved like any other and
    registered for masking as `get` would (a JSON key leaf by leaf): an SDK that logs it must
    not show it either. The stored value is returned: the token's kind decodes it."""
    value = resolve(name)[0]
    register(decode_value(value))
    return value


# The token layer sits below this one: it is handed the resolver rather than importing it.
set_secret_reader(_read_for_a_token)
