"""Task distillation of a fine-tuned teacher into a small student (`zhcls distill`): the run itself.

The settings live in `config`, the loss in `module`, the texts in `transfer` and their soft labels in
`soft_labels`; this module loads the two models, trains through the shared loop (one stage, or TinyBERT's
two) and publishes the student with its metrics.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from zhcls.atomic import RunDir
from zhcls.data import DatasetSplits, load_splits
from zhcls.distill.config import DistillConfig, LossWeights
from zhcls.distill.mapping import LayerMatch, layer_matches, parse_map
from zhcls.distill.module import DistillModule
from zhcls.distill.soft_labels import soft_targets
from zhcls.distill.transfer import TransferSet, transfer_texts
from zhcls.errors import UserError
from zhcls.evaluation import evaluate_classifier
from zhcls.models import InputSettings
from zhcls.train.loop import FitResult, LoopSettings, fit, start_run

log = logging.getLogger(__name__)


def distill(config: DistillConfig, *, resume: bool = False, overwrite: bool = False) -> dict:
    """Distill the teacher into the student; publish the student directory with metrics.json."""
    from accelerate.utils import set_seed

    from zhcls.distill.students import build_student, student_tokenizer_source
    from zhcls.models import load_tokenizer

    run = RunDir(config.output)
    stage1 = RunDir(config.output.parent / f".{config.output.name}.stage1")
    # A run stopped before its last stage's first checkpoint resumes from what its work area holds (the augmented
    # texts and soft labels of the long passes before any training) and from the first stage's checkpoint.
    run.check(resume=resume, overwrite=overwrite, work_area_resumes=True)
    splits = load_splits(config.data)
    attention = "eager" if config.weights.attention else None  # attention maps are returned by the eager kernel only
    teacher, tokenizer = _load_teacher(config, splits, attention)
    student_source = student_tokenizer_source(config)
    student_tokenizer = tokenizer if student_source == config.teacher else load_tokenizer(student_source)
    if config.weights.intermediate and student_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise UserError(
            "intermediate losses compare the two models token by token and need one tokenizer; the student's "
            f"({student_source}) differs from the teacher's: use logit distillation only (--soft-weight/--hard-weight)"
        )
    set_seed(config.loop.seed)
    student = build_student(
        teacher,
        config.student,
        vocab_size=len(student_tokenizer),
        pad_token_id=student_tokenizer.pad_token_id,
        init_from_teacher=config.init_from_teacher,
        attn_implementation=attention,
    )
    mapping = parse_map(config.layer_map, student.config.num_hidden_layers, teacher.config.num_hidden_layers)
    w = config.weights
    matches = layer_matches(mapping, embedding_weight=w.embedding, hidden_weight=w.hidden, attention_weight=w.attention)

    # Resuming, even from the first stage, keeps the work area: its augmented texts took long to make.
    start_run(run, resume=resume)
    transfer = transfer_texts(config, splits, run)
    # Soft labels are computed once, each teacher reading texts its own way (the student may read more).
    soft, mixture = soft_targets(config, teacher, tokenizer, transfer, splits, run)
    common = _fit_arguments(config, student_tokenizer, transfer, soft)
    if config.schedule == "two-stage":
        intermediate_only = DistillModule(student, teacher, matches, replace(w, soft=0.0, hard=0.0))
        student = _intermediate_stage(config, intermediate_only, stage1, resume=resume, **common)
        prediction_only = LossWeights(soft=w.soft if w.prediction else 1.0, hard=w.hard)
        module = DistillModule(student, teacher, [], prediction_only, config.temperature)
    else:
        module = DistillModule(student, teacher, matches, w, config.temperature)

    def evaluate(current: DistillModule) -> dict:
        scores = evaluate_classifier(
            current.student, student_tokenizer, splits.dev, splits.labels, config.inputs, config.eval_batch_size
        )
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

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
    tokenizers = (tokenizer, student_tokenizer)
    metrics = _metrics(config, teacher, tokenizers, splits, run, result, transfer, mixture, matches)
    run.publish_best({"distill_config.json": config.to_dict(), "metrics.json": metrics})
    shutil.rmtree(stage1.output, ignore_errors=True)
    log.info(
        "wrote %s: student test accuracy %.4f, teacher %.4f (%.1f%%), %.1f× fewer parameters",
        config.output,
        metrics["student_accuracy"]["test"],
        metrics["teacher_accuracy"]["test"],
        metrics["retention_percent"]["test"],
        metrics["compression"],
    )
    return metrics


def _load_teacher(config: DistillConfig, splits: DatasetSplits, attention: str | None) -> tuple[Any, Any]:
    """The teacher and its tokenizer; the data's labels become the teacher's, in its order."""
    from zhcls.models import load_classifier, load_tokenizer, model_labels

    teacher = load_classifier(config.teacher, attn_implementation=attention)
    labels = model_labels(teacher)
    unknown = sorted(set(splits.labels) - set(labels))
    if unknown:
        raise UserError(f"labels {', '.join(unknown)} of the data are not among the teacher's ({', '.join(labels)})")
    splits.labels = labels
    return teacher, load_tokenizer(config.teacher)


def _fit_arguments(config: DistillConfig, tokenizer: Any, transfer: TransferSet, soft: torch.Tensor) -> dict:
    """What both stages give the training loop: text lengths, batches with gold and soft labels, the loss, and how
    the best student is saved (with `tokenizer`, the student's)."""
    from transformers import DataCollatorWithPadding

    from zhcls.models import encode_texts, save_tokenizer

    encoded = encode_texts(tokenizer, transfer.texts, config.inputs)
    pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def collate(indices: list[int], epoch: int = 0) -> dict:
        batch = pad([{"input_ids": encoded[i]} for i in indices])
        batch["labels"] = torch.tensor([transfer.labels[i] for i in indices])
        batch["teacher_logits"] = soft[indices]
        return batch

    def save_best(module: DistillModule, folder: Path) -> None:
        module.student.save_pretrained(folder, safe_serialization=True)
        save_tokenizer(tokenizer, folder)

    lengths = [len(ids) for ids in encoded]
    return {"lengths": lengths, "collate": collate, "loss_fn": lambda m, batch: m(batch), "save_best": save_best}


def _intermediate_stage(
    config: DistillConfig, module: DistillModule, stage1: RunDir, *, resume: bool, **common: Any
) -> Any:
    """TinyBERT's first stage (intermediate layers only, for `intermediate_epochs`, no early stopping), run once
    and kept in its own work area; the student it leaves."""
    from transformers import AutoModelForSequenceClassification

    if not stage1.output.exists():
        resuming = resume and stage1.resumable
        start_run(stage1, resume=resuming)
        settings = LoopSettings(**{**asdict(config.loop), "epochs": config.intermediate_epochs, "patience": 0})
        result = fit(
            module,
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
    return AutoModelForSequenceClassification.from_pretrained(stage1.output)


def _size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def _metrics(
    config: DistillConfig,
    teacher: Any,
    tokenizers: tuple[Any, Any],
    splits: DatasetSplits,
    run: RunDir,
    result: FitResult,
    transfer: TransferSet,
    mixture: dict | None,
    matches: list[LayerMatch],
) -> dict:
    """The best student against its teacher on dev and test, each reading with its own tokenizer (`tokenizers`:
    the teacher's, the student's), with what made it (metrics.json)."""
    from zhcls.machine import machine_info
    from zhcls.models import load_classifier

    best = load_classifier(run.best)

    def scores(model: Any, tokenizer: Any, inputs: InputSettings) -> dict:
        return {
            split: evaluate_classifier(
                model, tokenizer, splits.split(split), splits.labels, inputs, config.eval_batch_size
            )
            for split in ("dev", "test")
        }

    teacher_scores = scores(teacher, tokenizers[0], config.teacher_inputs)
    student_scores = scores(best, tokenizers[1], config.inputs)
    teacher_params = sum(p.numel() for p in teacher.parameters())
    student_params = sum(p.numel() for p in best.parameters())
    return {
        "task": "distill",
        "teacher": str(config.teacher),
        "student": config.student if not config.init_from_teacher else f"teacher layers {config.init_from_teacher}",
        "labels": splits.labels,
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


def summary(output: Path, metrics: dict) -> str:
    """The student's test scores, its retention of the teacher's accuracy, and how its soft labels were mixed."""
    from zhcls.evaluation import format_metrics

    lines = [
        format_metrics(metrics["test"], title=f"{output} (student) on the test split"),
        f"teacher test accuracy {metrics['teacher_accuracy']['test']:.4f}, "
        f"retention {metrics['retention_percent']['test']:.1f}%, "
        f"{metrics['compression']:.1f}× fewer parameters",
    ]
    mixture = metrics.get("extra_teachers")
    if mixture:
        how = "chosen on dev" if mixture["weight_chosen_on_dev"] else "given"
        dev = mixture["dev_accuracy_by_weight"].get(str(mixture["weight"]))
        lines.append(
            f"soft labels: {1 - mixture['weight']:.2f} × the teacher + {mixture['weight']:.2f} × "
            f"{len(mixture['teachers'])} extra teacher(s) ({how}"
            + (f"; the mixture's dev accuracy {dev:.4f})" if dev is not None else ")")
        )
    return "\n".join(lines)
