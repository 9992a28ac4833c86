"""Latency measured the way shared, noisy machines allow: contenders interleaved call by call, medians reported."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zhcls.runtime.timing import interleaved_seconds


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
    """Time every contender on every batch, back to back, starting with a different contender each batch
    (zhcls.runtime.timing), and summarize each one's calls.

    Machine noise (another process, frequency changes) then falls on all contenders alike.
    """
    seconds = interleaved_seconds(contenders, batches, warmup)
    mean_size = float(np.mean([len(batch) for batch in batches]))
    return {name: summarize(values, mean_size) for name, values in seconds.items()}


__all__ = ["interleaved_latency", "summarize"]
