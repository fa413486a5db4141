"""A secret value is saved in a block's secret fields only (`_masking/blocks.py`).

Saves go to the session's real Prefect server. A registered value in a non-secret field
of any block is refused with `SecretStorageRefused` (sync `save`, `asave`, and `save`
from async code), and nothing is stored; in a `Secret` block or a `SecretStr` /
`SecretDict` field, the same value is saved and loads back as itself. Prefect 3.9.1 has
no `String` or `JSON` block any more (`prefect.blocks.system` keeps `Secret` only):
`StringBlock` and `JSONBlock` below are the same shapes, as users' own blocks. Checks
on text that could hold a value are computed into booleans first.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from prefect.blocks.core import Block
from prefect.blocks.system import Secret as SecretBlock
from prefect.types import SecretDict
from pydantic import Field, SecretStr

from prefect_secrets import Secret, SecretStorageRefused
from tests.support.servers import PrefectServer

MARK = "_prefect_secrets_masking"
FIX = "Make the field a SecretStr, or store the secret's name and resolve it at run time."


class StringBlock(Block):
    """What `prefect.blocks.system.String` was."""

    value: str


class JSONBlock(Block):
    """What `prefect.blocks.system.JSON` was."""

    value: Any


class Credentials(Block):
    username: str
    password: SecretStr


class Warehouse(Block):
    """A user's block: plain, aliased, secret, nested fields."""

    host: str
    schema_: str = Field(default="public", alias="schema")
    password: SecretStr
    options: SecretDict = SecretDict({})
    labels: list[str] = Field(default_factory=list)
    admin: Credentials | None = None


@pytest.fixture(autouse=True)
def block_hooks() -> None:
    """The block hook installed, as arming installs it (twice: idempotent; it stays)."""
    import prefect.blocks.core

    from prefect_secrets._masking.blocks import install_block_hooks

    install_block_hooks(prefect.blocks.core)
    install_block_hooks(prefect.blocks.core)


@pytest.fixture
def value(
    monkeypatch: pytest.MonkeyPatch, unique_name: Callable[[str], str], fake: Callable[[str], str]
) -> str:
    """A value handed out by the library, as a flow gets it (which registers it)."""
    name = unique_name("BLOCK")
    monkeypatch.setenv(f"PREFECT__CONTEXT__SECRETS__{name}", fake("block"))
    return str(Secret(name).get())


@pytest.fixture
def block_name(server: PrefectServer, unique_name: Callable[[str], str]) -> Iterator[str]:
    """A fresh block document name; whatever got saved under it is deleted afterwards."""
    name = unique_name("block").lower().replace("_", "-")
    yield name
    with httpx.Client(base_url=server.api_url, timeout=10) as api:
        query = {"block_documents": {"name": {"any_": [name]}}}
        for document in api.post("/block_documents/filter", json=query).json():
            api.delete(f"/block_documents/{document['id']}")


def stored(server: PrefectServer, block: Block, name: str) -> dict[str, Any] | None:
    """The block document's data as the server keeps it (secrets included), or None."""
    slug = block.get_block_type_slug()
    url = f"{server.api_url}/block_types/slug/{slug}/block_documents/name/{name}"
    response = httpx.get(url, params={"include_secrets": "true"}, timeout=10)
    return response.json()["data"] if response.status_code == 200 else None


def save_sync(block: Block, name: str, overwrite: bool = False) -> None:
    """`Block.save` from plain sync code, in a thread (as the `save_block` fixture does),
    so that an async test's running loop does not turn it into `asave`."""
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(context.run, block.save, name, overwrite=overwrite).result()


PLAIN_FIELD_CASES: dict[str, tuple[Callable[[str], Block], str]] = {
    "str field": (lambda v: StringBlock(value=f"postgresql://etl:{v}@db"), "'value'"),
    "JSON dict": (lambda v: JSONBlock(value={"password": v}), "'value.password'"),
    "JSON dict key": (lambda v: JSONBlock(value={v: "admin"}), "'value'"),
    "JSON list": (lambda v: JSONBlock(value=["host", v]), "'value'"),
    "aliased field": (
        lambda v: Warehouse(host="db", schema=v, password="not-it"),
        "'schema_'",
    ),
    "list field": (lambda v: Warehouse(host="db", password="x", labels=[v]), "'labels'"),
    "nested block": (
        lambda v: Warehouse(host="db", password="x", admin=Credentials(username=v, password="y")),
        "'admin.username'",
    ),
}


@pytest.mark.parametrize("case", list(PLAIN_FIELD_CASES))
def test_a_value_in_a_plain_field_is_refused(
    server: PrefectServer, value: str, block_name: str, case: str
) -> None:
    """`save` refuses, naming the block type, the block and the field, with the fix, and
    never the value; no block document is created."""
    make, field = PLAIN_FIELD_CASES[case]
    block = make(value)
    with pytest.raises(SecretStorageRefused) as refused:
        save_sync(block, block_name)
    message = str(refused.value)
    leaked = value in message
    assert not leaked
    assert f"refused to save the {block.get_block_type_name()} block '{block_name}'" in message
    assert field in message
    assert FIX in message
    assert stored(server, block, block_name) is None


async def test_asave_and_save_from_async_code_are_refused(
    server: PrefectServer, value: str, block_name: str
) -> None:
    """The async path (`asave`, and `save` dispatched to it in async code) is refused
    the same way. Before Prefect 3.6 there is no `asave`: `save` is itself async
    (`@sync_compatible`), awaited here."""
    if hasattr(Block, "asave") or not _before("3.6"):
        with pytest.raises(SecretStorageRefused):
            await StringBlock(value=value).asave(block_name)
    with pytest.raises(SecretStorageRefused):
        await StringBlock(value=value).save(block_name)
    assert stored(server, StringBlock(value="x"), block_name) is None


def test_an_overwrite_is_refused_and_the_stored_block_kept(
    server: PrefectServer, value: str, block_name: str, fake: Callable[[str], str]
) -> None:
    clean = fake("not-secret")
    save_sync(StringBlock(value=clean), block_name)
    with pytest.raises(SecretStorageRefused):
        save_sync(StringBlock(value=value), block_name, overwrite=True)
    kept = stored(server, StringBlock(value="x"), block_name) == {"value": clean}
    assert kept


SECRET_FIELD_CASES: dict[str, Callable[[str], Block]] = {
    "Secret block, str": lambda v: SecretBlock(value=v),
    "Secret block, dict": lambda v: SecretBlock(value={"password": v}),
    "SecretStr field": lambda v: Warehouse(host="db.example.invalid", password=v),
    "SecretDict field": lambda v: Warehouse(host="db", password="x", options={"token": v}),
    "nested SecretStr": lambda v: Warehouse(
        host="db", password="x", admin=Credentials(username="admin", password=v)
    ),
}


@pytest.mark.parametrize("case", list(SECRET_FIELD_CASES))
def test_a_value_in_a_secret_field_is_saved_as_itself(
    server: PrefectServer, value: str, block_name: str, case: str
) -> None:
    """Secret fields keep the real value (not `********`): it loads back as saved."""
    block = SECRET_FIELD_CASES[case](value)
    save_sync(block, block_name)
    loaded = type(block).load(block_name, validate=True)
    as_saved = _secret_values(loaded) == _secret_values(block)
    assert as_saved
    holds_value = value in str(_secret_values(loaded))
    assert holds_value


def _secret_values(block: Block) -> Any:
    if isinstance(block, SecretBlock):
        return block.get()
    assert isinstance(block, Warehouse)
    admin = block.admin.password.get_secret_value() if block.admin else None
    return (block.password.get_secret_value(), block.options.get_secret_value(), admin)


def test_blocks_without_a_value_save_as_before(
    server: PrefectServer, value: str, block_name: str
) -> None:
    """The check refuses values, not blocks: a plain block saves (a value is registered)."""
    save_sync(JSONBlock(value={"host": "db.example.invalid", "port": 5432}), block_name)
    assert stored(server, JSONBlock(value=None), block_name) == {
        "value": {"host": "db.example.invalid", "port": 5432}
    }


def test_the_hook_is_in_place_once() -> None:
    """Hook point: `prefect.blocks.core.Block._to_block_document`, which both save paths
    (`_save_sync` for `save`, `_save` for `asave`) build the document with."""
    import inspect

    hooked = Block._to_block_document
    assert getattr(hooked, MARK, False)
    assert not getattr(getattr(hooked, "__wrapped__", None), MARK, False), "installed twice"
    # `_save_sync` (sync `save`) is Prefect 3.6+; before it, `save` runs `_save` in both cases.
    paths = ["_save"] if _before("3.6") else ["_save_sync", "_save"]
    for path in paths:
        save = getattr(Block, path, None)
        builds = save is not None and "self._to_block_document(" in inspect.getsource(save)
        assert builds, f"Block.{path} does not build with _to_block_document ({_prefect()})"


def _prefect() -> str:
    import prefect

    return f"Prefect {prefect.__version__}"


def _before(release: str) -> bool:
    import prefect
    from packaging.version import Version

    return Version(prefect.__version__) < Version(release)
