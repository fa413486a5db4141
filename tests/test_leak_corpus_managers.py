"""The leak corpus with values from each secret manager: masking holds whatever the source.

For every manager source (`aws`, `gcp`, `vault`, `azure`, `keyring`, `block`) a
representative subset of the corpus's in-reach pathways (tests/test_leak_corpus.py)
runs in `library` mode only, with every value stored in that one manager (through the
library's own `write`, in this process) and the flow process configured with
`PREFECT_SECRETS_SOURCES=<kind>` and the manager's endpoint and credentials, so that
each value can come from that manager only. The managers are the fakes and real servers
of the sources' own tests, started once for the module:

| kind    | store                                                      | value transport     |
|---------|------------------------------------------------------------|---------------------|
| aws     | moto (tests/support/aws.py)                                | SecretString        |
| gcp     | GcpSecretManagerServer + ADC key file (gce_metadata.py)    | payload bytes       |
| vault   | a real OpenBao dev server (tests/support/vault.py)         | KV v2 JSON          |
| azure   | AzureKeyVaultServer via DefaultAzureCredential and a proxy | text                |
| keyring | keyrings.alt PlaintextKeyring (file outside scanned dirs)  | text (JSON for dict)|
| block   | prefect-aws AwsSecret blocks on the session's server, moto | SecretBinary bytes  |

Pathways (values of str and dict shape; the catalog has no bytes shape, but the gcp and
block stores hand the library bytes that it decodes):

- log_calls: logger %s/%r/f-string, print, root and library loggers (jwt, password);
- escaped_reprs: exception reprs and KeyError's repr of a password with ' " \\ and é;
- multiline_values: a PEM key and a service-account dict (JSON in the store) in a log
  line and an exception's repr;
- extra_user_handler: `extra={...}` on Prefect's logger and the user's own file handler;
- result_persist_task: a persisted task result (must be refused or skipped);
- process_pool_worker_resolves: a ProcessPoolTaskRunner worker resolves the value from
  the manager itself (its environment is the flow process's);
- env_injection_child_process: `with_secrets(as_env_var=...)`, a child process echoes it.

Control: `task_writes_home_file` (out of reach: the user's own file IO) writes the value
from the manager to ~/.pgpass; its hits prove that each kind's scan counts that kind's
values (0 hits elsewhere means masked, not "not looked for").

    nice python -m pytest tests/test_leak_corpus_managers.py -q -p no:randomly   # ~2.5 min, 2 cores
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.leak_corpus.catalog import Pathway, by_name
from tests.support.leak_corpus.harness import MASK, Report, run_corpus
from tests.support.servers import PrefectServer

KINDS = ("aws", "gcp", "vault", "azure", "keyring", "block")
SELECTED = (
    "log_calls",
    "escaped_reprs",
    "multiline_values",
    "extra_user_handler",
    "result_persist_task",
    "process_pool_worker_resolves",
    "env_injection_child_process",
)
CONTROL = "task_writes_home_file"
GCP_PROJECT = "fake-project"
#: Flow processes at once (one per kind): more make the server's SQLite answer 503.
PARALLEL = 4
#: Env vars of this process that would reach the flow processes' managers otherwise.
_CLEARED_PREFIXES = (
    "PREFECT_SECRETS_",
    "PREFECT__CONTEXT__SECRETS__",
    "AWS_",
    "VAULT_",
    "BAO_",
    "AZURE_",
    "GOOGLE_",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
)
_CLEARED = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "PYTHON_KEYRING_BACKEND", "NO_GCE_CHECK")


@dataclass
class Run:
    """One kind's corpus run: its report, or why it could not run (no values in it)."""

    kind: str
    report: Report | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass
class Managers:
    runs: dict[str, Run] = field(default_factory=dict)
    seconds: float = 0.0


def _pathways() -> list[Pathway]:
    pathways = by_name()
    return [pathways[name] for name in (*SELECTED, CONTROL)]


def _no_secret_blocks(name: str, value: Any) -> None:
    raise AssertionError("library mode stores through library_store: no Secret blocks")


@pytest.fixture(scope="module")
def managers(
    prefect_server: PrefectServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Managers]:
    """Starts the six managers, stores each kind's values in its manager, runs the corpus
    subset once per kind (kinds in parallel), and reports per kind."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_secrets._core.names import block_name
    from prefect_secrets._sources.registry import source_of_kind
    from prefect_secrets.sources import SecretSource, SourceConfig, org_key
    from tests.support.aws import MotoServer
    from tests.support.azure import AzureKeyVaultServer
    from tests.support.gce_metadata import GceMetadataServer
    from tests.support.gcp import GcpSecretManagerServer
    from tests.support.vault import VaultServer

    root = tmp_path_factory.mktemp("leak-managers")
    saved_blocks: list[str] = []
    previous_keyring = keyring.get_keyring()
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for name in list(os.environ):
            if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED:
                patch.delenv(name)
        (root / "test-home").mkdir()
        patch.setenv("HOME", str(root / "test-home"))  # no config file of the machine's

        moto = stack.enter_context(MotoServer())
        vault = stack.enter_context(VaultServer())
        gcp = stack.enter_context(GcpSecretManagerServer())
        google = stack.enter_context(GceMetadataServer(project_id=GCP_PROJECT))
        adc_key = root / "adc" / "service-account.json"
        google.create_service_account_key(path=adc_key)
        azure = stack.enter_context(AzureKeyVaultServer())
        keyring_data = root / "keyring-data"  # outside every scanned directory

        envs: dict[str, dict[str, str]] = {
            "aws": moto.env(),
            "gcp": {
                "GOOGLE_APPLICATION_CREDENTIALS": str(adc_key),
                "NO_GCE_CHECK": "true",
                "PREFECT_SECRETS_GCP_PROJECT": GCP_PROJECT,
                "PREFECT_SECRETS_GCP_API_ENDPOINT": gcp.url,
            },
            "vault": vault.env(),
            "azure": {
                **azure.env(),
                # env() routes https through a proxy that tunnels only Azure's hosts; the
                # websocket client (events) honours HTTPS_PROXY for ws:// too: as behind
                # any corporate proxy, the local Prefect server is not proxied.
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "PREFECT_SECRETS_AZURE_VAULT_URL": azure.public_vault_url,
            },
            "keyring": {
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                "XDG_DATA_HOME": str(keyring_data),
            },
            # The block documents say where the values are, with which credentials.
            "block": {"PREFECT_SECRETS_BLOCK_TYPES": "aws-secret"},
        }
        # This process writes to every manager: all of their settings at once (they
        # share no variable). Each flow process gets its own manager's only.
        every = {name for env in envs.values() for name in env}
        for env in envs.values():
            for name, setting in env.items():
                patch.setenv(name, setting)
        patch.setenv("PREFECT_API_URL", prefect_server.api_url)
        backend = PlaintextKeyring()
        keyring.set_keyring(backend)
        stack.callback(keyring.set_keyring, previous_keyring)
        assert Path(backend.file_path).is_relative_to(keyring_data)

        def writer(kind: str) -> Callable[[str, Any], None]:
            # A new instance: the registry's may hold clients of another module's servers.
            source: SecretSource = type(source_of_kind(kind, SourceConfig()))()

            def store(name: str, value: Any) -> None:
                source.write(org_key(name), value, SourceConfig())

            if kind != "block":
                return store

            def store_through_block(name: str, value: Any) -> None:
                from prefect_aws import AwsCredentials, AwsSecret
                from prefect_aws.client_parameters import AwsClientParameters

                credentials = AwsCredentials(
                    aws_access_key_id=moto.access_key_id,
                    aws_secret_access_key=moto.secret_access_key,
                    region_name=moto.region,
                    aws_client_parameters=AwsClientParameters(endpoint_url=moto.url),
                )
                with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
                    block = AwsSecret(aws_credentials=credentials, secret_name=f"blocks/{name}")
                    block.save(block_name(name), overwrite=True)
                    saved_blocks.append(block_name(name))
                    store(name, value)  # through the block's write_secret (SecretBinary)

            return store_through_block

        def run(kind: str) -> Run:
            began = time.monotonic()
            library_env: dict[str, str | None] = dict.fromkeys(every - set(envs[kind]))
            library_env.update(envs[kind])
            library_env["PREFECT_SECRETS_SOURCES"] = kind
            try:
                report = run_corpus(
                    prefect_server.api_url,
                    prefect_server.home,
                    root / kind,
                    _no_secret_blocks,
                    pathways=_pathways(),
                    parallel=1,
                    modes=("library",),
                    library_env=library_env,
                    library_store=writer(kind),
                    shards={"default": 1},
                )
            except Exception as exc:  # noqa: BLE001 - reported by this kind's test only
                # The type and the harness's own message (it never holds a value); a
                # manager's exception text could quote a value: its type and where then.
                if isinstance(exc, AssertionError):
                    return Run(kind, error=f"{type(exc).__name__}: {exc}")
                where = [
                    f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
                    for frame in traceback.extract_tb(exc.__traceback__)[-4:]
                ]
                return Run(kind, error=f"{type(exc).__name__} at {' < '.join(reversed(where))}")
            return Run(kind, report, seconds=time.monotonic() - began)

        began = time.monotonic()
        with ThreadPoolExecutor(PARALLEL) as pool:
            runs = {r.kind: r for r in pool.map(run, KINDS)}
        result = Managers(runs, time.monotonic() - began)
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\n" + _table(result), flush=True)
        yield result
    for name in saved_blocks:
        with contextlib.suppress(Exception):
            _delete_aws_secret_block(prefect_server, name)


def _delete_aws_secret_block(server: PrefectServer, name: str) -> None:
    import httpx

    url = f"{server.api_url}/block_types/slug/aws-secret/block_documents/name/{name}"
    found = httpx.get(url, timeout=10)
    if found.status_code == 200:
        httpx.delete(f"{server.api_url}/block_documents/{found.json()['id']}", timeout=10)


def _table(managers: Managers) -> str:
    """Hits per kind and pathway (never a value)."""
    lines = ["| kind | " + " | ".join((*SELECTED, f"{CONTROL} (control)")) + " | seconds |"]
    lines.append("|---" * (len(SELECTED) + 3) + "|")
    for kind in KINDS:
        run = managers.runs[kind]
        if run.report is None:
            lines.append(f"| {kind} | did not run: {run.error} |")
            continue
        cells = []
        for name in (*SELECTED, CONTROL):
            outcome = run.report.outcome(name, "library")
            cells.append(f"{outcome.total}{'' if outcome.received else ' NOT RECEIVED'}")
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {run.seconds:.0f} |")
    lines.append(f"\nwall time {managers.seconds:.0f} s")
    return "\n".join(lines)


def _report(managers: Managers, kind: str) -> Report:
    run = managers.runs[kind]
    assert run.report is not None, f"the corpus did not run with values from {kind}: {run.error}"
    return run.report


@pytest.mark.parametrize("kind", KINDS)
def test_no_value_from_the_manager_leaves_the_process(managers: Managers, kind: str) -> None:
    report = _report(managers, kind)
    failures = []
    for name in SELECTED:
        ours = report.outcome(name, "library")
        # Masking must change nothing for the code: the task received the real value.
        if not ours.received:
            failures.append(f"{name}: the flow did not receive the real values: {ours.result}")
        if ours.total:
            failures.append(
                f"{name}: {ours.total} occurrence(s) of a value: where: {ours.places()}; "
                f"spelled as: {ours.kinds()}"
            )
        # Persisting pathways: the library refuses or skips persistence, never stores the mask.
        stored_ok = MASK not in ours.stored and ours.stored.startswith(("refused", "skipped"))
        if ours.pathway.persists and not stored_ok:
            failures.append(
                f"{name}: {ours.pathway.persists}: {ours.stored}; expected a refusal or "
                "skipped persistence"
            )
    assert failures == [], f"values from {kind}:\n" + "\n".join(failures)


@pytest.mark.parametrize("kind", KINDS)
def test_the_scan_counts_this_managers_values(managers: Managers, kind: str) -> None:
    """The control writes the value it got from the manager to ~/.pgpass (the user's own
    file IO, out of reach): found there, so the scan looks for this kind's values."""
    control = _report(managers, kind).outcome(CONTROL, "library")
    assert control.received, f"the control did not receive the real value: {control.result}"
    assert control.total >= 1, "the scan did not find the value the control wrote to HOME"
    assert "HOME:.pgpass" in control.places(), control.places()
