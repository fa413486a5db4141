"""Masking in what is written to `sys.stdout` and `sys.stderr`, past logging.

| what writes there                           | example                                  |
|---------------------------------------------|------------------------------------------|
| `print` without `log_prints`                | `print(f"connecting with {password}")`   |
| Python's traceback of an uncaught exception | `sys.excepthook`, `threading.excepthook` |
| `traceback.print_exc()`                     | a task's own error handling              |
| `warnings.warn`                             | `warnings.warn(f"slow login as {dsn}")`  |
| a logging handler made on these streams     | `logging.StreamHandler()`                |

Hook point: `sys.stdout` and `sys.stderr` themselves, replaced (once a value is
handed out) by a proxy whose `write` masks and which hands everything else to
the stream it wraps (`fileno`, `isatty`, `buffer`, `encoding`...). One `print`
call writes each argument separately, and each is masked as written. Turned off
with the setting `mask_streams = false`.

Bytes written to `sys.stdout.buffer` are masked alike; child processes are
relayed by `children`. Out of reach: bytes written to the file descriptors
themselves (`os.write(1, ...)`, C code), and streams someone captured before the
first value was handed out (they are the original objects).
"""

from __future__ import annotations

import sys

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import current_masker

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType
    from typing import Any, TextIO

__all__ = ["MaskingStream", "install_stream_hooks"]


class MaskingStream:
    """A text stream that masks registered values in what is written to it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        setattr(self, MARK, True)

    def write(self, text: str) -> int:
        masker = current_masker()
        if masker is not None and type(text) is str and masker.found_in(text):
            self._stream.write(masker.mask(text))
        else:
            self._stream.write(text)
        # What was asked, as print() and TextIOWrapper callers expect to hear back.
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    @property
    def wrapped(self) -> TextIO:
        """The stream this one writes to."""
        return self._stream

    @property
    def buffer(self) -> _MaskingBuffer:
        """The binary stream under it (`sys.stdout.buffer.write(b"...")`), masked alike."""
        return _MaskingBuffer(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<MaskingStream of {self._stream!r}>"


class _MaskingBuffer:
    """The binary side of a masked stream: bytes are masked as UTF-8 text."""

    def __init__(self, buffer: Any) -> None:
        self._buffer = buffer

    def write(self, data: bytes) -> int:
        masker = current_masker()
        if masker is not None and isinstance(data, (bytes, bytearray)):
            text = bytes(data).decode("utf-8", "surrogateescape")
            if masker.found_in(text):
                self._buffer.write(masker.mask(text).encode("utf-8", "surrogateescape"))
                return len(data)
        return int(self._buffer.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._buffer, name)


def install_stream_hooks(module: ModuleType) -> None:
    """Replace `sys.stdout` and `sys.stderr` by masking proxies (once; see the docstring)."""
    from prefect_secrets._config.lookup import SourceConfig

    try:
        enabled = SourceConfig().settings.mask_streams
    except Exception:  # noqa: BLE001 - a broken setting must not leave streams unmasked
        enabled = True
    if not enabled:
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not getattr(stream, MARK, False):
            setattr(sys, name, MaskingStream(stream))
