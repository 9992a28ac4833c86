"""Data layer: readers, deterministic splits, label sets and the built-in registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from zhcls.data.readers import Examples, read_examples
from zhcls.data.registry import REGISTRY
from zhcls.data.splits import (
    SplitRatios,
    check_labels,
    drop_duplicates,
    drop_texts_in,
    label_spellings,
    stratified_split,
)
from zhcls.errors import UserError

__all__ = [
    "REGISTRY",
    "DataSpec",
    "DatasetSplits",
    "Examples",
    "SplitRatios",
    "describe_splits",
    "load_splits",
    "read_examples",
    "write_splits",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSpec:
    """Which data to use and how to split it; recorded in every output that used it."""

    data: str
    text_col: str | None = None
    label_col: str | None = None
    split_seed: int = 0
    ratios: SplitRatios = field(default_factory=SplitRatios)
    dev: str | None = None
    test: str | None = None
    dedup: bool = True
    strict: bool = False
    extra_train: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, record: dict) -> DataSpec:
        """The spec recorded by `to_dict` (as in a model's train_config.json)."""
        return cls(
            data=record["data"],
            text_col=record.get("text_col"),
            label_col=record.get("label_col"),
            split_seed=record.get("split_seed", 0),
            ratios=SplitRatios(*record.get("split_ratios", (0.8, 0.1, 0.1))),
            dev=record.get("dev"),
            test=record.get("test"),
            dedup=record.get("dedup", True),
            extra_train=tuple(record.get("extra_train", ())),
        )

    def to_dict(self) -> dict:
        """A JSON-ready record of the spec."""
        return {
            "data": self.data,
            "text_col": self.text_col,
            "label_col": self.label_col,
            "split_seed": self.split_seed,
            "split_ratios": [self.ratios.train, self.ratios.dev, self.ratios.test],
            "dev": self.dev,
            "test": self.test,
            "dedup": self.dedup,
            "extra_train": list(self.extra_train),
        }


@dataclass
class DatasetSplits:
    """Train, dev and test examples, the label set (from train) and how they were made."""

    train: Examples
    dev: Examples
    test: Examples
    labels: list[str]
    info: dict

    def split(self, name: str) -> Examples:
        """One split by name: train, dev or test."""
        if name not in ("train", "dev", "test"):
            raise UserError(f"unknown split '{name}', expected train, dev or test")
        return getattr(self, name)


def _read(source: str, spec: DataSpec) -> Examples:
    if source in REGISTRY and not Path(source).exists():
        return REGISTRY[source].load()
    path = Path(source)
    if not path.exists() and not path.suffix:
        names = ", ".join(REGISTRY)
        raise UserError(f"'{source}' is neither a file nor a built-in data set ({names})")
    return read_examples(path, spec.text_col, spec.label_col, strict=spec.strict)


def load_splits(spec: DataSpec) -> DatasetSplits:
    """Read the data named by `spec` and return leak-free train/dev/test splits."""
    main = _read(spec.data, spec)
    given = {name: _read(path, spec) for name, path in (("dev", spec.dev), ("test", spec.test)) if path}
    extras = [_read(source, DataSpec(source)) for source in spec.extra_train]
    read = [main, *given.values(), *extras]
    spellings = label_spellings({label for examples in read for label in examples.labels}, spec.data)
    for examples in read if spellings else ():
        examples.labels = [spellings.get(label, label) for label in examples.labels]
    ratios = spec.ratios
    # A split given as its own file takes no share of the main file.
    train_share = ratios.train + sum(getattr(ratios, name) for name in given)
    ratios = SplitRatios(train_share, 0.0 if "dev" in given else ratios.dev, 0.0 if "test" in given else ratios.test)

    skipped = main.skipped_empty + sum(e.skipped_empty for e in given.values())
    removed = 0
    if spec.dedup:
        main, removed = drop_duplicates(main)
    parts = stratified_split(main.labels, ratios, spec.split_seed)
    splits = {name: main.subset(indices) for name, indices in parts.items()}
    for name, examples in given.items():
        if spec.dedup:
            examples, dropped = drop_duplicates(examples)
            removed += dropped
        splits[name] = examples
    if spec.dedup:
        # A text may sit in one split only: train keeps it, then dev, then test.
        taken = set(splits["train"].texts)
        for name in ("dev", "test"):
            splits[name], dropped = drop_texts_in(splits[name], taken)
            removed += dropped
            taken |= set(splits[name].texts)
        if removed:
            log.info("%s: removed %d duplicate texts", spec.data, removed)

    labels = check_labels(splits["train"], {n: splits[n] for n in ("dev", "test")})
    for name in ("dev", "test"):
        if not len(splits[name]):
            raise UserError(
                f"{spec.data}: the {name} split is empty ({len(main)} distinct examples, split ratios "
                f"{spec.ratios.train:g},{spec.ratios.dev:g},{spec.ratios.test:g}); a model is chosen on dev and "
                f"scored on test: give more data, other --split-ratios or --{name} FILE"
            )
    splits["train"], extra_counts = _add_extra_train(splits, spec, labels, extras)
    info = {
        **spec.to_dict(),
        "sizes": {name: len(splits[name]) for name in ("train", "dev", "test")},
        "duplicates_removed": removed,
        "empty_skipped": skipped,
        "labels": labels,
    }
    if extra_counts:
        info["extra_train_counts"] = extra_counts
    return DatasetSplits(splits["train"], splits["dev"], splits["test"], labels, info)


def _add_extra_train(
    splits: dict[str, Examples], spec: DataSpec, labels: list[str], extras: list[Examples]
) -> tuple[Examples, list[dict]]:
    """The training split grown by every `spec.extra_train` source (read as `extras`), none of whose texts is a dev
    or test text.

    Data sets overlap (the same review can sit in two public collections), so an extra text that equals a
    dev or test text is dropped, and counted, before it can leak into training; one already in train is skipped.
    """
    train = splits["train"]
    if not spec.extra_train:
        return train, []
    held_out = set(splits["dev"].texts) | set(splits["test"].texts)
    seen = set(train.texts)
    texts, labels_out, lines = list(train.texts), list(train.labels), list(train.lines)
    counts = []
    for source, extra in zip(spec.extra_train, extras, strict=True):
        added = dropped = repeated = 0
        for text, label, line in zip(extra.texts, extra.labels, extra.lines, strict=True):
            if label not in labels:
                raise UserError(
                    f"{extra.source}:{line}: label '{label}' of the extra training data is not one of "
                    f"{spec.data}'s labels ({', '.join(labels)})"
                )
            if text in held_out:
                dropped += 1
            elif text in seen:
                repeated += 1
            else:
                seen.add(text)
                texts.append(text)
                labels_out.append(label)
                lines.append(line)
                added += 1
        log.info("%s: %d extra training texts, %d dev/test texts of %s dropped", source, added, dropped, spec.data)
        counts.append({"data": source, "added": added, "dev_test_dropped": dropped, "already_in_train": repeated})
    return Examples(texts=texts, labels=labels_out, lines=lines, source=train.source), counts


def describe_splits(splits: DatasetSplits) -> str:
    """The split in words: sizes, seed, what was dropped, the labels, and what extra training data added."""
    info = splits.info
    sizes = info["sizes"]
    lines = [
        f"{info['data']}: train {sizes['train']}, dev {sizes['dev']}, test {sizes['test']} "
        f"(seed {info['split_seed']}, duplicates removed {info['duplicates_removed']}, "
        f"empty skipped {info['empty_skipped']})",
        f"labels: {', '.join(splits.labels)}",
    ]
    lines += [
        f"extra training data {extra['data']}: {extra['added']} added, {extra['dev_test_dropped']} dev/test "
        f"texts dropped, {extra['already_in_train']} already in train"
        for extra in info.get("extra_train_counts", [])
    ]
    return "\n".join(lines)


def write_splits(splits: DatasetSplits, output: str | Path) -> Path:
    """Write train/dev/test.jsonl (text, label) and split.json (how they were made), atomically."""
    import json

    from zhcls.atomic import replace_dir, write_json

    output = Path(output)
    staged = output.parent / f".{output.name}.partial"
    staged.mkdir(parents=True, exist_ok=True)
    for name in ("train", "dev", "test"):
        examples = splits.split(name)
        with (staged / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for text, label in zip(examples.texts, examples.labels, strict=True):
                handle.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    write_json(staged / "split.json", splits.info)
    replace_dir(staged, output)
    return output
