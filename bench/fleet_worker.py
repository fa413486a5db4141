"""One process of the fleet benchmark (bench/fleet.py): a flow run's cold start, reduced to
its secrets.

    python bench/fleet_worker.py SIDE WORK_DIR INDEX NAME...

SIDE is `ours` (prefect-secrets' `get_many`), `ours-prefect-imported` (the same, with
`import prefect` done first, as in a flow run) or `prefect` (`Secret.load(name).get()` per
name). The process imports what its side imports, says it is ready (WORK_DIR/ready-INDEX),
waits for WORK_DIR/go (the barrier: import time is not the secret phase), resolves the
NAMEs, and writes WORK_DIR/result-INDEX.json: the secret phase in seconds (perf_counter
around the lookups), when it ended (wall clock, comparable across processes), how many
values it got, and its peak memory. Never a value: only how many look like the bench's.

Run by file path, not `-m`: the process imports nothing of the benchmark's own.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

#: A worker gives up waiting for the go-file after this long, whatever the benchmark does.
BARRIER_TIMEOUT = 600.0
POLL = 0.005


def main(side: str, work_dir: Path, index: int, names: list[str]) -> int:
    if side in ("ours", "ours-prefect-imported"):
        if side == "ours-prefect-imported":
            # As in a flow run, where Prefect is imported before the flow's code runs:
            # the first server lookup then finds Prefect's settings module loaded.
            import prefect  # noqa: F401

        from prefect_secrets import get_many

        def resolve() -> list[object]:
            return list(get_many(names).values())

    elif side == "prefect":
        from prefect.blocks.system import Secret

        blocks = [name.lower().replace("_", "-") for name in names]

        def resolve() -> list[object]:
            # Called with no event loop running, `load` returns the block, not a coroutine
            # (its annotation says either).
            return [Secret.load(block).get() for block in blocks]  # type: ignore[union-attr]

    else:
        raise SystemExit(f"unknown side {side!r}")

    (work_dir / f"ready-{index}").touch()
    go = work_dir / "go"
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while not go.exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(POLL)

    started = time.perf_counter()
    cpu_started = time.process_time()
    error = None
    try:
        values = resolve()
    except Exception as exc:  # noqa: BLE001 (a failed lookup is a result: counted, not fatal)
        # The exception's type and first line (prefect-secrets' errors never quote a value).
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        values = []
    phase = time.perf_counter() - started
    # The process's CPU in its phase (all its threads): what it asks of the shared cores.
    phase_cpu = time.process_time() - cpu_started
    ended = time.time()

    result = {
        "phase": phase,
        "phase_cpu": phase_cpu,
        "ended": ended,
        "values": len(values),
        # How many are values the benchmark wrote (a prefix check; nothing else is kept).
        "valid": sum(
            isinstance(value, str) and value.startswith("fake-fleet-") for value in values
        ),
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "error": error,
    }
    temporary = work_dir / f".result-{index}.json"
    temporary.write_text(json.dumps(result))
    temporary.replace(work_dir / f"result-{index}.json")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]))
