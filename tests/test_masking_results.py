"""Result persistence never writes a secret value (`_masking/results.py`), and never hands
back `********` either: a record holding a value is skipped with a warning, a deferred
task's parameters are refused.

Each pathway of PATHWAYS.md section A runs as a real flow (tests/support/result_flows.py)
in a subprocess against the session's server, with its own PREFECT_HOME and HOME, once
with the library (values from `Secret(NAME).get()`) and once with plain Prefect (the
same values read from the env vars: the control, which proves the scan finds them).
Every file and file name under both directories is then scanned for each pathway's
value: as bytes, inside base64 runs, and inside compressed blobs. Checks on text that
could hold a value are computed into booleans or counts first, so that a failure never
prints one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import secrets
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.leak_corpus.scan import views
from tests.support.leak_runs import flow_env
from tests.support.leak_scan import files_under, occurrences
from tests.support.servers import PrefectServer

ROOT = Path(__file__).parent.parent
MARK = "_prefect_secrets_masking"

# Pathway -> the run the warning names. Run in one flow process per group and mode.
WARNED = {
    "task_persist": "task 'build_dsn'",
    "cache_inputs": "task 'auth_headers'",
    "json_serializer": "task 'connection_settings'",
    "compressed": "task 'signing_material'",
    "async_task": "task 'fetch_token'",
    "storage_key": "task 'extract'",
    "flow_persist": "flow 'resolve-connections'",
    "failed_task": "task 'exchange_token'",
    "failed_flow": "flow 'warehouse-healthcheck'",
    "persist_by_default": "task 'build_url'",
}
DEFAULT_GROUP = [
    *(name for name in WARNED if name != "persist_by_default"),
    "reactions",
    "deferred",
]
GROUPS = {"default": DEFAULT_GROUP, "persist_by_default": ["persist_by_default"]}
PATHWAYS = [*DEFAULT_GROUP, "persist_by_default"]
FLOW_TIMEOUT = 300
# What the non-secret results return: found in storage means "still persisted".
CLEAN_MARKER = f"clean-marker-{secrets.token_hex(6)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def expected_received(pathway: str, value: str) -> str:
    """What downstream code of each pathway receives, built from the value (result_flows)."""
    dsn = f"postgresql://etl:{value}@db.example.invalid/wh"
    return {
        "task_persist": dsn,
        "cache_inputs": f"Bearer {value}",
        "json_serializer": dsn,
        "async_task": f"Bearer {value}",
        "persist_by_default": f"https://api.example.invalid/v1?token={value}",
    }.get(pathway, value)


@dataclass
class GroupRun:
    """One flow process: its outcome per pathway, its output, the directories it wrote."""

    outcome: dict[str, dict[str, Any]]
    stdout: bytes
    stderr: bytes
    prefect_home: Path
    home: Path

    def __repr__(self) -> str:
        # pytest shows a failing test's arguments: never the output (the control's holds
        # the plaintexts).
        return f"GroupRun(prefect_home={self.prefect_home}, outcome of {list(self.outcome)})"

    def storage_roots(self) -> list[Path]:
        """Where Prefect's default local result storage is: `$PREFECT_HOME/storage` on 3.9;
        `~/.prefect/storage`, whatever PREFECT_HOME says, from 3.4.8 to at least 3.7.8
        (`default_local_storage_path` reads a `home` the results settings never have)."""
        return [self.prefect_home / "storage", self.home / ".prefect" / "storage"]

    def file_counts(self, value: str) -> tuple[int, int]:
        """(occurrences in file contents, file names holding it) under both directories."""
        in_contents = in_names = 0
        for root in (self.prefect_home, self.home):
            for path in files_under(root):
                in_contents += found(path.read_bytes(), value)
                in_names += value in str(path.relative_to(root))
        return in_contents, in_names


@dataclass
class Runs:
    values: dict[str, str]
    library: dict[str, GroupRun]
    plain: dict[str, GroupRun]

    def __repr__(self) -> str:
        return f"Runs(pathways={list(self.values)})"  # never the values

    def run_of(self, mode: str, pathway: str) -> GroupRun:
        group = next(name for name, members in GROUPS.items() if pathway in members)
        return (self.library if mode == "library" else self.plain)[group]


def found(data: bytes, value: str) -> int:
    """Occurrences of `value` as bytes, in base64 runs (leak_scan), and in what those
    decode or decompress to (`compressed/pickle` results: lzma inside base64)."""
    needle = value.encode()
    nested = sum(view.count(needle) for view in list(views(data))[1:])
    return occurrences(data, [value]) + nested


def _run_group(
    mode: str,
    group: str,
    values: dict[str, str],
    names: dict[str, str],
    server: PrefectServer,
    workdir: Path,
) -> GroupRun:
    base = workdir / f"{mode}-{group}"
    home, prefect_home = base / "home", base / "prefect-home"
    home.mkdir(parents=True)
    out = base / "outcome.json"
    spec = {
        "mode": mode,
        "pathways": GROUPS[group],
        "names": names,
        "clean_marker": CLEAN_MARKER,
        "out": str(out),
    }
    (base / "spec.json").write_text(json.dumps(spec))
    env = flow_env(home, prefect_home, server)
    if group == "persist_by_default":
        env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] = "true"
    for pathway in GROUPS[group]:
        env[f"PREFECT__CONTEXT__SECRETS__{names[pathway]}"] = values[pathway]
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.result_flows", str(base / "spec.json")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=FLOW_TIMEOUT,
    )
    # Never show the output itself: in the control it holds the plaintexts.
    assert result.returncode == 0, f"result flows ({mode}, {group}) exited {result.returncode}"
    outcome = json.loads(out.read_text())
    out.unlink()  # holds digests only, but keep the scanned directories the flows' own
    return GroupRun(outcome, result.stdout, result.stderr, prefect_home, home)


@pytest.fixture(scope="module")
def runs(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Every group in both modes, two flow processes at a time (module scope: the four
    processes take about a minute; the values are `fake-...`, unique to this run)."""
    workdir = tmp_path_factory.mktemp("result-flows")
    values = {pathway: f"fake-{pathway}-{secrets.token_hex(4)}" for pathway in PATHWAYS}
    names = {pathway: f"RESULTS_{secrets.token_hex(4).upper()}" for pathway in PATHWAYS}
    jobs = [(mode, group) for mode in ("library", "plain") for group in GROUPS]
    with ThreadPoolExecutor(2) as pool:
        futures = {
            job: pool.submit(_run_group, *job, values, names, prefect_server, workdir)
            for job in jobs
        }
        done = {job: future.result() for job, future in futures.items()}
    return Runs(
        values,
        library={group: done["library", group] for group in GROUPS},
        plain={group: done["plain", group] for group in GROUPS},
    )


# --- the control -----------------------------------------------------------------------------


@pytest.mark.parametrize("pathway", PATHWAYS)
def test_plain_prefect_writes_the_value_to_disk(runs: Runs, pathway: str) -> None:
    """The control: without the library, each pathway leaves the plaintext in a file (or
    a file name) under PREFECT_HOME, so a zero below means guarded, not unscanned."""
    in_contents, in_names = runs.run_of("plain", pathway).file_counts(runs.values[pathway])
    assert in_contents > 0
    if pathway == "storage_key":
        assert in_names > 0


# --- with the library ------------------------------------------------------------------------


@pytest.mark.parametrize("pathway", PATHWAYS)
def test_no_file_holds_the_value(runs: Runs, pathway: str) -> None:
    """No file under PREFECT_HOME or HOME holds the value, in its contents (raw, base64,
    compressed) or its name. (The flow's output is the logging hooks' business:
    tests/test_leak*.py.)"""
    run = runs.run_of("library", pathway)
    value = runs.values[pathway]
    in_contents, in_names = run.file_counts(value)
    assert in_contents == 0
    assert in_names == 0


@pytest.mark.parametrize("pathway", PATHWAYS)
def test_the_run_ends_as_the_users_code_made_it(runs: Runs, pathway: str) -> None:
    """A skipped write changes nothing in how the run ends: flows complete; a failing
    task fails (its flow completes); a failing flow raises its own exception."""
    outcome = runs.run_of("library", pathway).outcome[pathway]
    plain = runs.run_of("plain", pathway).outcome[pathway]
    assert "unexpected" not in outcome
    if pathway == "failed_flow":
        assert outcome["error"] == plain["error"] == "ConnectionError"
        return
    assert outcome["state"] == plain["state"] == "COMPLETED"
    if pathway == "failed_task":
        assert outcome["task_state"] == plain["task_state"] == "FAILED"


@pytest.mark.parametrize(
    "pathway", [p for p in PATHWAYS if p not in ("storage_key", "reactions", "deferred")]
)
def test_downstream_code_gets_the_real_value(runs: Runs, pathway: str) -> None:
    """What the next task (or the caller, for a flow's result and exception) receives is
    the value itself, not `********`: compared by digest."""
    expected = _digest(expected_received(pathway, runs.values[pathway]))
    assert runs.run_of("library", pathway).outcome[pathway]["received"] == expected
    assert runs.run_of("plain", pathway).outcome[pathway]["received"] == expected


def test_a_storage_key_holding_a_value_skips_the_write_not_the_result(runs: Runs) -> None:
    outcome = runs.run_of("library", "storage_key").outcome["storage_key"]
    assert outcome["rows"] == 1204


def test_prefect_goes_on_after_a_skipped_write(runs: Runs) -> None:
    """A retried task, a SERIALIZABLE cache lock and a user's transaction all go on as
    if the write had happened (real values, the lock released, the transaction
    committed). Read back from the API in another run, the result is an error (the
    record is missing), never `********`."""
    expected = _digest(runs.values["reactions"])
    library = runs.run_of("library", "reactions").outcome["reactions"]
    plain = runs.run_of("plain", "reactions").outcome["reactions"]
    for outcome in (library, plain):
        assert outcome["retried"] == expected
        assert outcome["executions"] == 2
        assert outcome["locked"] == expected
        assert outcome["committed"] is True
        assert outcome["locks_left"] == 0
    assert plain["api_read"] == "returned"
    assert plain["api_received"] == expected
    assert library["api_read"] == "ValueError"  # Prefect: "Path ... does not exist."


def test_results_without_a_secret_are_still_persisted(runs: Runs) -> None:
    """The guard is no off-switch: a clean result is written as before, and a cache
    lookup of a clean task hits; only the task whose result holds a value runs again."""
    for group in GROUPS:
        run = runs.library[group]
        stored = sum(
            found(path.read_bytes(), CLEAN_MARKER)
            for root in run.storage_roots()
            for path in files_under(root)
        )
        assert stored > 0, group
    library = runs.run_of("library", "cache_inputs").outcome["cache_inputs"]["executions"]
    plain = runs.run_of("plain", "cache_inputs").outcome["cache_inputs"]["executions"]
    assert plain == {"auth_headers": 1, "page_size": 1}
    assert library == {"auth_headers": 2, "page_size": 1}  # its cache lookup missed


@pytest.mark.parametrize("pathway", list(WARNED))
def test_the_warning_names_the_run_never_the_value(runs: Runs, pathway: str) -> None:
    """One warning per task or flow, on the `prefect_secrets` logger, naming it."""
    run = runs.run_of("library", pathway)
    lines = [
        line
        for line in run.stderr.decode("utf-8", "replace").splitlines()
        if "prefect-secrets:" in line and "not written to result storage" in line
    ]
    named = [line for line in lines if f" of {WARNED[pathway]} holds a secret value" in line]
    warned = len(named)
    assert warned == 1
    leaked = found(named[0].encode(), runs.values[pathway])
    assert leaked == 0


def test_a_deferred_tasks_parameters_are_refused(runs: Runs) -> None:
    """`Task.delay` would write the parameters for a task worker to read back: refused
    at the call, naming the task and the parameter; nothing is written."""
    outcome = runs.run_of("library", "deferred").outcome["deferred"]
    assert outcome["error"] == "SecretStorageRefused"
    assert outcome["names_task"]
    assert outcome["names_parameter"]
    assert runs.run_of("plain", "deferred").outcome["deferred"]["error"] is None
    for storage in runs.run_of("library", "deferred").storage_roots():
        assert list(files_under(storage / "parameters")) == []


# --- the hooks, in this process --------------------------------------------------------------


def prefect_version() -> str:
    import prefect

    return str(prefect.__version__)


@pytest.fixture
def result_hooks() -> None:
    """The result hooks installed, as arming installs them (twice: installing is
    idempotent; they stay, as they do in a process that handed out a value)."""
    import prefect.results as results
    import prefect.task_worker as task_worker

    from prefect_secrets._masking import results as hooks
    from prefect_secrets._masking.arming import HOOK_POINTS

    modules = [results]
    if "prefect._internal.result_records" in sys.modules:  # 3.7+: where it is defined
        modules.append(sys.modules["prefect._internal.result_records"])
    for _ in range(2):
        for module in modules:
            for target in HOOK_POINTS[module.__name__]:
                getattr(hooks, target.partition(":")[2])(module)
        hooks.install_task_worker_hooks(task_worker)


def test_arming_reaches_result_record_on_this_prefect() -> None:
    """Hook point: `ResultRecord.serialize_result`, hooked through `prefect.results`, which
    re-exports the class on every 3.x (defined in `prefect._result_records` in 3.2-3.6,
    `prefect._internal.result_records` from 3.7). If a release stops re-exporting it, the
    module that defines it must be added to arming's HOOK_POINTS."""
    import prefect.results as results

    from prefect_secrets._masking.arming import HOOK_POINTS

    record = getattr(results, "ResultRecord", None)
    defining = sys.modules.get(getattr(record, "__module__", ""))
    reexported = record is not None and getattr(defining, "ResultRecord", None) is record
    assert reexported, (
        f"prefect.results no longer re-exports ResultRecord (Prefect {prefect_version()}): "
        "add the module that defines it to HOOK_POINTS (results:install_result_record_hooks)"
    )
    hooks = HOOK_POINTS.get("prefect.results", ())
    assert "results:install_result_record_hooks" in hooks, hooks


def test_the_hooks_are_in_place_once(result_hooks: None) -> None:
    """Hook points: `ResultRecord.serialize_result` (through prefect.results, see above),
    `ResultStore.persist_result_record`/`apersist_result_record` (prefect.results),
    `store_parameters` (prefect.task_worker, imported by `Task.create_run` at each call)."""
    import prefect.task_worker as task_worker
    from prefect.results import ResultRecord, ResultStore

    for hooked in (
        ResultRecord.serialize_result,
        ResultStore.persist_result_record,
        ResultStore.apersist_result_record,
        task_worker.store_parameters,
    ):
        assert getattr(hooked, MARK, False)
        assert not getattr(getattr(hooked, "__wrapped__", None), MARK, False), "installed twice"
    # `write`/`awrite` go through the hooked methods, not around them.
    assert "self.persist_result_record(" in inspect.getsource(ResultStore.write)
    assert "self.apersist_result_record(" in inspect.getsource(ResultStore.awrite)


@pytest.mark.parametrize("serializer", ["pickle", "json", "compressed/pickle", "compressed/json"])
def test_every_serializer_is_checked(
    result_hooks: None, serializer: str, fake: Callable[[str], str]
) -> None:
    """A record holding a registered value cannot be serialized, whatever the serializer;
    one without is serialized as before."""
    from prefect.results import ResultRecord, ResultRecordMetadata, resolve_serializer

    from prefect_secrets._masking.registry import register
    from prefect_secrets._masking.results import SecretInResult

    value = fake("serialized")
    register(value)
    metadata = ResultRecordMetadata(serializer=resolve_serializer(serializer), storage_key="k")
    with pytest.raises(SecretInResult) as refused:
        ResultRecord(result={"dsn": f"postgresql://etl:{value}@db"}, metadata=metadata).serialize()
    leaked = value in str(refused.value)
    assert not leaked
    clean = ResultRecord(result={"rows": "1204"}, metadata=metadata).serialize()
    assert b"result" in clean
