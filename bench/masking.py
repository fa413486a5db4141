"""What masking costs a log call, with 1, 100 and 1,000 registered secrets, side by side
with the same `logger.info` unmasked.

Each measurement is a fresh process (masking, once armed, stays armed): one that
registers nothing (the anchor), and ones that register N fake values first. They
run interleaved, round after round, and the medians are compared. The log call is
a realistic one: `%`-arguments, a formatter with a timestamp, a handler that
writes (to a stream that discards the text).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from bench.common import Figure

__all__ = ["masking_figures"]

COUNTS = (0, 1, 100, 1000)
CALLS = 5000

_PROBE = """
import io, logging, secrets, sys, timeit
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
print(min(timeit.repeat(call, number=CALLS, repeat=5)) / CALLS)
"""


def _per_call(count: int) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.replace("CALLS", str(CALLS)), str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip())


def masking_figures(rounds: int) -> list[Figure]:
    times: dict[int, list[float]] = {count: [] for count in COUNTS}
    for index in range(rounds):
        for count in COUNTS if index % 2 == 0 else reversed(COUNTS):
            times[count].append(_per_call(count))
    median = {count: statistics.median(values) for count, values in times.items()}
    plain = median[0]
    figures = [
        Figure(
            f"logger.info with {count} registered secret{'s' if count > 1 else ''} "
            "/ the same call unmasked",
            median[count] * 1e6,
            plain * 1e6,
            "us",
            median[count] / plain,
            "<= 2" if count == 100 else "(info)",
            median[count] / plain <= 2 if count == 100 else None,
        )
        for count in COUNTS[1:]
    ]
    # Sub-linear: ten times the secrets must cost less than ten times the masking.
    growth = (median[1000] - plain) / max(median[100] - plain, 1e-9)
    figures.append(
        Figure(
            "masking's own cost, 1,000 secrets / 100 secrets (linear would be 10)",
            (median[1000] - plain) * 1e6,
            (median[100] - plain) * 1e6,
            "us",
            growth,
            "< 10",
            growth < 10,
        )
    )
    return figures
