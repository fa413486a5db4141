"""Secret names: the rule, and how names map to env vars and block names."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_secrets import Secret
from prefect_secrets._core.names import block_name, env_var_name

NAME_CHARS = string.ascii_letters + string.digits + "_-"


@given(st.text(alphabet=NAME_CHARS, min_size=1, max_size=255))
def test_every_name_of_allowed_characters_is_accepted(name: str) -> None:
    """1-255 letters, digits, '_' and '-' make a valid name, kept exactly as given."""
    assert Secret(name).name == name


@given(
    st.text(min_size=1, max_size=300).filter(
        lambda s: not (set(s) <= set(NAME_CHARS) and len(s) <= 255)
    )
)
def test_every_other_name_is_refused_with_the_rule(name: str) -> None:
    """Anything else raises ValueError whose message states the rule."""
    with pytest.raises(ValueError, match="1-255 characters of letters, digits, '_' and '-'"):
        Secret(name)


@pytest.mark.parametrize(
    "name",
    ["", " ", "A B", "A=B", "a/b", "a\nb", "é", "a.b", "x" * 256, "tab\there"],
    ids=[
        "empty",
        "space",
        "inner-space",
        "equals",
        "slash",
        "newline",
        "unicode",
        "dot",
        "256",
        "tab",
    ],
)
def test_named_bad_names(name: str) -> None:
    """The classic bad names each get the rule, on one line."""
    with pytest.raises(ValueError, match="names are 1-255 characters") as caught:
        Secret(name)
    assert "\n" not in str(caught.value)


def test_a_non_string_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        Secret(42)  # type: ignore[arg-type]


def test_long_bad_names_are_not_echoed_in_full() -> None:
    """A value passed by mistake as a name is not printed back whole."""
    mistaken_value = "fake token with spaces " * 5
    with pytest.raises(ValueError, match="names are") as caught:
        Secret(mistaken_value)
    assert mistaken_value not in str(caught.value)
    assert f"({len(mistaken_value)} characters)" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("WAREHOUSE_PASSWORD", "warehouse-password"),
        ("api-key", "api-key"),
        ("Api_Key", "api-key"),
        ("x", "x"),
        ("A1_b2-C3", "a1-b2-c3"),
    ],
)
def test_block_names_are_lowercased_with_dashes(name: str, expected: str) -> None:
    assert block_name(name) == expected


@given(st.text(alphabet=NAME_CHARS, min_size=1, max_size=255))
def test_every_block_name_is_one_prefect_accepts(name: str) -> None:
    """Prefect allows only [a-z0-9-] in block names; the mapping always lands there."""
    assert set(block_name(name)) <= set(string.ascii_lowercase + string.digits + "-")


def test_env_var_names_keep_the_case() -> None:
    assert (
        env_var_name("PREFECT", "Warehouse_Password")
        == "PREFECT__CONTEXT__SECRETS__Warehouse_Password"
    )
