"""One test per pair of sources: the higher one wins, and the lower one is shown as shadowed."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import pytest

from prefect_secrets import Secret, context, secrets_context

# Highest precedence first.
SOURCES = ["override", "context", "env", "mounted", "file", "prefect1-file", "server"]


@pytest.mark.parametrize(("higher", "lower"), list(combinations(SOURCES, 2)), ids="-over-".join)
def test_higher_source_wins(
    higher: str,
    lower: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    write_config: Callable[..., Path],
    home: Path,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    name = unique_name("PRECEDENCE")
    values = {higher: fake(higher), lower: fake(lower)}
    overrides: dict[str, str] = {}
    for source in (lower, higher):
        value = values[source]
        if source == "override":
            overrides[name] = value
        elif source == "context":
            context.secrets[name] = value
        elif source == "env":
            monkeypatch.setenv(f"PREFECT__CONTEXT__SECRETS__{name}", value)
        elif source == "mounted":
            mounted = home / "mounted"
            mounted.mkdir(exist_ok=True)
            (mounted / name).write_text(value + "\n")
            monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", str(mounted))
        elif source == "file":
            write_config(f'[context.secrets]\n{name} = "{value}"\n')
        elif source == "prefect1-file":
            write_config(
                f'[context.secrets]\n{name} = "{value}"\n', path=home / ".prefect" / "config.toml"
            )
        elif source == "server":
            request.getfixturevalue("save_block")(name.lower().replace("_", "-"), value)
    with secrets_context(overrides):
        assert Secret(name).get() == values[higher]
        statuses = {place.source: place.status for place in Secret(name).explain()}
    expected_kind = {"override": "context"}.get(higher, higher)
    assert statuses[expected_kind] == "found"
    lower_kind = {"override": "context"}.get(lower, lower)
    if lower_kind != expected_kind:
        assert statuses[lower_kind] == "shadowed"
