"""Values: a string is JSON-decoded when it is JSON, returned as is otherwise; nothing else."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_secrets import Secret
from prefect_secrets._core.values import decode_value

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("stored", "returned"),
    [
        ("42", 42),
        ('"42"', "42"),
        ('{"user": "u"}', {"user": "u"}),
        ("not json", "not json"),
        ("", ""),
        ("true", True),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("3.5", 3.5),
        ("123456789012345678901234567890", 123456789012345678901234567890),
        ("$HOME", "$HOME"),
        ("~/x", "~/x"),
        ("${a.b}", "${a.b}"),
        ("[1, 2", "[1, 2"),
        ("{'a': 1}", "{'a': 1}"),
    ],
)
def test_the_decoding_table(stored: str, returned: Any) -> None:
    """The documented examples, and no expansion or interpolation of any kind."""
    assert decode_value(stored) == returned
    assert type(decode_value(stored)) is type(returned)


def test_nan_decodes_like_prefects_secret_block() -> None:
    """Prefect's Secret block uses json.loads, which accepts NaN; so do we."""
    assert math.isnan(decode_value("NaN"))


@given(json_values)
def test_json_round_trips_through_an_env_var(value: Any) -> None:
    """Whatever JSON a deployment puts in an env var comes back as that value."""
    assert decode_value(json.dumps(value)) == value


@given(st.text())
def test_any_string_comes_back_either_decoded_or_unchanged(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        expected = text
    result = decode_value(text)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(result)
    else:
        assert result == expected


@pytest.mark.parametrize("value", [42, {"a": "b"}, [1], None, 3.5, True])
def test_non_strings_are_returned_as_they_are(value: Any) -> None:
    assert decode_value(value) is value


def test_raw_returns_the_stored_string(monkeypatch: pytest.MonkeyPatch) -> None:
    """The '42' surprise has a way out: get(raw=True)."""
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__PIN", "42")
    assert Secret("PIN").get() == 42
    assert Secret("PIN").get(raw=True) == "42"
