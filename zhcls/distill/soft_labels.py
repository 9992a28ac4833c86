"""The soft labels a student learns from: the teacher's logits on the transfer set, or their mixture with the
extra teachers' probabilities, each computed once and kept in the run's work area."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zhcls.atomic import RunDir
from zhcls.data import DatasetSplits
from zhcls.distill.config import DistillConfig
from zhcls.distill.transfer import TransferSet
from zhcls.errors import UserError

log = logging.getLogger(__name__)


def computed_once(cache: Path, rows: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """`compute()` for the transfer texts, kept in the run's work area so a resumed run does not redo it."""
    from safetensors.numpy import load_file, save_file

    if cache.exists():
        values = load_file(str(cache)).get("values")
        if values is not None and values.shape[-2] == rows:
            return values
    values = np.ascontiguousarray(compute())
    tmp = cache.with_suffix(".tmp")
    save_file({"values": values}, str(tmp))
    tmp.replace(cache)
    return values


def soft_targets(
    config: DistillConfig, teacher: Any, tokenizer: Any, transfer: TransferSet, splits: DatasetSplits, run: RunDir
) -> tuple[torch.Tensor, dict | None]:
    """Logits the student learns from: the teacher's, or its mixture with the extra teachers (and that record)."""
    from zhcls.distill.ensemble import choose_weight, cross_fitted, extra_teacher_probabilities, mix
    from zhcls.models import classify_logits

    def teacher_logits(some: list[str]) -> np.ndarray:
        inputs, batch = config.teacher_inputs, config.eval_batch_size
        return classify_logits(teacher, tokenizer, some, inputs=inputs, batch_size=batch)

    labels, threads, texts, folds = splits.labels, torch.get_num_threads(), transfer.texts, config.extra_teacher_folds
    gold = np.array([labels.index(label) for label in splits.dev.labels])
    if config.extra_teachers and config.extra_teacher_weight is None and not len(gold):
        raise UserError("no dev texts to choose the mixing weight on: give --extra-teacher-weight")

    def extra_on(name: str, some: list[str], compute: Callable[[], np.ndarray] | None = None) -> np.ndarray:
        """The extra teachers' probabilities for `some` (or `compute()`), kept in the work area as NAME."""
        compute = compute or (lambda: extra_teacher_probabilities(config.extra_teachers, some, labels, threads))
        return computed_once(run.work / f"{name}.safetensors", len(some), compute)

    # The extra teachers before the teacher's long pass: a wrong one fails at once, and their CPU-bound work
    # is in the work area before any GPU time is spent (a run may stop here and resume on another machine).
    if config.extra_teachers:
        extra_dev = extra_on("extra_teacher_dev_probabilities", splits.dev.texts)
        extra = saved = extra_on("extra_teacher_probabilities", texts)
        if folds > 1:
            train, seed = (splits.train.texts, splits.train.labels), config.loop.seed
            extra = extra_on(
                f"extra_teacher_probabilities_{folds}_folds",
                texts,
                lambda: cross_fitted(
                    saved, config.extra_teachers, texts, transfer.sources, train, labels, folds, seed, threads
                ),
            )
    logits = computed_once(run.work / "teacher_logits.safetensors", len(texts), lambda: teacher_logits(texts))
    if not config.extra_teachers:
        return torch.from_numpy(logits), None
    chosen, dev_by_weight = choose_weight(teacher_logits(splits.dev.texts), extra_dev, gold) if len(gold) else (0, {})
    weight = chosen if config.extra_teacher_weight is None else config.extra_teacher_weight
    record = {
        "teachers": list(config.extra_teachers),
        "cross_fitted_folds": folds,
        "weight": weight,
        "weight_chosen_on_dev": config.extra_teacher_weight is None,
        "dev_accuracy_by_weight": {str(k): v for k, v in dev_by_weight.items()},
        "extra_teacher_dev_accuracy": [
            float((p.argmax(axis=1) == gold).mean()) if len(gold) else None for p in extra_dev
        ],
    }
    log.info("soft labels: %.2f × the teacher + %.2f × %d extra teacher(s)", 1 - weight, weight, len(extra))
    return torch.from_numpy(mix(logits, extra, weight)), record
