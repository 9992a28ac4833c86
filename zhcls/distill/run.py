"""Task distillation of a fine-tuned teacher into a small student (`zhcls distill`)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zhcls.atomic import RunDir
from zhcls.data import DatasetSplits, DataSpec, load_splits
from zhcls.distill.augment import AugmentSettings
from zhcls.distill.losses import LOSSES, hard_ce, soft_kl
from zhcls.distill.mapping import LayerMatch, layer_matches, parse_map
from zhcls.errors import UserError
from zhcls.models import InputSettings, check_truncation, recorded_config
from zhcls.train.loop import LoopSettings, fit, start_run

log = logging.getLogger(__name__)

SCHEDULES = ("one-stage", "two-stage")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; a zero weight switches a term off."""

    soft: float = 1.0
    hard: float = 0.0
    embedding: float = 0.0
    hidden: float = 0.0
    attention: float = 0.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if min(self.soft, self.hard, self.embedding, self.hidden, self.attention) < 0:
            raise UserError("loss weights must be non-negative")
        if self.temperature <= 0:
            raise UserError("--temperature must be positive")

    @property
    def intermediate(self) -> bool:
        """Whether any hidden-state, embedding or attention term is on."""
        return bool(self.embedding or self.hidden or self.attention)

    @property
    def prediction(self) -> bool:
        """Whether any prediction-layer term is on."""
        return bool(self.soft or self.hard)


@dataclass(frozen=True)
class DistillConfig:
    """Teacher, student, transfer data, losses and schedule of a distillation run."""

    teacher: str
    student: str
    output: Path
    data: DataSpec
    init_from_teacher: tuple[int, ...] | None = None
    weights: LossWeights = field(default_factory=LossWeights)
    layer_map: str = "uniform"
    schedule: str = "one-stage"
    intermediate_epochs: int = 3
    unlabeled: str | None = None
    augment: AugmentSettings | None = None
    augment_mlm: str | None = None
    extra_teachers: tuple[str, ...] = ()
    extra_teacher_weight: float | None = None
    extra_teacher_folds: int = 1
    max_length: int = 128
    truncation: str = "head"
    eval_batch_size: int = 64
    loop: LoopSettings = field(default_factory=LoopSettings)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise UserError(f"--schedule must be one of {', '.join(SCHEDULES)}")
        if self.schedule == "two-stage" and not self.weights.intermediate:
            raise UserError("--schedule two-stage needs an intermediate loss (--hidden-weight, --attention-weight ...)")
        if not self.weights.prediction and not self.weights.intermediate:
            raise UserError("every loss weight is zero: nothing to learn from")
        if self.augment is not None and self.augment_mlm is None:
            raise UserError("--augment needs --augment-mlm DIR (a masked-language model with the same tokenizer)")
        if self.intermediate_epochs < 1:
            raise UserError("--intermediate-epochs must be at least 1")
        if self.extra_teacher_weight is not None and not 0 <= self.extra_teacher_weight <= 1:
            raise UserError("--extra-teacher-weight must lie between 0 and 1")
        if self.extra_teacher_weight is not None and not self.extra_teachers:
            raise UserError("--extra-teacher-weight needs at least one --extra-teacher")
        if self.extra_teacher_folds < 1:
            raise UserError("--extra-teacher-folds must be at least 1 (1: no cross-fitting)")
        if self.extra_teacher_folds > 1 and not self.extra_teachers:
            raise UserError("--extra-teacher-folds needs at least one --extra-teacher")
        from zhcls.contenders import ContenderSpec

        for path in self.extra_teachers:
            spec = ContenderSpec.parse(str(path))  # a one-line error now, not after the teacher's logits
            if self.extra_teacher_folds > 1 and spec.kind != "tfidf":
                raise UserError(f"--extra-teacher-folds refits TF-IDF baselines only; {path} is not one")
        check_truncation(self.truncation)
        window = self.teacher_inputs.max_length
        if self.weights.intermediate and self.max_length > window:
            raise UserError(
                f"intermediate losses compare the two models token by token, and the teacher was trained on "
                f"{window} tokens: use --max-length {window} or below, or logit distillation only"
            )

    @property
    def inputs(self) -> InputSettings:
        """How the student's texts become token ids (also the teacher's, for the intermediate losses)."""
        return InputSettings(self.max_length, self.truncation)

    @cached_property
    def teacher_inputs(self) -> InputSettings:
        """How the teacher reads a text for its soft labels: as it was trained to (as the student, without a record)."""
        record = recorded_config(self.teacher)
        return InputSettings.from_config(record) if record else self.inputs

    def to_dict(self) -> dict:
        """A JSON-ready record of the resolved configuration."""
        record = asdict(self)
        record["output"] = str(self.output)
        record["data"] = self.data.to_dict()
        return record


class DistillModule(torch.nn.Module):
    """The trained part (student + projections) whose forward returns the distillation loss.

    The loss is computed inside `forward` so that DDP sees one call per step; the frozen teacher is
    held outside the module's parameters and checkpoints.
    """

    def __init__(self, student: Any, teacher: Any, matches: list[LayerMatch], weights: LossWeights):
        super().__init__()
        self.student = student
        object.__setattr__(self, "teacher", teacher)
        self.matches = matches
        self.weights = weights
        s_width, t_width = student.config.hidden_size, teacher.config.hidden_size
        self.projections = torch.nn.ModuleDict(
            {
                str(m.student_layer): torch.nn.Linear(s_width, t_width)  # TinyBERT's W_h, one per matched layer
                for m in matches
                if m.feature == "hidden" and s_width != t_width
            }
        )

    def projection(self, student_layer: int) -> torch.nn.Module | None:
        """The learned map from the student's width to the teacher's, if they differ."""
        key = str(student_layer)
        return self.projections[key] if key in self.projections else None  # noqa: SIM401 (ModuleDict has no .get)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the configured loss terms on one batch."""
        labels = batch.pop("labels")
        teacher_logits = batch.pop("teacher_logits")  # soft labels, computed before training
        if next(self.teacher.parameters()).device != labels.device:
            self.teacher.to(labels.device)
        need_hidden = any(m.feature == "hidden" for m in self.matches)
        need_attention = any(m.feature == "attention" for m in self.matches)
        out = self.student(**batch, output_hidden_states=need_hidden, output_attentions=need_attention)
        if self.matches:
            with torch.no_grad():
                teacher_out = self.teacher(**batch, output_hidden_states=need_hidden, output_attentions=need_attention)
        w = self.weights
        loss = out.logits.sum() * 0.0
        if w.soft:
            loss = loss + w.soft * soft_kl(out.logits, teacher_logits, w.temperature)
        if w.hard:
            loss = loss + w.hard * hard_ce(out.logits, labels)
        mask = batch["attention_mask"]
        for match in self.matches:
            if match.feature == "hidden":
                term = LOSSES[match.loss](
                    out.hidden_states[match.student_layer],
                    teacher_out.hidden_states[match.teacher_layer],
                    mask,
                    self.projection(match.student_layer),
                )
            else:
                term = LOSSES[match.loss](
                    out.attentions[match.student_layer - 1], teacher_out.attentions[match.teacher_layer - 1], mask
                )
            loss = loss + match.weight * term
        return loss


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


def _transfer_texts(config: DistillConfig, splits: DatasetSplits, run: RunDir) -> TransferSet:
    """Training texts with gold labels, then unlabeled and augmented texts (label -1), never a dev/test text."""
    from zhcls.data.readers import read_examples

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
        path = Path(config.unlabeled)
        if path.suffix == ".txt":
            if not path.exists():
                raise UserError(f"{path}: no such file")
            with path.open(encoding="utf-8", errors="replace") as handle:
                add([line.strip() for line in handle if line.strip()], "unlabeled")
        else:
            add(read_examples(path, require_labels=False).texts, "unlabeled")
    if config.augment is not None:
        cache = run.work / "augmented.jsonl"
        rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines()] if cache.exists() else []
        if not rows or "source" not in rows[0]:  # absent, or written before the sources were recorded
            from zhcls.distill.augment import MaskedLMCandidates, augment_texts

            made = augment_texts(splits.train.texts, config.augment, MaskedLMCandidates(config.augment_mlm))
            rows = [{"text": a.text, "source": a.source} for a in made]
            tmp = cache.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
            tmp.replace(cache)
        add([row["text"] for row in rows], "augmented", [row["source"] for row in rows])
    if report["dropped_as_dev_or_test"]:
        log.info("transfer set: dropped %d texts that are dev or test texts", report["dropped_as_dev_or_test"])
    return TransferSet(texts, labels, sources, report)


def _computed_once(cache: Path, rows: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
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


def _soft_targets(
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
        return _computed_once(run.work / f"{name}.safetensors", len(some), compute)

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
    logits = _computed_once(run.work / "teacher_logits.safetensors", len(texts), lambda: teacher_logits(texts))
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


def _size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def distill(config: DistillConfig, *, resume: bool = False, overwrite: bool = False) -> dict:
    """Distill the teacher into the student; publish the student directory with metrics.json."""
    from accelerate.utils import set_seed
    from transformers import DataCollatorWithPadding

    from zhcls.distill.students import build_student
    from zhcls.evaluation import evaluate_classifier
    from zhcls.machine import machine_info
    from zhcls.models import encode_texts, load_classifier, load_tokenizer, model_labels, save_tokenizer

    run = RunDir(config.output)
    stage1 = RunDir(config.output.parent / f".{config.output.name}.stage1")
    # A run stopped before its last stage's first checkpoint resumes from what its work area holds (the augmented
    # texts and soft labels of the long passes before any training) and from the first stage's checkpoint.
    run.check(resume=resume, overwrite=overwrite, work_area_resumes=True)
    splits = load_splits(config.data)
    w = config.weights
    attention = "eager" if w.attention else None  # attention maps are returned by the eager kernel only
    teacher = load_classifier(config.teacher, attn_implementation=attention)
    labels = model_labels(teacher)
    unknown = sorted(set(splits.labels) - set(labels))
    if unknown:
        raise UserError(f"labels {', '.join(unknown)} of the data are not among the teacher's ({', '.join(labels)})")
    splits.labels = labels
    tokenizer = load_tokenizer(config.teacher)
    set_seed(config.loop.seed)
    student = build_student(
        teacher, config.student, init_from_teacher=config.init_from_teacher, attn_implementation=attention
    )
    teacher_layers = teacher.config.num_hidden_layers
    mapping = parse_map(config.layer_map, student.config.num_hidden_layers, teacher_layers)
    matches = layer_matches(mapping, embedding_weight=w.embedding, hidden_weight=w.hidden, attention_weight=w.attention)

    # Resuming, even from the first stage, keeps the work area: its augmented texts took long to make.
    start_run(run, resume=resume)
    transfer = _transfer_texts(config, splits, run)
    targets = transfer.labels
    encoded = encode_texts(tokenizer, transfer.texts, config.inputs)
    pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    # Soft labels are computed once, each teacher reading texts its own way (the student may read more).
    cached_logits, mixture = _soft_targets(config, teacher, tokenizer, transfer, splits, run)

    def collate(indices: list[int], epoch: int = 0) -> dict:
        batch = pad([{"input_ids": encoded[i]} for i in indices])
        batch["labels"] = torch.tensor([targets[i] for i in indices])
        batch["teacher_logits"] = cached_logits[indices]
        return batch

    def evaluate(module: DistillModule) -> dict:
        scores = evaluate_classifier(
            module.student, tokenizer, splits.dev, labels, config.inputs, config.eval_batch_size
        )
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    def save_best(module: DistillModule, folder: Path) -> None:
        module.student.save_pretrained(folder, safe_serialization=True)
        save_tokenizer(tokenizer, folder)

    lengths = [len(ids) for ids in encoded]
    common = {"lengths": lengths, "collate": collate, "loss_fn": lambda m, batch: m(batch), "save_best": save_best}
    if config.schedule == "two-stage":
        if not stage1.output.exists():
            resuming = resume and stage1.resumable
            start_run(stage1, resume=resuming)
            intermediate_only = LossWeights(0.0, 0.0, w.embedding, w.hidden, w.attention, w.temperature)
            settings = LoopSettings(**{**asdict(config.loop), "epochs": config.intermediate_epochs, "patience": 0})
            result = fit(
                DistillModule(student, teacher, matches, intermediate_only),
                evaluate=None,
                metric="epoch",
                settings=settings,
                run=stage1,
                resume=resuming,
                desc="distill 1/2",
                **common,
            )
            if result.is_main_process:
                stage1.publish_best()
        from transformers import AutoModelForSequenceClassification

        student = AutoModelForSequenceClassification.from_pretrained(stage1.output)
        prediction_only = LossWeights(w.soft if w.prediction else 1.0, w.hard, temperature=w.temperature)
        module = DistillModule(student, teacher, [], prediction_only)
    else:
        module = DistillModule(student, teacher, matches, w)
    result = fit(
        module,
        evaluate=evaluate,
        metric="accuracy",
        settings=config.loop,
        run=run,
        resume=resume and run.resumable,
        desc="distill",
        **common,
    )
    if not result.is_main_process:
        return {}

    best = load_classifier(run.best)

    def scores(model: Any, inputs: InputSettings) -> dict:
        return {
            split: evaluate_classifier(model, tokenizer, splits.split(split), labels, inputs, config.eval_batch_size)
            for split in ("dev", "test")
        }

    teacher_scores, student_scores = scores(teacher, config.teacher_inputs), scores(best, config.inputs)
    teacher_params = sum(p.numel() for p in teacher.parameters())
    student_params = sum(p.numel() for p in best.parameters())
    metrics = {
        "task": "distill",
        "teacher": str(config.teacher),
        "student": config.student if not config.init_from_teacher else f"teacher layers {config.init_from_teacher}",
        "labels": labels,
        "data": splits.info,
        "transfer": transfer.report,
        **({"extra_teachers": mixture} if mixture else {}),
        "layer_matches": [asdict(m) for m in matches],
        "teacher_accuracy": {k: v["accuracy"] for k, v in teacher_scores.items()},
        "student_accuracy": {k: v["accuracy"] for k, v in student_scores.items()},
        "retention_percent": {
            k: 100 * student_scores[k]["accuracy"] / max(teacher_scores[k]["accuracy"], 1e-9) for k in ("dev", "test")
        },
        "teacher_parameters": teacher_params,
        "student_parameters": student_params,
        "compression": teacher_params / student_params,
        "teacher_size_bytes": _size_bytes(Path(config.teacher)),
        "student_size_bytes": _size_bytes(run.best),
        "best_epoch": result.state.best_epoch,
        "steps": result.state.step,
        "train_seconds": round(result.state.train_seconds, 2),
        "machine": machine_info(),
        "teacher_metrics": teacher_scores,
        "dev": student_scores["dev"],
        "test": student_scores["test"],
    }
    run.publish_best({"distill_config.json": config.to_dict(), "metrics.json": metrics})
    shutil.rmtree(stage1.output, ignore_errors=True)
    log.info(
        "wrote %s: student test accuracy %.4f, teacher %.4f (%.1f%%), %.1f× fewer parameters",
        config.output,
        student_scores["test"]["accuracy"],
        teacher_scores["test"]["accuracy"],
        metrics["retention_percent"]["test"],
        metrics["compression"],
    )
    return metrics
