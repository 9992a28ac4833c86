"""Calls timed the way shared, noisy machines allow: several callables interleaved call by call, for the bench
and for export's choice among candidate graphs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def interleaved_seconds(
    callables: dict[str, Callable[[Any], Any]], calls: Sequence[Any], warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds each callable took on each of `calls`, all of them on one call back to back, starting with a different
    one each call, after `warmup` untimed calls; machine noise (another process, frequency changes) then falls on all
    alike."""
    names = list(callables)
    for call in calls[:warmup]:
        for name in names:
            callables[name](call)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for index, call in enumerate(calls):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            callables[name](call)
            seconds[name].append(time.perf_counter() - started)
    return seconds
