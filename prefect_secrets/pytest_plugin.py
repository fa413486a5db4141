"""The pytest plugin: the fixture `fake_secrets` and the marker `@pytest.mark.secrets(...)`.

Registered under the entry-point group `pytest11`, so it is active wherever
prefect-secrets is installed. It imports only pytest when pytest loads it
(not Prefect, not even the library): a test that uses neither the fixture nor
the marker runs exactly as without it.

    def test_load(fake_secrets):
        fake_secrets.set("API_KEY", "fake-key")
        fake_secrets.hide("DB_PASSWORD")           # absent, whatever any source holds
        fake_secrets.fail("server")                # lookups reaching it raise SecretSourceError
        ...
        assert fake_secrets.lookups == ["API_KEY"]

    @pytest.mark.secrets(API_KEY="fake-key", DB={"user": "u"})
    def test_etl(): ...

Each such test is isolated from the machine: no secrets from env vars
(`PREFECT__CONTEXT__SECRETS__*`, `PREFECT_SECRETS_*` are removed), a config
file of its own (empty), no Prefect 1 file, no mounted directory, no server
unless `fake_secrets.allow_server()` or `@pytest.mark.secrets(allow_server=True)`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["FakeSecrets", "fake_secrets", "pytest_collection_modifyitems", "pytest_configure"]

MARKER = "secrets"
#: The marker's keyword arguments that are not secrets (such names go in its mapping).
_OPTIONS = ("allow_server", "hide", "fail")
_ISOLATED_PREFIXES = ("PREFECT__CONTEXT__SECRETS__", "PREFECT_SECRETS_")
_ISOLATED_VARS = ("PREFECT__CLOUD__USE_LOCAL_SECRETS",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(mapping=None, /, *, allow_server=False, hide=(), fail=(), **NAMES): "
        "fake secrets for this test (prefect-secrets), isolated from the machine's; "
        "see the fixture fake_secrets",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked `secrets` uses the fixture `fake_secrets`, asked for or not."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker(MARKER) is not None
        if marked and isinstance(names, list) and "fake_secrets" not in names:
            names.insert(0, "fake_secrets")


class FakeSecrets:
    """What the fixture `fake_secrets` hands a test. Values are never recorded or shown."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self._monkeypatch = monkeypatch
        #: The test's own config file (created by the first scoped `set`).
        self.config_path = directory / "config.toml"
        #: The names looked up, in order (as the context source, first in every lookup,
        #: was asked for them); never values.
        self.lookups: list[str] = []
        self._scoped: set[str] = set()
        self._patched: list[tuple[object, str]] = []
        self._isolate(directory)
        self._record_lookups()

    def _isolate(self, directory: Path) -> None:
        patch = self._monkeypatch
        prefix = os.environ.get("PREFECT_SECRETS_ENV_PREFIX")
        prefixes = _ISOLATED_PREFIXES + ((f"{prefix}__CONTEXT__SECRETS__",) if prefix else ())
        for variable in list(os.environ):
            if variable.startswith(prefixes) or variable in _ISOLATED_VARS:
                patch.delenv(variable)
        patch.setenv("PREFECT_SECRETS_CONFIG", str(self.config_path))
        patch.setenv("XDG_CONFIG_HOME", str(directory / "xdg"))
        patch.setenv("PREFECT_SECRETS_PREFECT1_CONFIG", "")
        patch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", "[]")
        patch.setenv("PREFECT_SECRETS_SERVER", "never")

    def _record_lookups(self) -> None:
        from prefect_secrets._config.lookup import SourceConfig
        from prefect_secrets._sources.registry import source_of_kind

        source = source_of_kind("context", SourceConfig())
        lookup = type(source).lookup
        lookups = self.lookups

        def recording(key: Any, config: Any) -> Any:
            lookups.append(key[0])
            return lookup(source, key, config)

        self._patch(source, "lookup", recording)

    def _patch(self, source: object, method: str, replacement: Any) -> None:
        """Shadow a method of one source instance until `close` (which removes it again,
        rather than leave a bound copy of the class's method behind)."""
        setattr(source, method, replacement)
        self._patched.append((source, method))

    def close(self) -> None:
        """Undo the patches of the source instances (the fixture calls it)."""
        while self._patched:
            source, method = self._patched.pop()
            vars(source).pop(method, None)

    def set(
        self, name: str, value: Any, *, project: str | None = None, domain: str | None = None
    ) -> None:
        """Give `name` a value for this test, org-wide (every scope) or in a scope.

        Org-wide values go in `context.secrets` (every thread and task of the process
        sees them); scoped ones in the test's own config file, searched in scope order
        (project+domain, project, domain, org-wide) as in production.
        """
        from prefect_secrets._context import HIDDEN, Failing, context
        from prefect_secrets._core.names import validate_name, validate_scopes

        name = validate_name(name)
        if project is None and domain is None and name not in self._scoped:
            context.secrets[name] = value
            return
        project, domain = validate_scopes(project, domain)
        if name not in self._scoped:
            self._scoped.add(name)
            held = context.secrets.get(name, None)  # an org-wide fake joins it in the file
            if held is not None and held is not HIDDEN and type(held) is not Failing:
                del context.secrets[name]
                self._write(name, held, None, None)
        self._write(name, value, project, domain)

    def _write(self, name: str, value: Any, project: str | None, domain: str | None) -> None:
        from prefect_secrets._config.lookup import SourceConfig
        from prefect_secrets._sources.registry import source_of_kind
        from prefect_secrets.sources import SecretKey

        config = SourceConfig()
        source_of_kind("file", config).write(SecretKey(name, project, domain), value, config)

    def hide(self, *names: str) -> None:
        """The secrets are absent in this test (`SecretNotFound`, or the `default`),
        whatever any source holds."""
        from prefect_secrets._context import HIDDEN, context

        for name in names:
            context.secrets[name] = HIDDEN

    def fail(self, target: str, message: str = "failing on purpose (fake_secrets.fail)") -> None:
        """Lookups raise `SecretSourceError`: of the secret `target`, or, when `target` is
        a source kind ("server", "file", "env"...), of every secret that reaches it."""
        from prefect_secrets._config.lookup import SourceConfig
        from prefect_secrets._context import Failing, context
        from prefect_secrets._core.errors import SecretSourceError
        from prefect_secrets._sources.registry import available_kinds, source_of_kind

        if target not in available_kinds():
            context.secrets[target] = Failing(message)
            return
        source = source_of_kind(target, SourceConfig())

        def failing(key: Any, *args: Any) -> Any:
            name = (
                key[0][0]
                if isinstance(key, list | tuple) and key and isinstance(key[0], tuple)
                else key[0]
            )
            raise SecretSourceError(f"secret {name!r}: source {target!r}: {message}", source=target)

        async def afailing(key: Any, *args: Any) -> Any:
            return failing(key)

        for method in ("lookup", "lookup_many", "lookup_version"):
            self._patch(source, method, failing)
            self._patch(source, f"a{method}", afailing)

    def allow_server(self) -> None:
        """Let lookups ask the Prefect server again (`server = auto`: when `PREFECT_API_URL`
        is set, as under `prefect_test_harness`, or in a flow run)."""
        self._monkeypatch.delenv("PREFECT_SECRETS_SERVER", raising=False)

    def __repr__(self) -> str:
        return f"FakeSecrets(lookups={len(self.lookups)})"


@pytest.fixture
def fake_secrets(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FakeSecrets]:
    """Fake secrets for one test, isolated from the machine's (see `FakeSecrets`).
    `@pytest.mark.secrets(NAME=value, ...)` sets them before the test starts."""
    from prefect_secrets._context import context

    saved = dict(context.secrets)
    context.secrets.clear()
    fake = None
    try:
        fake = FakeSecrets(monkeypatch, tmp_path_factory.mktemp("prefect-secrets"))
        for marker in reversed(list(request.node.iter_markers(MARKER))):  # closest last
            _apply(fake, marker)
        yield fake
    finally:
        if fake is not None:
            fake.close()
        context.secrets = saved


def _apply(fake: FakeSecrets, marker: pytest.Mark) -> None:
    values: dict[str, Any] = {}
    for mapping in marker.args:
        if not isinstance(mapping, dict):
            raise TypeError(f"@pytest.mark.{MARKER} takes a mapping of names, not {mapping!r}")
        values.update(mapping)
    options = {key: marker.kwargs[key] for key in _OPTIONS if key in marker.kwargs}
    values.update({k: v for k, v in marker.kwargs.items() if k not in _OPTIONS})
    for name, value in values.items():
        fake.set(name, value)
    if options.get("allow_server"):
        fake.allow_server()
    for key, act in (("hide", fake.hide), ("fail", fake.fail)):
        targets = options.get(key, ())
        for target in [targets] if isinstance(targets, str) else targets:
            act(target)
