"""Soft labels from several teachers: the fine-tuned teacher mixed with other classifiers.

A small pretrained teacher reads only its window; a TF-IDF or fastText model reads every word of a long
review and errs elsewhere. The mean of their probabilities is a better teacher than either (multi-teacher
distillation, as in TextBrewer's MultiTeacherDistiller), and the student still ships alone. The mixing
weight is chosen on dev, never on test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zhcls.errors import UserError
from zhcls.runtime.classifier import log_probabilities, softmax

# Share of the extra teachers in the mixture, tried on dev when no weight is given.
WEIGHT_GRID = tuple(round(0.1 * step, 1) for step in range(1, 10))
BATCH = 64


def extra_teacher_probabilities(paths: Sequence[str], texts: Sequence[str], labels: list[str], threads: int):
    """Each extra teacher's probabilities for `texts`, columns in `labels` order: shape (teachers, texts, labels).

    A path is anything `zhcls bench` takes as a contender: a model or export directory, a TF-IDF or fastText
    baseline (`KIND:PATH` to force a kind); each reads texts with its own recorded settings.
    """
    from zhcls.bench.contenders import ContenderSpec, Unavailable, load_contender

    order = np.argsort([len(text) for text in texts], kind="stable")  # batches of similar lengths pad little
    out = np.zeros((len(paths), len(texts), len(labels)), dtype=np.float64)
    for slot, path in enumerate(paths):
        spec = ContenderSpec.parse(str(path))
        try:
            teacher = load_contender(spec, threads=threads, num_labels=len(labels), tokenizer_from=None)
        except Unavailable as exc:
            raise UserError(f"--extra-teacher {path}: {exc}") from None
        if not teacher.has_accuracy or sorted(teacher.labels) != sorted(labels):
            raise UserError(
                f"--extra-teacher {path}: its labels ({', '.join(teacher.labels)}) are not the teacher's "
                f"({', '.join(labels)})"
            )
        columns = [teacher.labels.index(label) for label in labels]
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            scores = np.asarray(teacher.predict_logits([texts[i] for i in rows]), dtype=np.float64)[:, columns]
            out[slot, rows] = softmax(scores)
    return out


def mix(teacher_logits: np.ndarray, extra_probabilities: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) × the teacher's probabilities + weight × the extra teachers' mean, as log-probabilities.

    Log-probabilities are logits of exactly that distribution, so the temperature-scaled KL reads them as it
    reads the teacher's own logits.
    """
    mixed = (1 - weight) * softmax(np.asarray(teacher_logits, dtype=np.float64)) + weight * extra_probabilities.mean(0)
    return log_probabilities(mixed).astype(np.float32)


def choose_weight(
    teacher_logits: np.ndarray, extra_probabilities: np.ndarray, gold: np.ndarray
) -> tuple[float, dict[float, float]]:
    """The weight of WEIGHT_GRID whose mixture is most accurate on dev (the smaller on a tie), and every score."""
    accuracy = {
        weight: float((mix(teacher_logits, extra_probabilities, weight).argmax(axis=1) == gold).mean())
        for weight in WEIGHT_GRID
    }
    return max(WEIGHT_GRID, key=lambda weight: (accuracy[weight], -weight)), accuracy
