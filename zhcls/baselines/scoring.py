"""What the classic baselines (TF-IDF, fastText) share: scoring on dev and test, and an atomic save."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from zhcls.data import DatasetSplits
from zhcls.evaluation import classification_metrics
from zhcls.runtime.cpu import cpu_info


class Baseline(Protocol):
    def predict_ids(self, texts: list[str]) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...


def score_and_save(baseline: Baseline, splits: DatasetSplits, metrics: dict, output: Path | None) -> dict:
    """Add data, machine, dev and test metrics to `metrics`; write model + metrics.json to `output` atomically."""
    from zhcls.atomic import replace_dir, write_json

    index = {label: i for i, label in enumerate(splits.labels)}

    def score(split: str) -> dict:
        examples = splits.split(split)
        return classification_metrics(
            [index[x] for x in examples.labels], baseline.predict_ids(examples.texts), splits.labels
        )

    metrics = {
        **metrics,
        "data": splits.info,
        "machine": {"processor": cpu_info()["model"], "threads": cpu_info()["cores"]},
        "dev": score("dev"),
        "test": score("test"),
    }
    if output is not None:
        output = Path(output)
        staged = output.parent / f".{output.name}.partial"
        baseline.save(staged)
        write_json(staged / "metrics.json", metrics)
        replace_dir(staged, output)
    return metrics
