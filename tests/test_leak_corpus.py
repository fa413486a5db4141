"""The leak corpus: every pathway by which a value can leave a flow process, proven per pathway.

Each pathway (tests/support/leak_corpus/catalog.py) is a small, realistic
flow run twice against the session's real Prefect server: with values from
prefect-secrets (`library`) and with plain Prefect (`plain`, the control:
`Secret.load(...).get()` or `os.environ`). Then stdout, stderr, every file
(and file name) under both PREFECT_HOMEs and each flow process's HOME, and
every database row are scanned for every reversible spelling of each value
(tests/support/leak_corpus/scan.py), once the server shows it has recorded
everything (harness.wait_until_recorded).

    python -m pytest tests/test_leak_corpus.py -p no:randomly -q   # about 3-5 min on 2 cores

The table `pathway | plain Prefect hits | ours | ...` is printed first. Many
pathways fail today: that is the point of the corpus (see PATHWAYS notes).
Do not weaken an assertion to make one pass; fix the masking.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.leak_corpus.catalog import PATHWAYS, Pathway
from tests.support.leak_corpus.harness import MASK, Report, run_corpus
from tests.support.servers import PrefectServer

IN_REACH = [p for p in PATHWAYS if p.reach == "in"]
OUT_OF_REACH = [p for p in PATHWAYS if p.reach == "out"]


@pytest.fixture(scope="module")
def corpus(
    prefect_server: PrefectServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Report]:
    saved: list[str] = []

    def save_block(block_name: str, value: Any) -> None:
        """A Prefect `Secret` block on the session's server, as users save one."""
        from prefect.blocks.system import Secret as SecretBlock
        from prefect.settings import PREFECT_API_URL, temporary_settings

        def save() -> None:
            with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
                SecretBlock(value=value).save(block_name, overwrite=True)

        # From a plain thread, in this context (as conftest's save_block does).
        context = contextvars.copy_context()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(context.run, save).result()
        saved.append(block_name)

    report = run_corpus(
        prefect_server.api_url,
        prefect_server.home,
        tmp_path_factory.mktemp("leak-corpus"),
        save_block,
    )
    # The table, past pytest's capture (as capsys.disabled() does).
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + report.table(), flush=True)
    yield report
    for block_name in saved:
        prefect_server.delete_block(block_name)


def _plain_must_leak(pathway: Pathway, prefect_version: str) -> bool:
    if isinstance(pathway.plain_leaks, bool):
        return pathway.plain_leaks
    have = tuple(int(part) for part in prefect_version.split(".")[:2])
    since = tuple(int(part) for part in pathway.plain_leaks.split(".")[:2])
    return have >= since


def test_the_control_leaks_and_received_its_values(corpus: Report) -> None:
    """Plain Prefect leaks on every pathway that leaks by construction: the scanner sees
    leaks where there are some. Its tasks got the real values."""
    silent = [
        p.name
        for p in PATHWAYS
        if _plain_must_leak(p, corpus.prefect_version)
        and corpus.outcome(p.name, "plain").total == 0
    ]
    assert silent == [], f"plain Prefect left no trace on: {silent}"
    not_received = [p.name for p in PATHWAYS if not corpus.outcome(p.name, "plain").received]
    assert not_received == [], f"control runs that did not get their values: {not_received}"


@pytest.mark.parametrize("pathway", IN_REACH, ids=[p.name for p in IN_REACH])
def test_no_value_leaves_the_process(corpus: Report, pathway: Pathway) -> None:
    ours = corpus.outcome(pathway.name, "library")
    # Masking must change nothing for the code: the task received the real value.
    assert ours.received, f"the flow did not receive the real values: {ours.result}"
    assert ours.total == 0, (
        f"{ours.total} occurrence(s) of a value: where: {ours.places()}; spelled as: {ours.kinds()}"
    )
    if pathway.persists:
        # Prefect hands this data back (retries, caching, state.result(), deployment
        # runs): "********" in its place would make a run silently go on with it. The
        # library refuses (variables, deployments, deferred parameters, non-secret
        # block fields) or skips persistence (results), per pathway (README, Masking).
        assert MASK not in ours.stored, (
            f"{pathway.persists}: the server or result storage holds {MASK} in place of the "
            "value; the library must refuse or skip persistence"
        )
        assert ours.stored.startswith(("refused", "skipped")), (
            f"{pathway.persists}: {ours.stored}; expected a refusal or skipped persistence"
        )


@pytest.mark.parametrize("pathway", OUT_OF_REACH, ids=[p.name for p in OUT_OF_REACH])
def test_out_of_reach_pathways_run_and_are_reported(corpus: Report, pathway: Pathway) -> None:
    """Not asserted to be masked (PATHWAYS: out of reach); shown in the table."""
    ours = corpus.outcome(pathway.name, "library")
    assert ours.received, f"the flow did not receive the real values: {ours.result}"


def test_the_corpus_covers_what_it_promises() -> None:
    names = [p.name for p in PATHWAYS]
    assert len(names) == len(set(names))
    assert len(IN_REACH) >= 25
    for required in (
        "result_persist_task",
        "escaped_reprs",
        "extra_user_handler",
        "json_console_extra",
        "warnings_warn",
        "process_pool_worker_resolves",
        "process_pool_worker_logs",
        "pydantic_fragment",
        "log_calls",
        "task_exception",
        "subflow_params",
    ):
        assert required in names
    assert Path(__file__).parent.joinpath("support", "leak_corpus", "runner.py").exists()
