"""The transfer set: the texts a student learns from, never a dev or test text.

The training texts with their gold labels come first, then in-domain unlabeled texts and augmented copies
(label -1). Augmenting is slow, so its texts are kept in the run's work area and read back on resume.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from zhcls.atomic import RunDir
from zhcls.data import DatasetSplits
from zhcls.data.readers import read_texts
from zhcls.distill.config import DistillConfig

log = logging.getLogger(__name__)


@dataclass
class TransferSet:
    """The texts the student learns from: training texts with gold labels, then unlabeled and augmented ones.

    `labels` is -1 for a text without a gold label; `sources` gives the training text a text is or was made
    from (-1 for unlabeled text).
    """

    texts: list[str]
    labels: list[int]
    sources: list[int]
    report: dict


def transfer_texts(config: DistillConfig, splits: DatasetSplits, run: RunDir) -> TransferSet:
    """Training texts with gold labels, then unlabeled and augmented texts (label -1), never a dev/test text."""
    label_ids = {label: i for i, label in enumerate(splits.labels)}
    texts = list(splits.train.texts)
    labels = [label_ids[label] for label in splits.train.labels]
    sources = list(range(len(texts)))
    held_out = set(splits.dev.texts) | set(splits.test.texts)
    seen = set(texts)
    report = {"train": len(texts), "unlabeled": 0, "augmented": 0, "dropped_as_dev_or_test": 0}

    def add(extra: list[str], kind: str, origins: list[int] | None = None) -> None:
        for text, origin in zip(extra, origins or [-1] * len(extra), strict=True):
            if text in held_out:
                report["dropped_as_dev_or_test"] += 1
            elif text not in seen:
                seen.add(text)
                texts.append(text)
                labels.append(-1)
                sources.append(origin)
                report[kind] += 1

    if config.unlabeled:
        add(read_texts(Path(config.unlabeled)), "unlabeled")
    if config.augment is not None:
        rows = _augmented_rows(config, splits, run.work / "augmented.jsonl")
        add([row["text"] for row in rows], "augmented", [row["source"] for row in rows])
    if report["dropped_as_dev_or_test"]:
        log.info("transfer set: dropped %d texts that are dev or test texts", report["dropped_as_dev_or_test"])
    return TransferSet(texts, labels, sources, report)


def _augmented_rows(config: DistillConfig, splits: DatasetSplits, cache: Path) -> list[dict]:
    """Augmented copies of the training texts with the index of their source, made once and kept in `cache`."""
    rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines()] if cache.exists() else []
    if rows and "source" in rows[0]:
        return rows
    # Absent, or written before the sources were recorded.
    from zhcls.distill.augment import MaskedLMCandidates, augment_texts

    made = augment_texts(splits.train.texts, config.augment, MaskedLMCandidates(config.augment_mlm))
    rows = [{"text": a.text, "source": a.source} for a in made]
    tmp = cache.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(cache)
    return rows
