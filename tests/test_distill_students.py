"""Students from presets, directories, or a copy of chosen teacher layers."""

from __future__ import annotations

import pytest
import torch

from zhcls.distill.students import build_student, parse_layers
from zhcls.errors import UserError
from zhcls.models import load_classifier


def test_init_from_teacher_copies_exactly_the_chosen_layers(trained_classifier):
    teacher = load_classifier(trained_classifier)
    student = build_student(teacher, "ignored", init_from_teacher=[1])
    assert student.config.num_hidden_layers == 1
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for key, value in s_state.items():
        source = key.replace("encoder.layer.0.", "encoder.layer.1.")
        assert torch.equal(value, t_state[source]), key
    assert not torch.equal(
        s_state["bert.encoder.layer.0.attention.self.query.weight"],
        t_state["bert.encoder.layer.0.attention.self.query.weight"],
    )
    assert student.config.id2label == teacher.config.id2label


def test_layer_list_errors(trained_classifier):
    teacher = load_classifier(trained_classifier)
    with pytest.raises(UserError, match="past the teacher's last layer"):
        build_student(teacher, "x", init_from_teacher=[0, 5])
    with pytest.raises(UserError, match="distinct teacher layers"):
        parse_layers("1,1")


def test_preset_student_shares_vocabulary_and_labels(trained_classifier):
    teacher = load_classifier(trained_classifier)
    student = build_student(teacher, "2x128")
    assert (student.config.num_hidden_layers, student.config.hidden_size) == (2, 128)
    assert student.config.vocab_size == teacher.config.vocab_size
    assert student.config.label2id == teacher.config.label2id
    with pytest.raises(UserError, match="neither a preset"):
        build_student(teacher, "no-such-student")
