"""Masking in what child processes print to the terminal they share with this process.

A task that runs a tool (`pg_dump`, `dbt`, `aws`) with credentials injected by
`with_secrets` (or any env var) starts a child that writes to the stdout and stderr
it inherited: the file descriptors, below Python, where neither logging nor the
`sys.stdout` proxy (`streams`) sees anything. If the tool prints its connection
settings, the password reaches the terminal, a CI log, a worker's log file.

Hook point: `subprocess.Popen.__init__`. A child whose stdout or stderr would be
inherited (`None`) gets a pipe instead, and a relay thread copies what it writes to
this process's own descriptor, masked, line by line (a line is held until it ends,
or until the child pauses, so that a value is never cut in two by the pipe).
Nothing else about `Popen` changes: `popen.stdout` stays None, `subprocess.run`
returns what it returned, `wait()` returns once the relay has written everything.
What the caller redirects itself (`PIPE`, a file, `DEVNULL`) is left alone.

`os.system(command)` becomes `subprocess.call(command, shell=True)`, relayed alike,
returning the wait status `os.system` returns.

Turned off, with the `streams` proxy, by `mask_streams = false`. Costs: the
child sees a pipe, not a terminal (no colours), and its output goes through a
thread. Out of reach: `os.exec*`, `os.spawn*`, `pty` children, and descendants
that outlive the child and keep the pipe (relayed until they close it).
"""

from __future__ import annotations

import atexit
import os
import select
import sys
import threading
from contextlib import suppress

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import current_masker

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = ["install_child_output_hooks"]

_IDLE = 0.05  # seconds a partial line waits for its end before it is written anyway
_JOIN = 5.0  # seconds wait() waits for the relay after the child exits
_relays: set[threading.Thread] = set()


def install_child_output_hooks(module: ModuleType) -> None:
    """Wrap `subprocess.Popen.__init__` and `wait` (`module` is `subprocess`)."""
    from prefect_secrets._config.lookup import SourceConfig

    try:
        enabled = SourceConfig().settings.mask_streams
    except Exception:  # noqa: BLE001 - a broken setting must not leave children unmasked
        enabled = True
    popen = module.Popen
    if not enabled or getattr(popen.__init__, MARK, False):
        return
    init, wait = popen.__init__, popen._wait  # _wait: what wait() and communicate() call

    def relaying_init(self: Any, *args: Any, **kwargs: Any) -> None:
        relays = []
        for name, target in (("stdout", 1), ("stderr", 2)):
            if kwargs.get(name) is None and _is_inherited(target):
                read_end, write_end = os.pipe()
                kwargs[name] = write_end
                relays.append((read_end, write_end, target))
        if relays:
            _flush_python_streams()  # what Python printed before comes out before the child
        try:
            init(self, *args, **kwargs)
        except BaseException:
            for read_end, write_end, _ in relays:
                os.close(read_end)
                os.close(write_end)
            raise
        threads = []
        for read_end, write_end, target in relays:
            os.close(write_end)  # the child holds it now: EOF when the child is done
            thread = threading.Thread(
                target=_relay, args=(read_end, target), name="prefect-secrets-relay", daemon=True
            )
            thread.start()
            _relays.add(thread)
            threads.append(thread)
        self._prefect_secrets_relays = threads

    def joining_wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        code = wait(self, *args, **kwargs)
        for thread in getattr(self, "_prefect_secrets_relays", ()):
            thread.join(_JOIN)
        return code

    for wrapper, original in ((relaying_init, init), (joining_wait, wait)):
        setattr(wrapper, MARK, True)
        setattr(wrapper, "__wrapped__", original)  # noqa: B010 - mypy: not on a function
    popen.__init__ = relaying_init
    popen._wait = joining_wait
    _relay_os_system(module)
    atexit.register(_drain)


def _relay_os_system(module: ModuleType) -> None:
    system = os.system
    if getattr(system, MARK, False):
        return

    def relaying_system(command: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> int:
        code: int = module.call(command, shell=True)
        # os.system's answer is a wait status: the exit code shifted, or the signal.
        return -code if code < 0 else code << 8

    setattr(relaying_system, MARK, True)
    setattr(relaying_system, "__wrapped__", system)  # noqa: B010 - mypy: not on a function
    os.system = relaying_system


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with suppress(OSError, ValueError):  # closed or detached: nothing of ours waits
                stream.flush()


def _is_inherited(descriptor: int) -> bool:
    """Whether a child would write to this process's `descriptor` (it is open)."""
    try:
        os.fstat(descriptor)
    except OSError:
        return False
    return True


def _relay(read_end: int, target: int) -> None:
    pending = b""
    try:
        while True:
            ready, _, _ = select.select([read_end], [], [], _IDLE if pending else None)
            if not ready:  # the child paused mid-line (a prompt): write what there is
                _write(target, pending)
                pending = b""
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if cut:
                _write(target, pending[:cut])
                pending = pending[cut:]
        _write(target, pending)
    except OSError:
        pass  # our descriptor closed under us (interpreter shutdown): nothing to write to
    finally:
        os.close(read_end)
        _relays.discard(threading.current_thread())


def _write(target: int, data: bytes) -> None:
    if not data:
        return
    masker = current_masker()
    if masker is not None:
        text = data.decode("utf-8", "surrogateescape")
        if masker.found_in(text):
            data = masker.mask(text).encode("utf-8", "surrogateescape")
    while data:
        data = data[os.write(target, data) :]


def _drain() -> None:
    """At exit, let the relays write what children printed last."""
    for thread in list(_relays):
        thread.join(1.0)
