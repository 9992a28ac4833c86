"""What a distillation run is made of: teacher, student, transfer data, losses and schedule (`zhcls distill`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from zhcls.data import DataSpec
from zhcls.data.readers import read_texts
from zhcls.distill.augment import AugmentSettings
from zhcls.errors import UserError
from zhcls.models import InputSettings, recorded_config
from zhcls.runtime.truncation import DEFAULT_MAX_LENGTH, check_truncation
from zhcls.train.loop import LoopSettings

SCHEDULES = ("one-stage", "two-stage")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; a zero weight switches a term off."""

    soft: float = 1.0
    hard: float = 0.0
    embedding: float = 0.0
    hidden: float = 0.0
    attention: float = 0.0

    def __post_init__(self) -> None:
        if min(self.soft, self.hard, self.embedding, self.hidden, self.attention) < 0:
            raise UserError("loss weights must be non-negative")

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
    """Teacher, student, transfer data, losses and schedule of a distillation run.

    `truncation` None reads texts as the teacher was trained to (the default policy for a teacher without a record).
    The student may have a tokenizer of its own (`student_tokenizer`, or a student directory's own): the soft
    labels are the teacher's reading of each text, whatever the student's pieces.
    """

    teacher: str
    student: str
    output: Path
    data: DataSpec
    student_tokenizer: str | None = None  # None: the student directory's own tokenizer, else the teacher's
    init_from_teacher: tuple[int, ...] | None = None
    weights: LossWeights = field(default_factory=LossWeights)
    temperature: float = 1.0  # of the soft-label loss
    layer_map: str = "uniform"
    schedule: str = "one-stage"
    intermediate_epochs: int = 3
    unlabeled: str | None = None
    augment: AugmentSettings | None = None
    augment_mlm: str | None = None
    extra_teachers: tuple[str, ...] = ()
    extra_teacher_weight: float | None = None
    extra_teacher_folds: int = 1
    max_length: int = DEFAULT_MAX_LENGTH
    truncation: str | None = None
    eval_batch_size: int = 64
    loop: LoopSettings = field(default_factory=LoopSettings)

    def __post_init__(self) -> None:
        if self.truncation is None:
            object.__setattr__(self, "truncation", InputSettings.recorded(self.teacher).truncation)
        if self.temperature <= 0:
            raise UserError("--temperature must be positive")
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
        if self.student_tokenizer is not None and self.init_from_teacher:
            raise UserError(
                "--init-from-teacher copies the teacher's embeddings: it keeps the teacher's tokenizer, "
                "drop --student-tokenizer"
            )
        self._check_extra_teachers()
        if self.unlabeled is not None:
            read_texts(self.unlabeled)  # a file that does not read fails here, before any model work
        check_truncation(self.truncation)
        window = self.teacher_inputs.max_length
        if self.weights.intermediate and self.max_length > window:
            raise UserError(
                f"intermediate losses compare the two models token by token, and the teacher was trained on "
                f"{window} tokens: use --max-length {window} or below, or logit distillation only"
            )

    def _check_extra_teachers(self) -> None:
        from zhcls.contenders import ContenderSpec

        if self.extra_teacher_weight is not None and not 0 <= self.extra_teacher_weight <= 1:
            raise UserError("--extra-teacher-weight must lie between 0 and 1")
        if self.extra_teacher_weight is not None and not self.extra_teachers:
            raise UserError("--extra-teacher-weight needs at least one --extra-teacher")
        if self.extra_teacher_folds < 1:
            raise UserError("--extra-teacher-folds must be at least 1 (1: no cross-fitting)")
        if self.extra_teacher_folds > 1 and not self.extra_teachers:
            raise UserError("--extra-teacher-folds needs at least one --extra-teacher")
        for path in self.extra_teachers:
            spec = ContenderSpec.parse(str(path))  # a one-line error now, not after the teacher's logits
            if self.extra_teacher_folds > 1 and spec.kind != "tfidf":
                raise UserError(f"--extra-teacher-folds refits TF-IDF baselines only; {path} is not one")

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
