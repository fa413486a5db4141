"""The flow process of the corpus: runs every pathway of one group in one mode.

    python -m tests.support.leak_corpus.runner SPEC.json

SPEC (written by harness.py) names the mode, the run's tag, and per pathway its
tag and its secrets (name, source, digest: never a value; the values are in
this process's environment or in Prefect `Secret` blocks). Each pathway runs
its own flows under its own tag, one after the other. Then a last flow,
`corpus-end`, logs a marker and emits `corpus.run.done`: once the server shows
both, it has everything sent before them (one log worker and one events
worker send in order). Results (per pathway: received the real values, notes,
refusals, errors by exception type) go to the spec's `results` path as JSON.
Nothing here prints a value.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def main(spec_path: str) -> int:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())

    from prefect import flow, get_run_logger, tags
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    from tests.support.leak_corpus import runtime as rt

    rt.corpus = corpus = rt.Corpus(spec["mode"], spec["pathways"])
    # Importing the flow modules registers the pathways' implementations.
    from tests.support.leak_corpus import (  # noqa: F401
        flows_api,
        flows_errors,
        flows_logging,
        flows_process,
        flows_results,
        flows_settings,
    )

    run_tag = spec["run_tag"]
    for name in spec["order"]:
        corpus.pathway = name
        started = time.monotonic()
        try:
            with tags(run_tag, spec["pathways"][name]["tag"]):
                state = rt.IMPLEMENTATIONS[name](corpus)
            if state is not None and hasattr(state, "type"):
                # The final state's type only: its message may quote a value.
                corpus.results.setdefault(name, {})["state"] = state.type.value
        except Exception as exc:  # noqa: BLE001 - recorded per pathway; the others still run
            result = corpus.results.setdefault(name, {})
            result["error"] = type(exc).__name__
            # Where it failed, without the message (it may quote a value).
            result["error_at"] = [
                f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
                for frame in traceback.extract_tb(exc.__traceback__)[-3:]
            ]
        corpus.results.setdefault(name, {})["seconds"] = round(time.monotonic() - started, 2)

    @flow(name="corpus-end")
    def corpus_end() -> str:
        from prefect.runtime import flow_run

        get_run_logger().info("corpus-end %s", run_tag)
        emit_event(
            event="corpus.run.done", resource={"prefect.resource.id": f"corpus.run.{run_tag}"}
        )
        return str(flow_run.id)

    # Everything the pathways logged goes first, in batches of its own: Prefect 3.4's log
    # worker sends a record it truncated with an extra key (`__payload_truncated__`) that
    # its own server refuses (422), and the whole batch is lost with it. The end marker
    # must not share that batch.
    APILogWorker.drain_all()
    with tags(run_tag):
        end_flow_run_id = corpus_end()
    APILogWorker.drain_all()
    EventsWorker.drain_all()

    Path(spec["results"]).write_text(
        json.dumps({"end_flow_run_id": end_flow_run_id, "pathways": corpus.results}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
