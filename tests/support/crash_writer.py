"""The writer process that tests/test_crash_safety.py kills: the real `write_secrets`.

`python tests/support/crash_writer.py PATH COUNT SIZE FIRST MODE` sets secrets S_0 ..
S_{COUNT-1} of the config file at PATH to version FIRST (values of about
SIZE characters, see `value`), printing `start N` before and `done N` after
each write (flushed: the test reads them from a pipe). MODE:
- "stream": writes versions FIRST, FIRST+1... until it is killed.
- "before-rename": writes FIRST once, but stops itself (SIGSTOP) just before
  the rename that replaces the file, printing `stopped` first.
- "after-rename": the same, just after the rename, before the directory is fsynced.

The stops use a Python audit hook on the writer's own `os.replace` and
`os.open` calls: the library's code runs unchanged.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys


def value(index: int, version: int, size: int) -> str:
    """Secret S_index at `version`: names both, and a filler derived from both, so a
    reader tells a whole value from a torn one or from another version's."""
    digest = hashlib.sha256(f"{index}:{version}".encode()).hexdigest()
    filler = (digest * (size // len(digest) + 1))[:size]
    return f"fake-S_{index}-v{version}-{filler}"


def values(count: int, version: int, size: int) -> dict[str, str]:
    return {f"S_{index}": value(index, version, size) for index in range(count)}


def _stop_at(mode: str, path: str) -> None:
    renamed = False

    def hook(event: str, args: tuple[object, ...]) -> None:
        nonlocal renamed
        if event == "os.rename" and args[1] == path:
            if mode == "before-rename":
                _stop()
            renamed = True
        elif (
            renamed
            and mode == "after-rename"
            and event == "open"
            and args[0] == os.path.dirname(path)
            and isinstance(args[2], int)
            and args[2] & os.O_DIRECTORY
        ):
            _stop()

    sys.addaudithook(hook)


def _stop() -> None:
    print("stopped", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)


def main(path: str, count: int, size: int, first: int, mode: str) -> None:
    from prefect_secrets._config.store import write_secrets

    if mode != "stream":
        _stop_at(mode, os.path.realpath(path))
    version = first
    while True:
        print(f"start {version}", flush=True)
        write_secrets(path, values(count, version, size))
        print(f"done {version}", flush=True)
        if mode != "stream":
            return
        version += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
