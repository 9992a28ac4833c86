"""Soft labels from several teachers: the fine-tuned teacher mixed with other classifiers.

A small pretrained teacher reads only its window; a TF-IDF or fastText model reads every word of a long
review and errs elsewhere. The mean of their probabilities is a better teacher than either (multi-teacher
distillation, as in TextBrewer's MultiTeacherDistiller), and the student still ships alone. The mixing
weight is chosen on dev, never on test.

A TF-IDF model is near-certain on the texts it was fit on, so on the training texts (and their augmented
copies) its soft labels say no more than the gold ones. Cross-fitting refits it K times, each time without
one K-th of the training texts, and gives each of those texts the probabilities of the model that never
saw it: the co-teacher's real errors and doubts, as on new text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
    from zhcls.contenders import ContenderSpec, Unavailable, load_contender

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


def cross_fitted(
    probabilities: np.ndarray,
    paths: Sequence[str],
    texts: Sequence[str],
    sources: Sequence[int],
    train: tuple[Sequence[str], Sequence[str]],
    labels: list[str],
    folds: int,
    seed: int = 0,
    jobs: int = 1,
) -> np.ndarray:
    """`probabilities` of `extra_teacher_probabilities`, each text derived from a training text re-scored out of fold.

    `sources[i]` is the index of the training text that text i is or was made from, -1 for other text (which
    keeps the saved model's probabilities); `train` holds the training texts and their labels; every extra
    teacher must be a TF-IDF baseline. The folds are a seeded random partition of the training texts.
    """
    from sklearn.utils.parallel import Parallel, delayed

    from zhcls.baselines.tfidf import TfidfBaseline
    from zhcls.contenders import ContenderSpec

    train_texts, train_labels = train
    sources = np.asarray(sources)
    fold_of = np.random.default_rng(seed).permutation(len(train_texts)) % folds
    text_fold = np.where(sources >= 0, fold_of[np.maximum(sources, 0)], -1)
    out = probabilities.copy()
    for slot, path in enumerate(paths):
        saved = TfidfBaseline.load(Path(ContenderSpec.parse(str(path)).target))
        label_ids = np.array([saved.labels.index(label) for label in train_labels])
        columns = [saved.labels.index(label) for label in labels]

        def out_of_fold(fold: int, saved=saved, label_ids=label_ids) -> np.ndarray:
            keep = np.flatnonzero(fold_of != fold)
            model = saved.refit([train_texts[i] for i in keep], label_ids[keep])
            return model.predict_proba([texts[i] for i in np.flatnonzero(text_fold == fold)])

        scored = Parallel(n_jobs=min(jobs, folds))(delayed(out_of_fold)(fold) for fold in range(folds))
        for fold, fold_probabilities in enumerate(scored):
            out[slot, text_fold == fold] = fold_probabilities[:, columns]
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
