"""Percentiles by nearest rank: no interpolation, so every figure is a value that occurred."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The value at `fraction` (0..1) of `ordered`, which must be sorted and not empty."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of durations given in seconds, in milliseconds (None when empty)."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    seconds.sort()
    return {
        "p50": round(percentile(seconds, 0.50) * 1000, 3),
        "p99": round(percentile(seconds, 0.99) * 1000, 3),
        "max": round(seconds[-1] * 1000, 3),
    }
