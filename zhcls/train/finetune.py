"""Fine-tune a BERT-family encoder for sequence classification (`zhcls train`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zhcls.atomic import RunDir
from zhcls.data import DatasetSplits, DataSpec, load_splits
from zhcls.errors import UserError
from zhcls.evaluation import evaluate_classifier
from zhcls.heads import POOLINGS
from zhcls.machine import machine_info
from zhcls.models import InputSettings
from zhcls.runtime.truncation import DEFAULT_MAX_LENGTH, DEFAULT_TRUNCATION, check_truncation
from zhcls.train.loop import LoopSettings, fit, start_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """What to fine-tune, on which data, and where the result goes."""

    output: Path
    data: DataSpec
    model: str | None = None
    preset: str | None = None
    tokenizer: str | None = None
    pooling: str | None = None  # the classification head: "cls", "mean", or None for the checkpoint's own
    max_length: int = DEFAULT_MAX_LENGTH
    truncation: str = DEFAULT_TRUNCATION
    eval_batch_size: int = 64
    loop: LoopSettings = field(default_factory=LoopSettings)

    def __post_init__(self) -> None:
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise UserError(f"--pooling must be one of {', '.join(POOLINGS)}")
        if (self.model is None) == (self.preset is None):
            raise UserError("give exactly one of --model (pretrained, hub id or directory) or --preset (random init)")
        if self.preset is not None and self.tokenizer is None:
            raise UserError("--preset starts from random weights and needs --tokenizer DIR (make one with zhcls vocab)")
        if not 8 <= self.max_length <= 512:
            raise UserError("--max-length must be between 8 and 512")
        check_truncation(self.truncation)

    @property
    def inputs(self) -> InputSettings:
        """How texts become token ids."""
        return InputSettings(self.max_length, self.truncation)

    def to_dict(self) -> dict:
        """A JSON-ready record of the resolved configuration."""
        record = asdict(self)
        record["output"] = str(self.output)
        record["data"] = self.data.to_dict()
        return record


def train_classifier(
    config: TrainConfig, *, resume: bool = False, overwrite: bool = False, splits: DatasetSplits | None = None
) -> dict:
    """Fine-tune, keep the best dev checkpoint, evaluate it on dev and test, publish the model directory."""
    from accelerate.utils import set_seed
    from transformers import DataCollatorWithPadding

    from zhcls.models import build_classifier, encode_texts, load_classifier, load_tokenizer, save_tokenizer

    run = RunDir(config.output)
    run.check(resume=resume, overwrite=overwrite)
    splits = splits or load_splits(config.data)
    labels = splits.labels
    tokenizer = load_tokenizer(config.tokenizer or config.model)
    set_seed(config.loop.seed)  # the freshly initialized weights (head, or all with --preset) depend on it
    model = build_classifier(
        labels, model=config.model, preset=config.preset, vocab_size=len(tokenizer), pooling=config.pooling
    )

    label_ids = {label: i for i, label in enumerate(labels)}
    encoded = encode_texts(tokenizer, splits.train.texts, config.inputs)
    targets = [label_ids[label] for label in splits.train.labels]
    pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def collate(indices: list[int], epoch: int = 0) -> dict:
        return pad([{"input_ids": encoded[i], "labels": targets[i]} for i in indices])

    def evaluate(current: Any) -> dict:
        scores = evaluate_classifier(current, tokenizer, splits.dev, labels, config.inputs, config.eval_batch_size)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    def save_best(current: Any, folder: Path) -> None:
        current.save_pretrained(folder, safe_serialization=True)
        save_tokenizer(tokenizer, folder)

    start_run(run, resume=resume)
    result = fit(
        model,
        lengths=[len(ids) for ids in encoded],
        collate=collate,
        loss_fn=lambda m, batch: m(**batch).loss,
        evaluate=evaluate,
        metric="accuracy",
        save_best=save_best,
        settings=config.loop,
        run=run,
        resume=resume,
    )
    if not result.is_main_process:
        return {}

    best = load_classifier(run.best)
    state = result.state
    metrics = {
        "task": "train",
        "model": config.model or f"preset:{config.preset}",
        "labels": labels,
        "data": splits.info,
        "best_epoch": state.best_epoch,
        "best_step": state.best_step,
        "steps": state.step,
        "epochs_run": state.epoch,
        "stopped_early": state.stopped_early,
        "train_seconds": round(state.train_seconds, 2),
        "train_examples_per_s": round(state.examples_seen / max(state.train_seconds, 1e-9), 2),
        "num_processes": result.num_processes,
        "precision": result.precision,
        "parameters": int(sum(p.numel() for p in best.parameters())),
        "machine": machine_info(),
        "dev": evaluate_classifier(best, tokenizer, splits.dev, labels, config.inputs, config.eval_batch_size),
        "test": evaluate_classifier(best, tokenizer, splits.test, labels, config.inputs, config.eval_batch_size),
    }
    run.publish_best({"train_config.json": config.to_dict(), "metrics.json": metrics})
    log.info(
        "wrote %s (dev accuracy %.4f, test accuracy %.4f)",
        config.output,
        metrics["dev"]["accuracy"],
        metrics["test"]["accuracy"],
    )
    return metrics


def summary(output: Path, metrics: dict) -> str:
    """The fine-tuned model's scores on the test split."""
    from zhcls.evaluation import format_metrics

    return format_metrics(metrics["test"], title=f"{output} on the test split")


__all__ = ["TrainConfig", "summary", "train_classifier"]
