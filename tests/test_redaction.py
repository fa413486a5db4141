"""Masking: what is registered, how it is masked, and that arming it costs nothing up front.

Values are registered for the whole process (as in real use), so each test
uses fresh fake values. Assertions compare booleans and counts computed
beforehand, so that a failure never prints a value.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import Secret, context
from prefect_secrets._masking.registry import MASK, redact, redact_data, register

ROOT = Path(__file__).parent.parent


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with nothing configured (and no Prefect settings)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT", "XDG_"))}
    base.update(PYTHONPATH=str(ROOT), PREFECT_SERVER_ANALYTICS_ENABLED="false", **env)
    return subprocess.run(
        [sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120
    )


def test_a_value_handed_out_is_masked_wherever_it_appears_in_text(
    fake: Callable[[str], str],
) -> None:
    value = fake("token")
    context.secrets["TOKEN"] = value
    as_expected = Secret("TOKEN").get() == value  # get() hands the real value out...
    assert as_expected
    text = redact(f"calling with token={value}; again: {value}.")
    as_expected = text == f"calling with token={MASK}; again: {MASK}."  # ...and registers it
    assert as_expected
    untouched = fake("unrelated")
    assert redact(f"x {untouched}") == f"x {untouched}"


def test_dict_and_list_secrets_are_masked_leaf_by_leaf(fake: Callable[[str], str]) -> None:
    creds = {
        "user": fake("user"),
        "password": fake("password"),
        "replicas": [fake("replica"), {"key": fake("nested")}],
        "port": 50000 + secrets.randbelow(10000),  # a number no other test registered as text
    }
    register(creds)
    leaves = [creds["user"], creds["password"], creds["replicas"][0], creds["replicas"][1]["key"]]
    masked = redact(str(creds))
    leaked = [leaf in masked for leaf in leaves]
    assert leaked == [False, False, False, False]
    assert masked.count(MASK) == 4
    # Keys and numbers are not secret material: they stay readable.
    assert "'password':" in masked
    assert f"'port': {creds['port']}" in masked


def test_escaped_spellings_are_masked_too(fake: Callable[[str], str]) -> None:
    """%r, a dict's repr and JSON escape quotes, backslashes, newlines and non-ASCII."""
    value = fake("tricky") + '-it\'s "quoted" \\ back\nslash-é'
    register(value)
    spellings = {
        "str": value,
        "repr": repr(value),
        "ascii": ascii(value),
        "json": json.dumps(value),
        "json-utf8": json.dumps(value, ensure_ascii=False),
        "dict repr": repr({"k": value}),
    }
    survived = {kind: value[:12] in redact(text) for kind, text in spellings.items()}
    assert survived == dict.fromkeys(spellings, False)


def test_overlapping_values_are_masked_whole(fake: Callable[[str], str]) -> None:
    short = fake("overlap")
    long = short + "-and-more"
    register(short)
    register(long)
    as_expected = redact(f"<{long}>") == f"<{MASK}>"
    assert as_expected
    as_expected = redact(f"<{short}>") == f"<{MASK}>"
    assert as_expected


def test_long_values_are_masked_and_do_not_slow_masking_down(fake: Callable[[str], str]) -> None:
    """Certificates, keys, 1 MB blobs: found by plain search, kept out of the compiled
    pattern, which is rebuilt after each new value."""
    fake_line = fake("line")
    pem = "-----BEGIN FAKE KEY-----\n" + "\n".join([fake_line * 3] * 40) + "\n-----END-----"
    blob = fake("blob") * 60_000  # about 1 MB
    register(pem)
    register(blob)
    # Compared blanked: on failure pytest shows what came out, never a value.
    shown = redact(f"key: {pem}!").replace(pem, "<pem>").replace(fake_line, "<line>")
    assert shown == f"key: {MASK}!"
    as_expected = redact(json.dumps({"k": pem})) == json.dumps({"k": MASK})
    assert as_expected
    as_expected = redact(f"<{blob}>") == f"<{MASK}>"
    assert as_expected
    # The timing in a fresh process: this one holds every value earlier tests registered
    # (some short enough to be inside any new value, which forces full rebuilds).
    code = (
        "import time\n"
        "from prefect_secrets._masking.registry import redact, register\n"
        "register('-----BEGIN FAKE KEY-----\\n' + '\\n'.join(['fake-line-0123' * 3] * 40))\n"
        "register('fake-blob-0123' * 60_000)\n"
        "redact('compile')\n"
        "started = time.perf_counter()\n"
        "for index in range(5):\n"
        "    register(f'fake-after-{index}-0123')  # each new value rebuilds the masker\n"
        "    redact('a log line')\n"
        "print(time.perf_counter() - started)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert float(completed.stdout) < 1.0


def test_masking_data_never_changes_what_the_code_holds(fake: Callable[[str], str]) -> None:
    value = fake("payload")
    register(value)
    payload = {"parameters": {"token": value, "n": 1}, "tags": [value, "etl"]}
    masked = redact_data(payload)
    as_expected = masked == {"parameters": {"token": MASK, "n": 1}, "tags": [MASK, "etl"]}
    assert as_expected
    still_real = payload["parameters"]["token"] == value and payload["tags"][0] == value
    assert still_real
    clean = {"a": ["b", {"c": "d"}]}
    assert redact_data(clean) is clean


def test_min_mask_length_comes_from_the_settings(
    fake: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    write_config: Callable[..., Path],
) -> None:
    value = fake("medium")  # 20 characters
    register(value)
    write_config("[settings]\nmin_mask_length = 40\n")
    as_expected = redact(value) == value
    assert as_expected
    monkeypatch.setenv("PREFECT_SECRETS_MIN_MASK_LENGTH", "20")  # env vars win, at once
    as_expected = redact(value) == MASK
    assert as_expected
    monkeypatch.setenv("PREFECT_SECRETS_MIN_MASK_LENGTH", "21")
    as_expected = redact(value) == value
    assert as_expected
    monkeypatch.delenv("PREFECT_SECRETS_MIN_MASK_LENGTH")
    write_config("[settings]\nmin_mask_length = 4\n")
    time.sleep(1.1)  # a file edit applies within a second
    as_expected = redact(value) == MASK
    assert as_expected


def test_short_values_are_not_masked_and_a_warning_says_so_once() -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='%(name)s: %(message)s')\n"
        "from prefect_secrets import Secret, context\n"
        "context.secrets.update(A='abc', B='xyz', C='fake-long-enough')\n"
        "for name in 'ABC':\n"
        "    Secret(name).get()\n"
        "    logging.getLogger('app').warning('value %s', Secret(name).get())\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    warnings = [line for line in lines if line.startswith("prefect_secrets:")]
    assert len(warnings) == 1
    assert "shorter than min_mask_length=4" in warnings[0]
    assert "abc" not in warnings[0]
    assert "app: value abc" in lines
    assert "app: value xyz" in lines
    assert f"app: value {MASK}" in lines


def test_importing_the_library_hooks_nothing_and_a_lookup_imports_nothing_heavy() -> None:
    """Hooks are armed by the first value handed out, and only where modules are loaded:
    a value read before `import logging` is still masked by logging afterwards.

    `-S` skips site-packages' `.pth` files, which may import anything at startup (CI's
    machine has one that imports certifi, and so `typing`); PYTHONPATH still finds the
    library and its dependencies, so the interpreter starts with none of `heavy` loaded."""
    code = (
        "import sys\n"
        "heavy = ('logging', 'prefect', 'httpx', 'pydantic', 'asyncio', 'typing')\n"
        "print('at startup:', ','.join(m for m in heavy if m in sys.modules))\n"
        "finders = list(sys.meta_path)\n"
        "import prefect_secrets\n"
        "assert sys.meta_path == finders, 'import prefect_secrets added an import hook'\n"
        "value = prefect_secrets.Secret('X').get()\n"
        "print('loaded:', ','.join(m for m in heavy if m in sys.modules))\n"
        "import io, logging\n"
        "out = io.StringIO()\n"
        "handler = logging.StreamHandler(out)\n"
        "logging.getLogger('app').addHandler(handler)\n"
        "logging.getLogger('app').error('token %s', value)\n"
        "print('logged:', out.getvalue().strip())\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/nonexistent",
            "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
            "PREFECT__CONTEXT__SECRETS__X": "fake-x-before-logging",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "at startup: " in lines, "the interpreter itself loaded a heavy module"
    assert "loaded: " in lines
    as_expected = f"logged: token {MASK}" in result.stdout
    assert as_expected


def test_a_value_read_before_prefect_is_imported_is_masked_by_prefect() -> None:
    """The hooks are installed when Prefect's modules are imported, not only if they were."""
    code = (
        "import prefect_secrets\n"
        "value = prefect_secrets.Secret('X').get()\n"
        "assert 'prefect' not in __import__('sys').modules\n"
        "import prefect\n"
        "from prefect.client.base import PrefectHttpxAsyncClient\n"
        "from prefect.events.clients import EventsClient\n"
        "from prefect.logging.configuration import setup_logging\n"
        "mark = '_prefect_secrets_masking'\n"
        "print('hooked:', getattr(PrefectHttpxAsyncClient.build_request, mark, False),\n"
        "      getattr(EventsClient.emit, mark, False), getattr(setup_logging, mark, False))\n"
        "import logging\n"
        "logging.getLogger('prefect.anything').warning('token %s', value)\n"
    )
    result = run_python(code, PREFECT__CONTEXT__SECRETS__X="fake-x-before-prefect")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "hooked: True True True" in result.stdout
    leaked = "fake-x-before-prefect" in result.stdout + result.stderr
    assert not leaked
    as_expected = f"token {MASK}" in result.stderr  # printed by Prefect's console handler
    assert as_expected


def test_registering_a_known_value_costs_next_to_nothing(fake: Callable[[str], str]) -> None:
    """`register` runs on every lookup; the whole env lookup budget is about 1.6 us."""
    value = fake("hot")
    register(value)
    creds = {"user": fake("u"), "password": fake("p")}
    register(creds)
    per_call = min(timeit.repeat(lambda: register(value), number=20_000, repeat=5)) / 20_000
    per_dict = min(timeit.repeat(lambda: register(creds), number=20_000, repeat=5)) / 20_000
    # Measured about 0.09 us and 0.4 us; generous bounds, for loaded CI machines.
    assert per_call < 1e-6
    assert per_dict < 3e-6


def test_masking_a_log_record_does_not_touch_records_without_secrets(
    fake: Callable[[str], str],
) -> None:
    register(fake("present"))
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "n=%d %s", (3, "ok"), None)
    from prefect_secrets._masking.records import redact_record

    redact_record(record)
    assert record.args == (3, "ok")  # structured arguments are kept when nothing is masked
    assert record.getMessage() == "n=3 ok"
