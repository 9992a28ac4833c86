"""The one progress-bar helper every long-running stage uses."""

from __future__ import annotations

import os
import sys
from typing import Any


def progress(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> Any:
    """A tqdm bar on stderr; shown on a terminal, or anywhere with ZHCLS_PROGRESS=1, hidden with ZHCLS_PROGRESS=0."""
    from tqdm.auto import tqdm

    forced = os.environ.get("ZHCLS_PROGRESS")
    show = enabled and (forced == "1" or (forced is None and sys.stderr.isatty()))
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5 if sys.stderr.isatty() else 30)
    return tqdm(iterable, disable=not show, file=sys.stderr, **kwargs)


def library_bars_follow_zhcls() -> None:
    """ZHCLS_PROGRESS=0 hides the bars of transformers and huggingface_hub too (transformers 5 draws one per load).

    Both read the variable when they are first imported, so this runs before any command imports them.
    """
    if os.environ.get("ZHCLS_PROGRESS") == "0":
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
