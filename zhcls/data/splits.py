"""Deterministic stratified splits, duplicate removal and label sets."""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from zhcls.data.readers import Examples
from zhcls.errors import UserError

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitRatios:
    """Fractions of each class that go to train, dev and test."""

    train: float = 0.8
    dev: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        values = (self.train, self.dev, self.test)
        finite = all(math.isfinite(v) for v in values)
        if not finite or any(v < 0 for v in values) or self.train <= 0 or abs(sum(values) - 1) > 1e-6:
            raise UserError(f"split ratios {values} must be non-negative, train > 0, and sum to 1 (e.g. 0.8,0.1,0.1)")

    @classmethod
    def parse(cls, spec: str) -> SplitRatios:
        """Parse 'train,dev,test' such as '0.8,0.1,0.1'."""
        try:
            parts = [float(p) for p in spec.split(",")]
        except ValueError:
            parts = []
        if len(parts) != 3:
            raise UserError(f"--split-ratios '{spec}' must be three numbers 'train,dev,test', e.g. 0.8,0.1,0.1")
        return cls(*parts)


def sort_labels(labels: set[str] | Sequence[str]) -> list[str]:
    """Labels in a stable order: numerically when all are integers, else lexicographically."""
    unique = set(labels)
    if all(label.lstrip("-").isdigit() for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def _label_value(label: str) -> float | None:
    """The number a label spells (true and false: 1 and 0), or None for a name."""
    if label.lower() in ("true", "false"):
        return float(label.lower() == "true")
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def label_spellings(labels: Iterable[str], source: str) -> dict[str, str]:
    """{spelling: class} for labels that spell one value several ways (1, 1.0 and True; 0 and False), said in one
    line; empty when every class is spelled one way. Such spellings beside names, or true/false beside numbers
    other than 0 and 1, have no one reading: an error."""
    by_value: dict[float, set[str]] = defaultdict(set)
    names = set()
    for label in set(labels):
        value = _label_value(label)
        if value is None:
            names.add(label)
        else:
            by_value[value].add(label)
    merged = {value: spellings for value, spellings in by_value.items() if len(spellings) > 1}
    if not merged:
        return {}
    booleans = {label for spellings in by_value.values() for label in spellings if label.lower() in ("true", "false")}
    others = sorted(names) or sorted(
        label for value, spellings in by_value.items() if booleans and value not in (0.0, 1.0) for label in spellings
    )
    if others:
        raise UserError(
            f"{source}: labels mix spellings of one number ({', '.join(sort_labels(set().union(*merged.values())))}) "
            f"with {', '.join(others)}; write each class one way"
        )
    mapping = {}
    for value, spellings in sorted(merged.items()):
        name = str(int(value)) if value.is_integer() else repr(value)
        mapping.update({spelling: name for spelling in spellings})
    said = "; ".join(
        f"{', '.join(sorted(s for s in spellings if s != mapping[s]))} → {mapping[next(iter(spellings))]}"
        for _, spellings in sorted(merged.items())
    )
    log.warning("%s: label spellings of one class merged: %s", source, said)
    return mapping


def stratified_split(labels: Sequence[str], ratios: SplitRatios, seed: int) -> dict[str, list[int]]:
    """Indices of train/dev/test, stratified by label and fixed by `seed`.

    Written here rather than taken from scikit-learn: its stratified splitter refuses classes with a
    single member, and a recorded seed must give the same split in every future version.
    """
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    parts: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for label in sort_labels(by_label):
        members = np.array(by_label[label])[rng.permutation(len(by_label[label]))]
        n_test = round(len(members) * ratios.test)
        n_dev = round(len(members) * ratios.dev)
        if n_test + n_dev >= len(members):  # keep at least one example of every class in train
            n_dev = max(0, len(members) - 1 - n_test)
            n_test = min(n_test, len(members) - 1)
        parts["test"].extend(members[:n_test].tolist())
        parts["dev"].extend(members[n_test : n_test + n_dev].tolist())
        parts["train"].extend(members[n_test + n_dev :].tolist())
    return {name: sorted(indices) for name, indices in parts.items()}


def drop_duplicates(examples: Examples) -> tuple[Examples, int]:
    """Keep the first occurrence of each exact text; a text seen with two labels is dropped whole."""
    labels_of: dict[str, set[str]] = defaultdict(set)
    for text, label in zip(examples.texts, examples.labels, strict=False):
        labels_of[text].add(label)
    seen: set[str] = set()
    keep = []
    for index, text in enumerate(examples.texts):
        if text in seen or len(labels_of[text]) > 1:
            continue
        seen.add(text)
        keep.append(index)
    return examples.subset(keep), len(examples) - len(keep)


def drop_texts_in(examples: Examples, taken: set[str]) -> tuple[Examples, int]:
    """Remove examples whose text is in `taken` (used to keep a text out of two splits)."""
    keep = [i for i, text in enumerate(examples.texts) if text not in taken]
    return examples.subset(keep), len(examples) - len(keep)


def check_labels(train: Examples, others: dict[str, Examples]) -> list[str]:
    """The label set of the training split, after checking every other split uses only those labels."""
    counts = Counter(train.labels)
    if len(counts) < 2:
        only = next(iter(counts), "?")
        raise UserError(f"{train.source}: the training split has a single class ('{only}'); need at least two")
    known = set(counts)
    for name, split in others.items():
        for label, line in zip(split.labels, split.lines, strict=False):
            if label not in known:
                raise UserError(
                    f"{split.source}:{line}: label '{label}' in the {name} split does not occur in the training split"
                )
    return sort_labels(known)
