"""Classification metrics and their printed table, shared by every stage that measures accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from zhcls.data import Examples
    from zhcls.models import InputSettings


def classification_metrics(gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows: gold)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    ids = list(range(len(labels)))
    gold = np.asarray(gold)
    predicted = np.asarray(predicted)
    precision, recall, f1, support = precision_recall_fscore_support(gold, predicted, labels=ids, zero_division=0)
    present = support > 0  # macro-F1 over the classes that occur in this split
    return {
        "accuracy": float((gold == predicted).mean()) if len(gold) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n": len(gold),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=False)
        },
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(gold, predicted, labels=ids).tolist(),
    }


def format_metrics(metrics: dict, title: str = "") -> str:
    """A plain-text table of `classification_metrics` output."""
    labels = metrics["labels"]
    width = max(8, *(len(label) * 2 for label in labels))
    lines = [title] if title else []
    lines.append(f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   n={metrics['n']}")
    lines.append(f"{'label':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
    for label in labels:
        row = metrics["per_class"][label]
        lines.append(
            f"{label:<{width}} {row['precision']:>9.4f} {row['recall']:>9.4f} {row['f1']:>9.4f} {row['support']:>8}"
        )
    lines.append("confusion matrix (rows: gold, columns: predicted)")
    for label, row in zip(labels, metrics["confusion_matrix"], strict=False):
        lines.append(f"{label:<{width}} " + " ".join(f"{v:>6}" for v in row))
    return "\n".join(lines)


def evaluate_classifier(
    model: Any, tokenizer: Any, examples: Examples, labels: list[str], inputs: InputSettings, batch_size: int = 64
) -> dict:
    """`classification_metrics` of a PyTorch classifier on `examples`, each text read as `inputs` says."""
    from zhcls.models import classify_logits

    logits = classify_logits(model, tokenizer, examples.texts, inputs=inputs, batch_size=batch_size)
    index = {label: i for i, label in enumerate(labels)}
    return classification_metrics([index[label] for label in examples.labels], logits.argmax(-1), labels)
