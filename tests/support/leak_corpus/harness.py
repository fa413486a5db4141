"""Runs the corpus against a real Prefect server and scans everything it left behind.

`run_corpus(server, workdir, save_block)`:

1. makes fresh values for every pathway and mode (values.py), puts them in
   env vars `PREFECT__CONTEXT__SECRETS__<NAME>` or in Secret blocks;
2. runs one flow process per group (a large group: per shard) and mode
   (runner.py), each with its own HOME and PREFECT_HOME, four at a time (they
   mostly wait for the server);
3. waits until the server has recorded each process's runs (logs, events,
   flow and task run states: see `wait_until_recorded`), so that 0 hits
   means "masked", not "not written yet";
4. checks what pathways that persist data actually stored (Variables,
   deployments, flow run parameters, block fields, result files);
5. scans stdout, stderr, every file (and file name) under both PREFECT_HOMEs
   and each process's HOME, and every database row, for every reversible
   spelling of every value (scan.py).

The report holds hits per pathway, mode and place; `Report.table()` prints them.

Values from another store (tests/test_leak_corpus_managers.py): `modes=("library",)`
runs the library mode only; `library_store(name, value)` stores every value where the
flow processes will look (a secret manager) instead of env vars and Secret blocks, and
`library_env` is merged into the flow processes' environment (a `None` removes a
variable), e.g. `PREFECT_SECRETS_SOURCES=aws` and the manager's endpoint.

Values minted during the run (tokens, tests/test_leak_corpus_tokens.py): with
`values_after_run`, `library_store(name, value)` declares how `name` is minted (the
made-up value is not used), the spec's digest is `MINTED` (the flows' `corpus.ok`
records the digests of what they received), and after the run `values_after_run(name)`
gives every value minted for `name`: they replace the made-up value as the needles of
its label (its paired user kept), and the pathway counts as received only if every digest
the flows recorded is one of them (and at least one was recorded per label).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.leak_corpus.catalog import GROUP_ENV, PATHWAYS, Pathway
from tests.support.leak_corpus.runtime import ENV_PREFIX, MINTED, block_name
from tests.support.leak_corpus.scan import Hit, Needles, Owner, Scanner
from tests.support.leak_corpus.values import Value, canonical_digest, make_value

__all__ = ["MASK", "MODES", "Outcome", "Report", "run_corpus"]

ROOT = Path(__file__).resolve().parents[3]
MASK = "********"
MODES = ("plain", "library")
RECORDED_TIMEOUT = 180.0
PROCESS_TIMEOUT = 600.0
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
#: Groups run as several flow processes (per mode): a flow process mostly waits for
#: the server, so shards cut the wall time on 2 cores. More than 4 processes at once
#: make the server's SQLite answer 503 (tag concurrency leases), failing task runs.
SHARDS = {"default": 2}


@dataclass
class Outcome:
    """One pathway in one mode."""

    pathway: Pathway
    mode: str
    values: dict[str, Value]
    process: str = ""  # the flow process's label (group, and shard of a large group)
    result: dict[str, Any] = field(default_factory=dict)  # what the runner reported
    hits: list[Hit] = field(default_factory=list)
    rows: Counter[str] = field(default_factory=Counter)  # database rows per table
    stored: str = ""  # persisting pathways: what the server or result storage holds
    names: dict[str, str] = field(default_factory=dict)  # label -> secret name
    tag: str = ""  # the tag of the pathway's flow and task runs

    @property
    def total(self) -> int:
        return sum(hit.count for hit in self.hits)

    @property
    def received(self) -> bool:
        return bool(self.result.get("received")) and "error" not in self.result

    def __repr__(self) -> str:
        return (
            f"<Outcome {self.pathway.name}/{self.mode}: {self.total} hits, "
            f"received={self.received}, stored={self.stored or '-'}>"
        )

    def places(self) -> str:
        per_place: Counter[str] = Counter()
        for hit in self.hits:
            per_place[_short_place(hit.place)] += hit.count
        return ", ".join(f"{place} {n}" for place, n in per_place.most_common())

    def kinds(self) -> str:
        kinds: Counter[str] = Counter()
        for hit in self.hits:
            kinds[hit.owner.kind] += hit.count
        return ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())


def _short_place(place: str) -> str:
    label, _, rest = place.partition(": ")
    if label == "db":
        return f"db:{rest}"
    if rest.startswith("file name "):
        return f"{label}:file name"
    if label.startswith(("stdout", "stderr")):
        return label.split(" ", 1)[0]
    top = rest.split("/", 1)[0]
    return f"{label}:{top}"


@dataclass
class Report:
    outcomes: dict[tuple[str, str], Outcome]
    seconds: dict[str, float]
    prefect_version: str

    def __repr__(self) -> str:
        return f"<Report of {len(self.outcomes)} runs, Prefect {self.prefect_version}>"

    def details(self) -> str:
        """Per pathway and mode: where and how each value was found (no values)."""
        lines = []
        for pathway in PATHWAYS:
            for mode in MODES:
                outcome = self.outcomes.get((pathway.name, mode))
                if outcome is None:
                    continue
                lines.append(
                    f"{pathway.name} [{mode}] {outcome.total} hits; rows {dict(outcome.rows)}; "
                    f"places: {outcome.places() or '-'}; spellings: {outcome.kinds() or '-'}; "
                    f"stored: {outcome.stored or '-'}; result: {outcome.result}"
                )
        return "\n".join(lines)

    def outcome(self, pathway: str, mode: str) -> Outcome:
        return self.outcomes[(pathway, mode)]

    def table(self) -> str:
        lines = [
            "| pathway | group | plain Prefect hits | ours | where (ours) | spellings (ours) "
            "| persisted (ours) | received (ours) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for pathway in PATHWAYS:
            if (pathway.name, "library") not in self.outcomes:
                continue
            plain = self.outcomes.get((pathway.name, "plain"))
            ours = self.outcome(pathway.name, "library")
            name = pathway.name + (" (out of reach)" if pathway.reach == "out" else "")
            lines.append(
                f"| {name} | {pathway.group} | {plain.total if plain else '-'} | {ours.total} "
                f"| {ours.places()} "
                f"| {ours.kinds()} | {ours.stored or '-'} | {'yes' if ours.received else 'NO'} |"
            )
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        lines.append("")
        lines.append(f"Prefect {self.prefect_version}; wall time: {timing}")
        return "\n".join(lines)


# --- values and specs -----------------------------------------------------------------------------


def _secret_name(pathway: str, label: str) -> str:
    return f"CORPUS_{pathway.upper()}_{label.upper()}_{secrets.token_hex(3).upper()}"


@dataclass
class _Process:
    group: str
    mode: str
    dir: Path
    spec_path: Path
    results_path: Path
    env: dict[str, str]
    run_tag: str
    completed: subprocess.CompletedProcess[bytes] | None = None
    seconds: float = 0.0
    end_flow_run_id: str = ""

    @property
    def home(self) -> Path:
        return self.dir / "home"

    @property
    def prefect_home(self) -> Path:
        return self.dir / "prefect-home"


def _prepare(
    pathways: list[Pathway],
    server_api_url: str,
    workdir: Path,
    save_block: Callable[[str, Any], None],
    modes: tuple[str, ...] = MODES,
    library_env: Mapping[str, str | None] | None = None,
    library_store: Callable[[str, Any], None] | None = None,
    shards: Mapping[str, int] | None = None,
    minted: bool = False,
) -> tuple[list[_Process], dict[tuple[str, str], Outcome]]:
    outcomes: dict[tuple[str, str], Outcome] = {}
    processes: list[_Process] = []
    run_id = secrets.token_hex(3)
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT", "XDG_", "PYTHONWARNINGS", "FORCE_COLOR"))
    }
    per_group = SHARDS if shards is None else shards
    parts: list[tuple[str, str, list[Pathway]]] = []
    for group in dict.fromkeys(p.group for p in pathways):
        members = [p for p in pathways if p.group == group]
        count = min(per_group.get(group, 1), len(members))
        for shard in range(count):
            shard_label = group if count == 1 else f"{group}{shard + 1}"
            parts.append((group, shard_label, members[shard::count]))
    for group, shard_label, members in parts:
        for mode in modes:
            run_tag = f"corpus-{run_id}-{shard_label}-{mode}"
            directory = workdir / f"{shard_label}-{mode}"
            (directory / "home").mkdir(parents=True)
            env = {
                **base_env,
                "HOME": str(directory / "home"),
                "PYTHONPATH": str(ROOT),
                "PREFECT_HOME": str(directory / "prefect-home"),
                "PREFECT_API_URL": server_api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SECRETS_PREFECT1_CONFIG": "",
                **GROUP_ENV[group],
            }
            if mode == "library" and library_env is not None:
                for variable, setting in library_env.items():
                    if setting is None:
                        env.pop(variable, None)
                    else:
                        env[variable] = setting
            spec: dict[str, Any] = {
                "mode": mode,
                "run_tag": run_tag,
                "order": [],
                "pathways": {},
                "results": str(directory / "results.json"),
            }
            for pathway in members:
                values: dict[str, Value] = {}
                names: dict[str, str] = {}
                secrets_spec: dict[str, dict[str, str]] = {}
                for label, (shape, source) in pathway.secrets.items():
                    value = values[label] = make_value(shape)
                    name = names[label] = _secret_name(pathway.name, label)
                    digest = value.digest
                    if mode == "library" and library_store is not None:
                        library_store(name, value.value)
                        digest = MINTED if minted else digest
                    elif source == "block":
                        save_block(block_name(name), value.value)
                    else:
                        env[ENV_PREFIX + name] = value.text
                    secrets_spec[label] = {"name": name, "source": source, "digest": digest}
                tag = f"{run_tag}-{pathway.name}"
                spec["order"].append(pathway.name)
                spec["pathways"][pathway.name] = {"tag": tag, "secrets": secrets_spec}
                outcomes[(pathway.name, mode)] = Outcome(
                    pathway, mode, values, process=shard_label, names=names, tag=tag
                )
            spec_path = directory / "spec.json"
            spec_path.write_text(json.dumps(spec, indent=1))
            processes.append(
                _Process(
                    shard_label,
                    mode,
                    directory,
                    spec_path,
                    directory / "results.json",
                    env,
                    run_tag,
                )
            )
    return processes, outcomes


def _run(process: _Process) -> None:
    started = time.monotonic()
    process.completed = subprocess.run(
        ["nice", sys.executable, "-m", "tests.support.leak_corpus.runner", str(process.spec_path)],
        env=process.env,
        cwd=process.home,
        capture_output=True,
        timeout=PROCESS_TIMEOUT,
    )
    process.seconds = time.monotonic() - started
    # Kept beside (not inside) the scanned directories, for a look after a failure:
    # in the control they hold the plaintexts.
    (process.dir / "stdout.bin").write_bytes(process.completed.stdout)
    (process.dir / "stderr.bin").write_bytes(process.completed.stderr)


def _take_minted(outcome: Outcome, values_after_run: Callable[[str], list[str]]) -> None:
    """The values minted for each label become its needles; received: every digest the
    flows recorded (`corpus.ok`) is one of theirs."""
    recorded = outcome.result.get("minted", {})
    for label, made_up in list(outcome.values.items()):
        issued = list(values_after_run(outcome.names[label]))
        outcome.values[label] = Value(
            made_up.shape, issued[0] if issued else "", "", issued, user=made_up.user
        )
        digests = {canonical_digest(value) for value in issued}
        got = recorded.get(label, [])
        if not got or not set(got) <= digests:
            outcome.result["received"] = False


# --- waiting until the server has everything ------------------------------------------------------


def _events(api: httpx.Client, event_filter: dict[str, Any]) -> list[dict[str, Any]]:
    page = api.post("events/filter", json={"filter": event_filter, "limit": 50}).json()
    events = list(page["events"])
    while page.get("next_page"):
        page = api.get(page["next_page"]).json()
        events.extend(page["events"])
    return events


def _state_of(run: dict[str, Any]) -> str:
    return (run.get("state") or {}).get("type") or ""


def _missing(api: httpx.Client, process: _Process, end_flow_run_id: str) -> str:
    """What the server does not show yet of this process's runs ("" once it shows all)."""
    logs = api.post(
        "logs/filter", json={"logs": {"flow_run_id": {"any_": [end_flow_run_id]}}}
    ).json()
    if not any(f"corpus-end {process.run_tag}" in log["message"] for log in logs):
        return "the end marker's log"
    done = _events(
        api,
        {
            "event": {"name": ["corpus.run.done"]},
            "resource": {"id": [f"corpus.run.{process.run_tag}"]},
        },
    )
    if not done:
        return "the corpus.run.done event"
    flow_runs = api.post(
        "flow_runs/filter", json={"flow_runs": {"tags": {"all_": [process.run_tag]}}}
    ).json()
    for run in flow_runs:
        state = _state_of(run)
        if state not in FINAL and not (state == "SCHEDULED" and run.get("deployment_id")):
            return f"flow run {run['name']} in state {state or 'none'}"
    task_runs = api.post(
        "task_runs/filter",
        json={"task_runs": {"tags": {"all_": [process.run_tag]}}, "limit": 200},
    ).json()
    # Deferred task runs stay Scheduled: no task worker runs them.
    final_task_runs = {run["id"] for run in task_runs if _state_of(run) in FINAL | {"SCHEDULED"}}
    task_events = _events(
        api,
        {
            "related": {"id": [f"prefect.tag.{process.run_tag}"]},
            "event": {"prefix": ["prefect.task-run."]},
        },
    )
    for event in task_events:
        task_run_id = event["resource"]["prefect.resource.id"].removeprefix("prefect.task-run.")
        if task_run_id not in final_task_runs:
            return f"task run {task_run_id}"
    return ""


def _counts(api: httpx.Client, process: _Process) -> tuple[int, int]:
    events = _events(api, {"related": {"id": [f"prefect.tag.{process.run_tag}"]}})
    flow_runs = api.post(
        "flow_runs/filter", json={"flow_runs": {"tags": {"all_": [process.run_tag]}}}
    ).json()
    logs = api.post(
        "logs/filter",
        json={"logs": {"flow_run_id": {"any_": [run["id"] for run in flow_runs]}}},
    ).json()
    return len(events), len(logs)


def wait_until_recorded(api: httpx.Client, process: _Process, end_flow_run_id: str) -> None:
    """Until the server shows the end marker, every run final, and nothing more arrives."""
    deadline = time.monotonic() + RECORDED_TIMEOUT
    missing = "everything"
    while time.monotonic() < deadline:
        missing = _missing(api, process, end_flow_run_id)
        if not missing:
            before = _counts(api, process)
            time.sleep(1.0)
            if _counts(api, process) == before:
                return
            missing = "events or logs still arriving"
        time.sleep(0.5)
    raise AssertionError(
        f"the server did not record {process.group}/{process.mode} in {RECORDED_TIMEOUT} s: "
        f"{missing}"
    )


# --- what persisting pathways stored --------------------------------------------------------------


def _stored(api: httpx.Client, outcome: Outcome, process: _Process) -> str:
    """`********` stored as the value / refused / skipped / stored (the value itself)."""
    notes = outcome.result.get("notes", {})
    refused = outcome.result.get("refused", {})
    kind = outcome.pathway.persists
    documents: list[Any] = []
    if kind == "variable":
        for name in notes.get("variables", []):
            response = api.get(f"variables/name/{name}")
            if response.status_code == 200:
                documents.append(response.json()["value"])
    elif kind == "deployment" and "deployment_id" in notes:
        deployment = api.get(f"deployments/{notes['deployment_id']}").json()
        documents += [
            deployment.get("parameters"),
            deployment.get("job_variables"),
            deployment.get("parameter_openapi_schema"),
        ]
    elif kind == "flow_run" and "flow_run_id" in notes:
        run = api.get(f"flow_runs/{notes['flow_run_id']}").json()
        documents += [run.get("parameters"), run.get("job_variables")]
    elif kind == "block" and "block_name" in notes:
        response = api.get(
            f"block_types/slug/corpus-warehouse-connection/block_documents/name/"
            f"{notes['block_name']}",
            params={"include_secrets": "true"},
        )
        if response.status_code == 200:
            documents.append(response.json().get("data"))
    elif kind == "result":
        documents += _result_files(api, process, outcome)
    text = json.dumps(documents, default=str)
    if MASK in text:
        return "STORED ********"
    if refused:
        return "refused (" + ", ".join(sorted(set(refused.values()))) + ")"
    if not [d for d in documents if d not in (None, {}, [], "")]:
        return "skipped"
    return "stored"


def _result_files(api: httpx.Client, process: _Process, outcome: Outcome) -> list[str]:
    """What the result files of the pathway's flow and task runs hold, found through the
    storage keys the server keeps (and deferred tasks' parameters, by their id)."""
    tag = f"{process.run_tag}-{outcome.pathway.name}"
    runs = api.post("flow_runs/filter", json={"flow_runs": {"tags": {"all_": [tag]}}}).json()
    runs += api.post(
        "task_runs/filter", json={"task_runs": {"tags": {"all_": [tag]}}, "limit": 200}
    ).json()
    contents = []
    for run in runs:
        state = run.get("state") or {}
        data = state.get("data")
        keys = [data.get("storage_key")] if isinstance(data, dict) else []
        keys.append((state.get("state_details") or {}).get("task_parameters_id"))
        for key in filter(None, keys):
            if MASK in str(key):
                # The server's reference is masked: state.result() would look for a
                # file that does not exist.
                contents.append(f"storage key {key}")
                continue
            path = Path(key)
            candidates = (
                [path]
                if path.is_absolute()
                else [
                    process.prefect_home / "storage" / key,
                    process.prefect_home / "storage" / "parameters" / key,
                ]
            )
            for candidate in candidates:
                if candidate.is_file() and not _holds_nothing(candidate.read_bytes()):
                    contents.append(candidate.read_bytes().decode("utf-8", "replace"))
    return contents


def _holds_nothing(content: bytes) -> bool:
    """A persisted `None` (a flow that returns nothing): no result worth counting as stored."""
    import base64
    import binascii
    import pickle

    try:
        decoded = base64.b64decode(content.strip(), validate=True)
    except (binascii.Error, ValueError):
        return content.strip() in (b"null", b"")
    return decoded in {pickle.dumps(None, protocol) for protocol in (4, 5)}


# --- the whole corpus -----------------------------------------------------------------------------


def run_corpus(
    server_api_url: str,
    server_home: Path,
    workdir: Path,
    save_block: Callable[[str, Any], None],
    pathways: list[Pathway] | None = None,
    parallel: int = 4,
    modes: tuple[str, ...] = MODES,
    library_env: Mapping[str, str | None] | None = None,
    library_store: Callable[[str, Any], None] | None = None,
    shards: Mapping[str, int] | None = None,
    values_after_run: Callable[[str], list[str]] | None = None,
) -> Report:
    """`modes`, `library_env`, `library_store`, `values_after_run`: see the module
    docstring; `shards`: flow processes per group and mode (default `SHARDS`)."""
    started = time.monotonic()
    selected = pathways if pathways is not None else PATHWAYS
    processes, outcomes = _prepare(
        selected,
        server_api_url,
        workdir,
        save_block,
        modes=modes,
        library_env=library_env,
        library_store=library_store,
        shards=shards,
        minted=values_after_run is not None,
    )
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(_run, processes))
    seconds = {"flow processes": time.monotonic() - started}
    for process in processes:
        assert process.completed is not None
        # Never show the output itself: it holds plaintexts (the control always does).
        if process.completed.returncode != 0 or not process.results_path.exists():
            raise AssertionError(
                f"corpus process {process.group}/{process.mode} exited with "
                f"{process.completed.returncode}; stderr has "
                f"{len(process.completed.stderr)} bytes (not shown: it may hold values)"
            )
        reported = json.loads(process.results_path.read_text())
        process.end_flow_run_id = reported["end_flow_run_id"]
        for name, result in reported["pathways"].items():
            outcomes[(name, process.mode)].result = result
    if values_after_run is not None:
        for outcome in outcomes.values():
            if outcome.mode == "library":
                _take_minted(outcome, values_after_run)

    waited = time.monotonic()
    with httpx.Client(base_url=server_api_url + "/", timeout=30) as api:
        for process in processes:
            wait_until_recorded(api, process, process.end_flow_run_id)
        seconds["waiting for the server"] = time.monotonic() - waited
        for outcome in outcomes.values():
            if outcome.pathway.persists:
                process = next(
                    p for p in processes if p.group == outcome.process and p.mode == outcome.mode
                )
                outcome.stored = _stored(api, outcome, process)

    scanned = time.monotonic()
    needles = Needles()
    for (name, mode), outcome in outcomes.items():
        for label, value in outcome.values.items():
            for text in value.sensitive:
                needles.add(
                    lambda kind, name=name, mode=mode, label=label: Owner(name, mode, label, kind),
                    text,
                    value.user,
                )
    scanner = Scanner(needles)
    for process in processes:
        assert process.completed is not None
        where = f"{process.group}/{process.mode}"
        scanner.scan_bytes(f"stdout ({where})", process.completed.stdout, terminal=True)
        scanner.scan_bytes(f"stderr ({where})", process.completed.stderr, terminal=True)
        scanner.scan_files("client PREFECT_HOME", process.prefect_home)
        scanner.scan_files("HOME", process.home)
    scanner.scan_files("server PREFECT_HOME", server_home)
    scanner.scan_sqlite(server_home / "prefect.db")
    for hit in scanner.results():
        outcomes[(hit.owner.pathway, hit.owner.mode)].hits.append(hit)
    for (owner, table), n in scanner.rows.items():
        outcomes[(owner.pathway, owner.mode)].rows[table] += n
    seconds["scanning"] = time.monotonic() - scanned
    seconds["total"] = time.monotonic() - started

    import prefect

    return Report(outcomes, seconds, prefect.__version__)
