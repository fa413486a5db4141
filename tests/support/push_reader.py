"""A long-running reader for the rotation tests and bench: `python -m tests.support.push_reader
OUT NAME`.

Looks NAME up every 20 ms (as a worker that reads a secret per task does) and appends
`<unix time> <sha256 of the value, 16 hex>` to OUT whenever the value it gets changes,
never the value itself. Writes `ready <push>` first, once its cache has served an answer
and its push subscriber connected (`True`), found that the server cannot push (`off`: a
server before Prefect 3.7.4), or neither within 30 s (`False`). Runs until OUT.stop exists.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path


def fingerprint(value: object) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()[:16]


def main(out: Path, name: str) -> None:
    from prefect_secrets import Secret

    secret = Secret(name)
    secret.get()
    last = secret.get()  # from the cache: starts the push subscriber (when on)
    connected = _wait_for_push(30.0)
    with out.open("a", encoding="utf-8") as log:
        log.write(f"ready {connected}\n{time.time()} {fingerprint(last)}\n")
        log.flush()
        stop = out.with_name(out.name + ".stop")
        while not stop.exists():
            value = secret.get()
            if value != last:
                last = value
                log.write(f"{time.time()} {fingerprint(value)}\n")
                log.flush()
            time.sleep(0.02)


def server_cannot_push() -> str | None:
    """Why the tests' Prefect server (this environment's Prefect, the release the suite
    runs on) cannot push rotations, or None: it can."""
    import prefect

    from prefect_secrets._server.release import block_events_missing

    return block_events_missing(prefect.__version__)


def _wait_for_push(seconds: float) -> str:
    from prefect_secrets._server.endpoint import current_endpoint
    from prefect_secrets._server.push import push_off_reason, push_status

    endpoint = current_endpoint()
    if push_off_reason(endpoint, wait=seconds) is not None:
        return "off"
    return str(push_status(endpoint, wait=seconds)[0])


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
