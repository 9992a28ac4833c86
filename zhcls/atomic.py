"""Outputs that appear whole or not at all: a JSON file, a directory, and a run's directory with the work area
for its checkpoints beside it; and the one rule for any path a command writes. Every stage may use them (standard
library only)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from zhcls.errors import UserError

LOCK_FILE = "lock"


def check_output(
    path: str | Path,
    *,
    overwrite: bool | None = False,
    inputs: Iterable[str | Path] = (),
    flag: str = "--output",
    directory: bool = True,
) -> Path:
    """The rule for every path a command writes (a directory, or a file when not `directory`): it lies under a
    directory, it is none of the command's `inputs` nor a folder holding one, it is not a file where a directory goes
    (nor the reverse), and an existing one is replaced only with `overwrite` (None: a command that never replaces
    one)."""
    path = Path(path)
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{flag} {path}: {parent} is a file, not a directory")
            break
    target = path.resolve()
    for source in inputs:
        source = Path(source)
        if source.exists() and (source.resolve() == target or target in source.resolve().parents):
            raise UserError(f"{flag} {path} would replace the input {source}; choose another {flag}")
    if path.exists() and path.is_dir() != directory:
        raise UserError(
            f"{flag} {path} is a {'directory; name a file' if directory is False else 'file; name a folder'}"
        )
    if os.path.lexists(path) and not overwrite:
        fix = "pass --overwrite to replace it" if overwrite is False else f"remove it or choose another {flag}"
        raise UserError(f"{path} already exists; {fix}")
    return path


def _running(pid: int) -> bool:
    """Whether a process `pid` exists (POSIX: signal 0 probes without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


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
    assembled there and renamed into place, so `output` only ever exists complete. The work area's `lock` file
    holds the pid of the process writing it: a second run on the same output fails at once, and a lock whose
    process is gone (killed) is taken over.
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

    def lock_holder(self) -> int | None:
        """The pid of another running process that holds the work area's lock, else None."""
        try:
            pid = int((self.work / LOCK_FILE).read_text(encoding="utf-8").split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid != os.getpid() and _running(pid) else None

    def _refuse_if_locked(self) -> None:
        holder = self.lock_holder()
        if holder is not None:
            raise UserError(
                f"{self.output} is being written by another run (pid {holder}, lock {self.work / LOCK_FILE}); "
                "wait for it to finish or stop it"
            )

    def check(self, *, resume: bool, overwrite: bool, work_area_resumes: bool = False) -> None:
        """Refuse a run while another holds the work area, and to clobber a finished output or an interrupted run
        unless asked to.

        With `work_area_resumes`, a work area without a checkpoint may be resumed too: a command that keeps
        costly results there before its first checkpoint (distillation's augmented texts and soft labels).
        """
        self._refuse_if_locked()
        check_output(self.output, overwrite=overwrite)
        if resume and not (self.resumable or (work_area_resumes and self.work.exists())):
            raise UserError(f"nothing to resume: no checkpoint in {self.work}")
        if self.work.exists() and not resume and not overwrite:
            raise UserError(
                f"an interrupted run left {self.work}; pass --resume to continue it or --overwrite to start over"
            )

    def prepare(self, *, resume: bool) -> None:
        """Take the work area's lock, creating the work area, and empty it unless resuming (call on the main
        process only)."""
        self.work.mkdir(parents=True, exist_ok=True)
        self._lock()
        if not resume:
            for entry in self.work.iterdir():
                if entry.name == LOCK_FILE:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def _lock(self) -> None:
        """Create the lock file with this pid; one left by a process that is gone is taken over."""
        path = self.work / LOCK_FILE
        for _ in range(2):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_if_locked()
                path.unlink(missing_ok=True)  # stale, or this process's own from a failed run
                continue
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()}\n")
            return
        raise UserError(f"{self.output}: another run keeps taking the lock {path}")

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
