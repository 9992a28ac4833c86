"""Student models: from a size preset, from a model directory, or from a subset of the teacher's layers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zhcls.errors import UserError
from zhcls.models import PRESETS, label_maps, model_labels, weights_options


def parse_layers(spec: str) -> list[int]:
    """'0,4,8' → [0, 4, 8] (teacher transformer layers, counted from 0)."""
    try:
        layers = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        layers = []
    if not layers or any(x < 0 for x in layers) or len(set(layers)) != len(layers):
        raise UserError(f"--init-from-teacher '{spec}' must list distinct teacher layers, e.g. 0,4,8")
    return layers


def _renumber(key: str, keep: dict[int, int]) -> str | None:
    match = re.search(r"encoder\.layer\.(\d+)\.", key)
    if match is None:
        return key
    old = int(match.group(1))
    if old not in keep:
        return None
    return key[: match.start(1)] + str(keep[old]) + key[match.end(1) :]


def student_from_teacher_layers(teacher: Any, layers: Sequence[int], **load_options: Any) -> Any:
    """A student of the teacher's width whose layer i is a copy of teacher layer `layers[i]`.

    Embeddings, pooler and classifier are copied too, as RBT3 and DistilBERT initialize theirs.
    """
    from transformers import AutoModelForSequenceClassification

    depth = teacher.config.num_hidden_layers
    if max(layers) >= depth:
        raise UserError(f"--init-from-teacher {max(layers)} is past the teacher's last layer ({depth - 1})")
    config = teacher.config.__class__.from_dict({**teacher.config.to_dict(), "num_hidden_layers": len(layers)})
    student = AutoModelForSequenceClassification.from_config(config, **load_options)
    keep = {old: new for new, old in enumerate(layers)}
    state = {}
    for key, value in teacher.state_dict().items():
        renamed = _renumber(key, keep)
        if renamed is not None:
            state[renamed] = value.clone()
    missing, unexpected = student.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise UserError(
            f"cannot copy teacher layers into the student (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return student


def student_tokenizer_source(config: Any) -> str:
    """Where the student's tokenizer comes from: --student-tokenizer, a student directory's own, or the teacher."""
    if config.student_tokenizer:
        return config.student_tokenizer
    if not config.init_from_teacher and (Path(config.student) / "tokenizer.json").exists():
        return config.student
    return config.teacher


def build_student(
    teacher: Any,
    student: str,
    *,
    vocab_size: int | None = None,
    pad_token_id: int | None = None,
    init_from_teacher: Sequence[int] | None = None,
    attn_implementation: str | None = None,
) -> Any:
    """A student for `teacher` reading a vocabulary of `vocab_size` pieces (default: the teacher's): a preset name,
    a model directory, or teacher layers (`init_from_teacher`)."""
    from transformers import AutoModelForSequenceClassification, BertConfig

    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if init_from_teacher:
        return student_from_teacher_layers(teacher, init_from_teacher, **extra)
    labels = model_labels(teacher)
    vocab_size = vocab_size or teacher.config.vocab_size
    if student in PRESETS:
        config = BertConfig(
            vocab_size=vocab_size,
            max_position_embeddings=teacher.config.max_position_embeddings,
            type_vocab_size=getattr(teacher.config, "type_vocab_size", 2),
            num_labels=len(labels),
            pad_token_id=0 if pad_token_id is None else pad_token_id,
            **PRESETS[student],
            **label_maps(labels),
        )
        return AutoModelForSequenceClassification.from_config(config, **extra)
    if not Path(student).is_dir():
        raise UserError(f"--student '{student}' is neither a preset ({', '.join(PRESETS)}) nor a model directory")
    model = AutoModelForSequenceClassification.from_pretrained(
        student,
        num_labels=len(labels),
        ignore_mismatched_sizes=True,
        **label_maps(labels),
        **extra,
        **weights_options(student),
    )
    if model.config.vocab_size < vocab_size:
        raise UserError(
            f"--student {student} has a vocabulary of {model.config.vocab_size}, its tokenizer {vocab_size} pieces: "
            "give the student's own tokenizer (--student-tokenizer) or a student made for the teacher's"
        )
    return model
