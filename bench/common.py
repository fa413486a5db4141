"""What every figure of the bench shares: the row it makes, and side-by-side timing."""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Figure", "interleaved", "median_per_call"]


@dataclass
class Figure:
    figure: str
    ours: float
    anchor: float
    unit: str
    ratio: float
    goal: str
    # None for a figure shown for context, with no goal of its own.
    met: bool | None
    note: str = ""


def median_per_call(stmt: Callable[[], object], calls: int) -> float:
    return timeit.timeit(stmt, number=calls) / calls


def interleaved(
    ours: Callable[[], float], anchor: Callable[[], float], rounds: int
) -> tuple[float, float]:
    """Medians of `rounds` alternating measurements (order flipped every round)."""
    ours_times: list[float] = []
    anchor_times: list[float] = []
    for index in range(rounds):
        if index % 2:
            anchor_times.append(anchor())
            ours_times.append(ours())
        else:
            ours_times.append(ours())
            anchor_times.append(anchor())
    return statistics.median(ours_times), statistics.median(anchor_times)
