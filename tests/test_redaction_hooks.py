"""Pin-points for each place masking plugs into logging and Prefect (see `_hooks`).

Each test names the Prefect 3.8 object it relies on and checks both that the
hook is in place and that data going through that object comes out masked.
If a Prefect release renames, moves or bypasses one of them, these fail
before any secret can leak through the gap. Checks on text that could hold a
value are computed into booleans first, so that a failure never prints one.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets._masking.registry import MASK, register

ROOT = Path(__file__).parent.parent
MARK = "_prefect_secrets_masking"


@pytest.fixture
def secret(fake: Callable[[str], str]) -> str:
    """A fresh value, handed out (registered) like every value the library returns."""
    value = fake("hooked")
    register(value)
    return value


# --- logging ------------------------------------------------------------------------------------


def test_every_log_record_is_masked_at_creation_whoever_prints_it(secret: str) -> None:
    """Hook: `logging.setLogRecordFactory`. A handler added after everything was set up
    (a user's file handler, pytest's) still only ever sees masked records."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("tests.any_library")
    logger.addHandler(handler)
    try:
        logger.error("%%s: %s", secret)
        logger.error("%%r: %r", {"token": secret})
        logger.error(f"f-string: {secret}")
        try:
            raise RuntimeError(f"auth failed for {secret}")
        except RuntimeError:
            logger.exception("with a traceback")
        logger.error("with the stack", stack_info=True, extra={"run_name": secret})
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    leaked = secret in text
    assert not leaked
    as_expected = f"%s: {MASK}" in text
    assert as_expected
    as_expected = f"%r: {{'token': '{MASK}'}}" in text
    assert as_expected
    as_expected = f"f-string: {MASK}" in text
    assert as_expected
    as_expected = f"RuntimeError: auth failed for {MASK}" in text
    assert as_expected


def test_prefects_handlers_carry_the_masking_filter(secret: str) -> None:
    """Hook: a filter on the handlers of Prefect's loggers and the root logger. Pins
    down that Prefect 3.8 ships run logs through `APILogHandler` on `prefect.flow_runs`
    and `prefect.task_runs`, and prints through `PrefectConsoleHandler` on root."""
    import prefect.main  # noqa: F401 - what `from prefect import flow` runs: configures logging
    from prefect.logging.handlers import APILogHandler, PrefectConsoleHandler

    from prefect_secrets._masking.records import RedactingFilter

    def filtered(handler: logging.Handler) -> bool:
        return any(isinstance(f, RedactingFilter) for f in handler.filters)

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        api_handlers = [h for h in logging.getLogger(name).handlers if isinstance(h, APILogHandler)]
        assert api_handlers, f"{name} no longer has Prefect's APILogHandler"
        assert all(filtered(h) for h in api_handlers)
    console = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    assert console, "the root logger no longer has Prefect's PrefectConsoleHandler"
    assert all(filtered(h) for h in console)


def test_the_filter_masks_fields_set_after_creation(secret: str) -> None:
    """`extra` fields (Prefect's task_run_name, flow_run_name) are set after the record
    factory ran; the handler filter masks them as the handler formats the record."""
    from prefect.logging.formatters import PrefectFormatter

    from prefect_secrets._masking.records import RedactingFilter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        PrefectFormatter("%(message)s", task_run_fmt="Task run %(task_run_name)r - %(message)s")
    )
    handler.addFilter(RedactingFilter())
    record = logging.getLogger("prefect.task_runs").makeRecord(
        "prefect.task_runs", logging.INFO, __file__, 1, "done", (), None,
        extra={"task_run_name": f"load-{secret}", "task_run_id": "1"},
    )  # fmt: skip
    handler.handle(record)
    as_expected = out.getvalue().strip() == f"Task run 'load-{MASK}' - done"
    assert as_expected


def test_setup_logging_is_wrapped_and_new_handlers_are_filtered() -> None:
    """Hook: `prefect.logging.configuration.setup_logging`. Prefect builds new handlers
    each time it runs (at `import prefect`, in some entry points); they get the filter."""
    code = (
        "import logging, sys\n"
        "import prefect_secrets\n"
        "value = prefect_secrets.Secret('X').get()\n"
        "import prefect\n"
        "from prefect.logging import configuration\n"
        "from prefect_secrets._masking.records import RedactingFilter\n"
        "assert getattr(configuration.setup_logging, '_prefect_secrets_masking', False)\n"
        "configuration.setup_logging(incremental=False)\n"
        "handlers = [h for name in ('', 'prefect', 'prefect.flow_runs', 'prefect.task_runs')\n"
        "            for h in logging.getLogger(name or None).handlers]\n"
        "print('handlers', len(handlers))\n"
        "print('unfiltered', sum(not any(isinstance(f, RedactingFilter) for f in h.filters)\n"
        "                        for h in handlers))\n"
        "logging.getLogger('prefect.test').warning('token %s', value)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT", "XDG_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT__CONTEXT__SECRETS__X="fake-x-setup-logging",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "handlers 0" not in result.stdout
    assert "unfiltered 0" in result.stdout
    leaked = "fake-x-setup-logging" in result.stdout + result.stderr
    assert not leaked
    as_expected = f"token {MASK}" in result.stderr
    assert as_expected


# --- the API client -----------------------------------------------------------------------------


@pytest.mark.parametrize("sync", [False, True], ids=["PrefectClient", "SyncPrefectClient"])
def test_prefects_api_client_masks_request_bodies(secret: str, sync: bool) -> None:
    """Hook: `build_request` of `prefect.client.base.PrefectHttpxAsyncClient` and
    `PrefectHttpxSyncClient`, the httpx clients inside `PrefectClient` and
    `SyncPrefectClient` (which is what `get_client()` returns)."""
    from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient
    from prefect.client.orchestration import PrefectClient, SyncPrefectClient

    api = "http://127.0.0.1:9/api"
    client = SyncPrefectClient(api=api) if sync else PrefectClient(api=api)
    http = client._client
    expected = PrefectHttpxSyncClient if sync else PrefectHttpxAsyncClient
    assert isinstance(http, expected), "Prefect's client no longer uses the hooked httpx class"
    assert getattr(type(http).build_request, MARK, False)

    body = {"flow_id": "x", "parameters": {"token": secret, "creds": {"password": secret}}}
    request = http.build_request("POST", "/flow_runs/", json=body)
    content = request.content.decode()
    leaked = secret in content
    assert not leaked
    assert content.count(MASK) == 2
    as_expected = body["parameters"]["token"] == secret  # the caller's object is left alone
    assert as_expected

    raw = http.build_request("POST", "/logs/", content=f'[{{"message": "{secret}"}}]')
    leaked = secret in raw.content.decode()
    assert not leaked

    # Block documents are where Prefect keeps secrets on purpose (encrypted):
    # masking there would save "********" as the secret.
    saved = http.build_request("POST", "/block_documents/", json={"data": {"value": secret}})
    kept = secret in saved.content.decode()
    assert kept


# --- events -------------------------------------------------------------------------------------


def test_every_events_client_emits_masked_events(secret: str) -> None:
    """Hook: `prefect.events.clients.EventsClient.emit`, inherited by every client: the
    websocket clients (server, Cloud) and, from Prefect 3.6.20, the process-pool forwarder
    (`prefect.events.worker.ProcessPoolForwardingEventsClient`; before it, process-pool
    workers send their events with their own websocket client)."""
    import prefect
    import prefect.events.worker
    from packaging.version import Version
    from prefect.events.clients import (
        EventsClient,
        PrefectCloudEventsClient,
        PrefectEventsClient,
    )

    assert getattr(EventsClient.emit, MARK, False)
    clients: list[type] = [PrefectEventsClient, PrefectCloudEventsClient]
    forwarder = getattr(prefect.events.worker, "ProcessPoolForwardingEventsClient", None)
    if forwarder is not None:
        clients.append(forwarder)
    else:
        assert Version(prefect.__version__) < Version("3.6.20"), (
            f"prefect.events.worker.ProcessPoolForwardingEventsClient (3.6.20+) is gone in "
            f"Prefect {prefect.__version__}: find what forwards process-pool events now"
        )
    for cls in clients:
        assert "emit" not in vars(cls), (
            f"{cls.__name__} overrides emit in Prefect {prefect.__version__}, bypassing the hook"
        )


async def test_an_emitted_event_is_masked_and_the_original_untouched(secret: str) -> None:
    from prefect.events import Event
    from prefect.events.clients import AssertingEventsClient

    event = Event(
        event="prefect.task-run.Failed",
        resource={"prefect.resource.id": "prefect.task-run.1", "prefect.resource.name": secret},
        payload={"validated_state": {"message": f"RuntimeError: auth failed for {secret}"}},
    )
    async with AssertingEventsClient() as client:
        await client.emit(event)
    (sent,) = client.events
    leaked = secret in sent.model_dump_json()
    assert not leaked
    message = sent.payload["validated_state"]["message"]
    as_expected = message == f"RuntimeError: auth failed for {MASK}"
    assert as_expected
    as_expected = sent.resource.name == MASK
    assert as_expected
    assert sent.id == event.id
    untouched = event.resource.name == secret
    assert untouched


_SHORT_VALUE_IN_AN_EVENT = """
import asyncio, datetime, json, uuid
from prefect_secrets._masking.registry import register
register("2344")  # as the library does with every value it hands out
from prefect.events import Event
from prefect.events.clients import AssertingEventsClient
occurred = datetime.datetime(2026, 11, 30, 7, 59, 37, 123440, tzinfo=datetime.timezone.utc)
run = "prefect.task-run.0199ab12-2344-7abc-8def-0123456789ab"
event = Event(
    occurred=occurred,
    id=uuid.UUID("0199ab12-2344-7abc-8def-0123456789ab"),
    event="prefect.task-run.Failed",
    resource={"prefect.resource.id": run, "prefect.state-timestamp": occurred.isoformat()},
    payload={"validated_state": {"timestamp": occurred.isoformat(), "message": "pin 2344"}},
)
async def main():
    async with AssertingEventsClient() as client:
        await client.emit(event)
    (sent,) = client.events
    print(json.dumps({
        "occurred": sent.occurred == occurred, "id": sent.id == event.id,
        "resource": sent.resource.id == run,
        "labels": sent.resource["prefect.state-timestamp"] == occurred.isoformat(),
        "state time": sent.payload["validated_state"]["timestamp"] == occurred.isoformat(),
        "message": sent.payload["validated_state"]["message"],
    }))
asyncio.run(main())
"""


def test_a_short_value_inside_an_event_time_or_id_leaves_the_event_whole() -> None:
    """A short secret (a 4-digit PIN) whose digits happen to sit inside the event's time, a
    run id or a state's timestamp: the event keeps them, so it still validates and the
    server can file it (Prefect drops an event that no longer validates, and the run's
    state with it), while the value said in a message is masked. In a process of its
    own: a 4-digit value registered here would be masked in every later test's output."""
    result = subprocess.run(
        [sys.executable, "-c", _SHORT_VALUE_IN_AN_EVENT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PREFECT_SECRETS_MIN_MASK_LENGTH": "4"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "occurred": True,
        "id": True,
        "resource": True,
        "labels": True,
        "state time": True,
        "message": f"pin {MASK}",
    }
