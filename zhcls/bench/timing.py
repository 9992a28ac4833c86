"""Latency measured the way shared, noisy machines allow: contenders interleaved call by call, medians reported."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def summarize(seconds: Sequence[float], texts_per_call: float) -> dict:
    """p50/p90/p99 and mean latency in milliseconds, and texts per second at the median."""
    ms = np.asarray(seconds) * 1e3
    p50 = float(np.percentile(ms, 50))
    return {
        "calls": len(ms),
        "p50_ms": round(p50, 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "texts_per_s": round(texts_per_call / (p50 / 1e3), 1),
    }


def interleaved_latency(
    contenders: dict[str, Callable[[list[str]], Any]], batches: Sequence[list[str]], warmup: int = 3
) -> dict[str, dict]:
    """Time every contender on every batch, back to back, starting with a different contender each batch.

    Machine noise (another process, frequency changes) then falls on all contenders alike.
    """
    names = list(contenders)
    for batch in batches[:warmup]:
        for name in names:
            contenders[name](batch)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for index, batch in enumerate(batches):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            contenders[name](batch)
            timings[name].append(time.perf_counter() - started)
    mean_size = float(np.mean([len(batch) for batch in batches]))
    return {name: summarize(values, mean_size) for name, values in timings.items()}


__all__ = ["interleaved_latency", "summarize"]
