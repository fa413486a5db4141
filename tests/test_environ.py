"""Pin-point: the fast env reader agrees with os.environ (a Python that breaks it fails here)."""

from __future__ import annotations

import os

import pytest

from prefect_secrets._core.environ import getenv


def test_fast_getenv_follows_every_kind_of_change(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "PREFECT_SECRETS_TEST_ENVIRON_PROBE"
    assert getenv(name) is None
    monkeypatch.setenv(name, "fake-1")
    assert getenv(name) == os.environ[name] == "fake-1"
    os.environ[name] = "fake-ü-2"
    assert getenv(name) == "fake-ü-2"
    os.environ.update({name: "fake-3"})
    assert getenv(name) == "fake-3"
    del os.environ[name]
    assert getenv(name) is None
    os.environ.setdefault(name, "fake-4")
    assert getenv(name) == "fake-4"
    os.environ.pop(name)
    assert getenv(name) is None


def test_fast_getenv_uses_the_fast_path_on_cpython() -> None:
    """Without `os.environ._data` the fallback works, but the speed goal is lost: say so."""
    assert getenv.__name__ == "fast_getenv"


def test_snapshot_changes_exactly_when_a_watched_variable_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settings are re-parsed when (and only when) this tuple changes."""
    from prefect_secrets._core.environ import snapshot

    keys = ("PREFECT_SECRETS_TEST_SNAP_A", "PREFECT_SECRETS_TEST_SNAP_B")
    before = snapshot(keys)
    assert before == (None, None)
    monkeypatch.setenv("PREFECT_SECRETS_TEST_SNAP_OTHER", "fake-unrelated")
    assert snapshot(keys) == before
    monkeypatch.setenv(keys[1], "fake-1")
    changed = snapshot(keys)
    assert changed != before
    monkeypatch.setenv(keys[1], "fake-2")
    assert snapshot(keys) not in (before, changed)
    monkeypatch.delenv(keys[1])
    assert snapshot(keys) == before
