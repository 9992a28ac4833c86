"""The one progress-bar helper every long-running stage uses."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger("zhcls.progress")

# Seconds between two progress lines where no bar can be drawn (output to a file, under nohup).
LINE_INTERVAL_S = 30.0


def progress(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> Any:
    """A tqdm bar on stderr on a terminal (anywhere with ZHCLS_PROGRESS=1); elsewhere a log line every 30 s
    (`ProgressLines`); nothing with ZHCLS_PROGRESS=0."""
    from tqdm.auto import tqdm

    forced = os.environ.get("ZHCLS_PROGRESS")
    if enabled and forced is None and not sys.stderr.isatty():
        return ProgressLines(iterable, **kwargs)
    show = enabled and (forced == "1" or (forced is None and sys.stderr.isatty()))
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, disable=not show, file=sys.stderr, **kwargs)


class ProgressLines:
    """What a bar would show, as one log line every LINE_INTERVAL_S seconds: count, share, elapsed, time left."""

    def __init__(
        self, iterable: Any = None, *, total: int | None = None, initial: int = 0, desc: str = "", unit: str = "it",
        **_: Any,
    ) -> None:  # fmt: skip
        self.iterable, self.total, self.n, self.desc, self.unit = iterable, total, initial, desc or "progress", unit
        self.initial = initial
        self.started = self.last = time.monotonic()
        self.postfix = ""

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = ", ".join(f"{name} {value}" for name, value in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= LINE_INTERVAL_S:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        """`desc: n/total unit (share), elapsed, ~left, postfix`."""
        elapsed = now - self.started
        done = f"{self.n:,}/{self.total:,} {self.unit}" if self.total else f"{self.n:,} {self.unit}"
        parts = [f"{self.desc}: {done}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{elapsed / 60:.1f} min")
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0
        if self.total and rate > 0:
            parts.append(f"~{(self.total - self.n) / rate / 60:.1f} min left")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def close(self) -> None:
        return None


def library_bars_follow_zhcls() -> None:
    """ZHCLS_PROGRESS=0 hides the bars of transformers and huggingface_hub too (transformers 5 draws one per load).

    Both read the variable when they are first imported, so this runs before any command imports them.
    """
    if os.environ.get("ZHCLS_PROGRESS") == "0":
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
