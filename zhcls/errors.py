"""Errors a user can cause and fix; the CLI prints them as one line and exits 2."""

from __future__ import annotations

import importlib
from types import ModuleType


class UserError(Exception):
    """Bad input, a bad flag combination or a missing file: printed as `error: ...`, exit code 2."""


class MissingExtraError(UserError):
    """A command needs an optional dependency group that is not installed."""


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or fail naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"this command needs the '{extra}' extra (missing module '{module}'): pip install 'zhcls[{extra}]'"
        ) from exc
