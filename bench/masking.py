"""What masking costs a log call, with 1, 100 and 1,000 registered secrets, side by side
with the same `logger.info` unmasked.

Each measurement is a fresh process (masking, once armed, stays armed): one that
registers nothing (the anchor), and ones that register N fake values first. They
run interleaved, round after round, and the medians are compared. The log call is
a realistic one: `%`-arguments, a formatter with a timestamp, a handler that
writes (to a stream that discards the text).
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys

from bench.common import Figure

__all__ = ["masking_figures"]

COUNTS = (0, 1, 100, 1000)
CALLS = 5000

# Registers `count` (argv[1]) fake values, then builds the logger every figure calls.
_SETUP = """
import io, logging, secrets, sys
count = int(sys.argv[1])
from prefect_secrets._masking.registry import current_masker, register
for index in range(count):
    register(f"fake-bench-{index}-{secrets.token_urlsafe(12)}")
if count:
    current_masker()  # compiled before the timing, as after the first log call
class Discard(io.TextIOBase):
    def write(self, text):
        return len(text)
handler = logging.StreamHandler(Discard())
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
logger = logging.getLogger("bench.masking")
logger.addHandler(handler)
logger.setLevel(logging.INFO)
logger.propagate = False
def call():
    logger.info("loaded batch %d of %s: %d rows in %.1f s", 17, "orders", 1200, 0.8)
"""
_PROBE = (
    _SETUP
    + """
import timeit
print(min(timeit.repeat(call, number=CALLS, repeat=5)) / CALLS)
"""
)
# argv[2] calls, for callgrind to count.
_COUNTED = (
    _SETUP
    + """
for _ in range(int(sys.argv[2])):
    call()
"""
)


def _per_call(count: int) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.replace("CALLS", str(CALLS)), str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip())


def masking_figures(rounds: int) -> list[Figure]:
    """Wall-clock figures always; with valgrind on PATH, the goals are judged on the CPU
    instructions one call executes (callgrind), which this noisy VM cannot disturb:
    fresh processes differ by as much as masking costs, in wall time."""
    instructions = _instruction_counts() if shutil.which("valgrind") else None
    times: dict[int, list[float]] = {count: [] for count in COUNTS}
    for index in range(rounds):
        for count in COUNTS if index % 2 == 0 else reversed(COUNTS):
            times[count].append(_per_call(count))
    median = {count: statistics.median(values) for count, values in times.items()}
    figures = _figures(median, "us", 1e6, judged=instructions is None)
    if instructions is not None:
        figures += _figures(instructions, "instr", 1, judged=True, what="instructions of ")
    return figures


def _figures(
    cost: dict[int, float], unit: str, scale: float, *, judged: bool, what: str = ""
) -> list[Figure]:
    plain = cost[0]
    figures = [
        Figure(
            f"{what}logger.info with {count} registered secret{'s' if count > 1 else ''} "
            "/ the same call unmasked",
            cost[count] * scale,
            plain * scale,
            unit,
            cost[count] / plain,
            "<= 2" if count == 100 and judged else "(info)",
            cost[count] / plain <= 2 if count == 100 and judged else None,
        )
        for count in COUNTS[1:]
    ]
    # Sub-linear: ten times the secrets must cost less than ten times the masking.
    growth = (cost[1000] - plain) / max(cost[100] - plain, 1e-9)
    figures.append(
        Figure(
            f"{what}masking's own cost, 1,000 secrets / 100 secrets (linear would be 10)",
            (cost[1000] - plain) * scale,
            (cost[100] - plain) * scale,
            unit,
            growth,
            "< 10" if judged else "(info)",
            growth < 10 if judged else None,
        )
    )
    return figures


def _instruction_counts(calls: int = 2000) -> dict[int, float]:
    """Instructions per log call: a run with `calls` calls minus one with none, the same
    setup (registering, compiling) in both."""

    def total(count: int, calls: int) -> int:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                *(sys.executable, "-c", _COUNTED, str(count), str(calls)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        match = re.search(r"Collected : (\d+)", result.stderr)
        if match is None:
            raise RuntimeError("callgrind printed no instruction count")
        return int(match.group(1))

    return {count: (total(count, calls) - total(count, 0)) / calls for count in COUNTS}
