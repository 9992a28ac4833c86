"""Outputs that appear whole or not at all: a JSON file, a directory, and a run's directory with the work area
for its checkpoints beside it. Every stage may use them (standard library only)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zhcls.errors import UserError


def replace_dir(staged: Path, target: Path) -> None:
    """Move a fully written `staged` directory to `target`, replacing an old one without a gap."""
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    if old.exists():
        shutil.rmtree(old)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON through a temporary file so a reader never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class RunDir:
    """The final `output` directory and its hidden work area `.NAME.partial` next to it.

    Checkpoints, the best model so far and the log live in the work area; the finished directory is
    assembled there and renamed into place, so `output` only ever exists complete.
    """

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.work = self.output.parent / f".{self.output.name}.partial"

    @property
    def checkpoint(self) -> Path:
        """The latest checkpoint (falls back to the previous one if a swap was interrupted)."""
        current = self.work / "checkpoint"
        previous = self.work / "checkpoint.old"
        return current if current.exists() or not previous.exists() else previous

    @property
    def best(self) -> Path:
        """The best model so far, as a loadable model directory."""
        return self.work / "best"

    @property
    def log(self) -> Path:
        """The JSONL training log."""
        return self.work / "train_log.jsonl"

    @property
    def staging(self) -> Path:
        """Where the final directory is assembled before it is published."""
        return self.work / "final"

    @property
    def resumable(self) -> bool:
        """Whether an interrupted run left a checkpoint to continue from."""
        return (self.checkpoint / "state.json").exists()

    def check(self, *, resume: bool, overwrite: bool, work_area_resumes: bool = False) -> None:
        """Refuse to clobber a finished output or an interrupted run unless asked to.

        With `work_area_resumes`, a work area without a checkpoint may be resumed too: a command that keeps
        costly results there before its first checkpoint (distillation's augmented texts and soft labels).
        """
        if self.output.exists() and not overwrite:
            raise UserError(f"{self.output} already exists; pass --overwrite to replace it")
        if resume and not (self.resumable or (work_area_resumes and self.work.exists())):
            raise UserError(f"nothing to resume: no checkpoint in {self.work}")
        if self.work.exists() and not resume and not overwrite:
            raise UserError(
                f"an interrupted run left {self.work}; pass --resume to continue it or --overwrite to start over"
            )

    def prepare(self, *, resume: bool) -> None:
        """Create the work area, emptying it unless resuming (call on the main process only)."""
        if not resume and self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True, exist_ok=True)

    def publish(self) -> Path:
        """Move the staged directory to `output` and drop the work area."""
        replace_dir(self.staging, self.output)
        shutil.rmtree(self.work, ignore_errors=True)
        return self.output

    def publish_best(
        self, records: dict[str, Any] | None = None, *, amend: Callable[[Path], None] | None = None
    ) -> Path:
        """Publish the best model with the training log and `records` (file name: JSON payload) beside it.

        `amend` may change the staged copy before it goes out, so `output` still appears only when complete.
        """
        staging = self.staging
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(self.best, staging)
        if amend is not None:
            amend(staging)
        if self.log.exists():
            shutil.copy2(self.log, staging / "train_log.jsonl")
        for name, payload in (records or {}).items():
            write_json(staging / name, payload)
        return self.publish()
