"""Every spelling a value takes on its way out is masked; ids are never cut; patterns are
opt-in; masking scales. Checks on text that may hold a value are booleans first, so
that a failure never prints one."""

from __future__ import annotations

import base64
import html
import json
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_secrets import Secret, SettingsError
from prefect_secrets._masking.matcher import MASK, Masker
from prefect_secrets._masking.registry import redact, register
from prefect_secrets._masking.spellings import spellings

TRICKY = "fake-p@ss 'w\"rd\\ é+&=/%"


def masker_of(*values: str) -> Masker:
    return Masker(set().union(*(spellings(value) for value in values)))


def hidden(value: str, text: str) -> bool:
    """Whether `text` no longer holds `value` after masking, and shows the mask instead."""
    masked = masker_of(value).mask(text)
    return value not in masked and MASK in masked


@pytest.mark.parametrize(
    ("how", "spell"),
    [
        ("plain", lambda v: v),
        ("repr", repr),
        ("repr of repr", lambda v: repr(repr(v))),
        ("json of repr", lambda v: json.dumps(repr(v))),
        ("json", json.dumps),
        ("json, unicode", lambda v: json.dumps(v, ensure_ascii=False)),
        ("json of json of repr", lambda v: json.dumps(json.dumps(repr(v)))),
        ("ascii", ascii),
        ("bytes repr", lambda v: repr(v.encode())),
        ("url-quoted", quote),
        ("url-quoted, nothing safe", lambda v: quote(v, safe="")),
        ("form-encoded (httpx query)", quote_plus),
        ("html", html.escape),
    ],
)
def test_every_escaped_or_quoted_spelling_is_masked(how: str, spell: Callable[[str], str]) -> None:
    value = TRICKY + secrets.token_hex(4)
    text = f"request failed: {spell(value)} (retrying)"
    decoded_back = hidden(value, text) and spell(value) not in masker_of(value).mask(text)
    assert decoded_back, how


@pytest.mark.parametrize("prefix", ["", "u:", "us:", "user:"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_of_a_value_inside_a_longer_text_is_masked(
    prefix: str, encode: Callable[[bytes], bytes]
) -> None:
    """`Authorization: Basic base64(user:password)`: the value sits at any byte alignment."""
    value = "fake-" + secrets.token_urlsafe(18)
    header = "Basic " + encode(f"{prefix}{value}@end".encode()).decode()
    masked = masker_of(value).mask(header)
    assert MASK in masked
    # Whatever base64 is left, decoded at any alignment, no longer holds the value.
    for piece in masked.removeprefix("Basic ").split(MASK):
        for start in range(4):
            chunk = piece[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            decoded = base64.b64decode(chunk.replace("-", "+").replace("_", "/") + "==")
            assert value.encode() not in decoded


def test_hex_and_each_line_of_a_multi_line_value_are_masked() -> None:
    lines = [secrets.token_urlsafe(48)[:64] for _ in range(4)]
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"
    masker = masker_of(pem)
    printed_line_by_line = "\n".join(f"    {line!r}," for line in lines)  # pprint's shape
    masked = masker.mask(printed_line_by_line)
    assert not any(line in masked for line in lines)
    token = "fake-" + secrets.token_hex(12)
    assert hidden(token, f"hex={token.encode().hex()}")


def test_pydantics_truncated_input_is_masked() -> None:
    """pydantic quotes the first 24 and last 23 characters of a long invalid input."""
    from pydantic import BaseModel, Field, ValidationError

    class ApiSettings(BaseModel):
        api_key: str = Field(max_length=16)

    value = "fake-eyJ" + secrets.token_urlsafe(40)
    with pytest.raises(ValidationError) as caught:
        ApiSettings(api_key=value)
    message = str(caught.value)
    masked = masker_of(value).mask(message)
    assert value[:20] not in masked
    assert value[-20:] not in masked
    assert MASK in masked


def test_a_truncated_copy_keeps_neither_end() -> None:
    value = "fake-" + secrets.token_urlsafe(60)
    masker = masker_of(value)
    for cut in (value[:30] + "...", "..." + value[-30:]):
        masked = masker.mask(f"message: {cut}")
        assert value[:20] not in masked
        assert value[-20:] not in masked


@settings(max_examples=60, deadline=None)
@given(
    value=st.text(min_size=8, max_size=40).filter(lambda v: v.strip() == v and "\n" not in v),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_any_value_is_masked_in_any_text_around_it(value: str, before: str, after: str) -> None:
    masker = masker_of(value)
    for spelled in (value, repr(value)[1:-1], json.dumps(value)[1:-1]):
        masked = masker.mask(before + spelled + after)
        assert spelled not in masked or masked.count(spelled) < (before + spelled + after).count(
            spelled
        )


def test_an_id_that_happens_to_contain_a_short_value_is_left_alone() -> None:
    """A 4-character secret (a port) must not cut a run id on its way to the API."""
    run_id = str(uuid.uuid4())
    short = run_id[9:13]
    masker = masker_of(short)
    assert masker.mask(f"flow run {run_id}") == f"flow run {run_id}"
    assert masker.mask(f"port {short}") == f"port {MASK}"
    whole = str(uuid.uuid4())
    assert masker_of(whole).mask(f"api key {whole}") == f"api key {MASK}"


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-30T07:59:37.123440+00:00",
        "2026-11-30T07:59:37.123440Z",
        "2026-11-30 07:59:37.912345",
    ],
)
def test_a_timestamp_that_happens_to_contain_a_short_value_is_left_alone(timestamp: str) -> None:
    """A 4-digit secret (a PIN) must not cut an event's time: Prefect would drop the event."""
    short = "1234"
    assert short in timestamp
    masker = masker_of(short)
    line = f"at {timestamp}: pin {short}"
    assert masker.mask(line) == f"at {timestamp}: pin {MASK}"
    assert masker_of(timestamp).mask(f"logged {timestamp}") == f"logged {MASK}"


def test_overlapping_values_are_masked_whole_whatever_the_order_registered(
    fake: Callable[[str], str],
) -> None:
    long = fake("outer") + "-" + secrets.token_hex(8)
    inner = long[5:17]
    register(inner)
    masked = redact(f"x {long} y")
    assert inner not in masked  # only the inner one is known yet: it goes
    register(long)
    assert redact(f"x {long} y") == f"x {MASK} y"  # now the whole outer one goes


def test_a_thousand_values_are_all_masked(fake: Callable[[str], str]) -> None:
    values = [f"fake-{index}-{secrets.token_hex(6)}" for index in range(1000)]
    masker = masker_of(*values)
    text = " | ".join(values[::97])
    masked = masker.mask(text)
    assert not any(value in masked for value in values)


def test_binary_values_are_masked_as_the_text_they_show_up_as() -> None:
    """Binary secrets (AWS SecretBinary, a key file read as bytes): as their UTF-8 text,
    or, when they are not UTF-8, as `print` shows them and as base64."""
    text_like = b"fake-binary-" + secrets.token_hex(6).encode()
    raw = b"\xfe\xedfake" + secrets.token_bytes(12)
    register(text_like)
    register(raw)
    for shown in (text_like.decode(), str(text_like), str(raw), base64.b64encode(raw).decode()):
        masked = redact(f"key: {shown} end")
        assert shown not in masked
        assert MASK in masked


# --- patterns: secrets the library did not hand out ---------------------------------------------

TOKENS = {
    "aws": "AKIA" + "FAKE" + "0123456789AB",
    "github": "ghp_" + "fake" * 9,
    "slack": "xoxb-" + "0000000000-fake-token",
    "jwt": "eyJ" + "fakeheaderfake.eyJ" + "fakepayloadfake.fakesignaturefake",
    "gcp": "AIza" + "Fake" * 8 + "Fak",
}


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_builtin_patterns_mask_tokens_never_handed_out(
    name: str, write_config: Callable[..., Path]
) -> None:
    token = TOKENS[name]
    write_config(f'[settings]\nmask_patterns = ["{name}"]\n')
    assert redact(f"token={token};") == f"token={MASK};"


def test_patterns_are_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"token={TOKENS['aws']};"
    assert redact(text) == text
    monkeypatch.setenv("PREFECT_SECRETS_MASK_PATTERNS", "aws,github")
    assert redact(text) == f"token={MASK};"


def test_pem_blocks_and_url_passwords_by_pattern(write_config: Callable[..., Path]) -> None:
    write_config('[settings]\nmask_patterns = ["pem", "url-password"]\n')
    pem = "-----BEGIN RSA PRIVATE KEY-----\nfakefakefake\n-----END RSA PRIVATE KEY-----"
    assert redact(f"key:\n{pem}\nend") == f"key:\n{MASK}\nend"
    # Port 5432 would be masked if another test registered "5432" (get_many raw=True does).
    dsn = "postgresql://etl:fake-pw-not-handed-out@db.example.invalid:15439/wh"
    assert redact(dsn) == f"postgresql://etl:{MASK}@db.example.invalid:15439/wh"


def test_your_own_patterns(write_config: Callable[..., Path]) -> None:
    write_config("[settings]\nmask_regexes = ['corp-[A-Z0-9]{12}']\n")
    assert redact("id corp-FAKE12345678 end") == f"id {MASK} end"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('mask_patterns = ["aws", "nope"]', "'nope' is not a built-in pattern"),
        ("mask_regexes = ['(unclosed']", "not a valid regular expression"),
        ("mask_regexes = ['a*']", "matches the empty string"),
        ("mask_regexes = ['(?P<x>a)']", "named group"),
    ],
)
def test_a_bad_pattern_setting_names_the_file_and_line(
    write_config: Callable[..., Path], line: str, message: str
) -> None:
    path = write_config(f"[settings]\n{line}\n")
    with pytest.raises(SettingsError, match=message) as caught:
        Secret("X").get()
    assert f"{path}, line 2" in str(caught.value)


def test_a_new_key_sharing_a_line_with_an_old_value_is_masked_whole(
    fake: Callable[[str], str],
) -> None:
    """An old value's line (a PEM armour line) inside a new, long value: masked as one, not
    cut into a mask per line (the old masker and the new one see the same text)."""
    armour = f"-----BEGIN {fake('armour').upper()} KEY-----"
    register(f"{armour}\n{fake('old-body')}\n-----END-----")
    for index in range(20):  # enough new values for a full masker to be compiled
        register(fake(f"filler-{index}"))
    redact("compile the masker of the old values now")
    body = fake("new-body")
    key = "\n".join([armour, *[body * 3] * 20, "-----END-----"])
    register(key)
    shown = redact(f"key: {key}!").replace(key, "<key>").replace(body, "<line>")
    assert shown == f"key: {MASK}!"
