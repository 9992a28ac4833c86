"""Layer mapping between student and teacher depths."""

from __future__ import annotations

import pytest

from zhcls.distill.mapping import layer_matches, parse_map, uniform_map
from zhcls.errors import UserError


@pytest.mark.parametrize(
    ("student", "teacher", "expected"),
    [
        (4, 12, {0: 0, 1: 3, 2: 6, 3: 9, 4: 12}),
        (3, 12, {0: 0, 1: 4, 2: 8, 3: 12}),
        (6, 12, {0: 0, 1: 2, 2: 4, 3: 6, 4: 8, 5: 10, 6: 12}),
        (2, 4, {0: 0, 1: 2, 2: 4}),
        (3, 3, {0: 0, 1: 1, 2: 2, 3: 3}),
        (1, 4, {0: 0, 1: 4}),
    ],
)
def test_uniform_map(student, teacher, expected):
    assert uniform_map(student, teacher) == expected


def test_explicit_map_and_its_errors():
    assert parse_map("1:3,2:6", 2, 6) == {1: 3, 2: 6}
    with pytest.raises(UserError, match="outside"):
        parse_map("3:6", 2, 6)
    with pytest.raises(UserError, match="must be 'uniform' or pairs"):
        parse_map("1-3", 2, 6)
    with pytest.raises(UserError, match="cannot map onto"):
        uniform_map(6, 4)


def test_matches_leave_out_zero_weights():
    mapping = uniform_map(2, 4)
    hidden_only = layer_matches(mapping, embedding_weight=0, hidden_weight=1, attention_weight=0)
    assert [(m.student_layer, m.teacher_layer, m.feature) for m in hidden_only] == [(1, 2, "hidden"), (2, 4, "hidden")]
    everything = layer_matches(mapping, embedding_weight=0.5, hidden_weight=1, attention_weight=2)
    assert {(m.student_layer, m.feature, m.weight) for m in everything} == {
        (0, "hidden", 0.5),
        (1, "hidden", 1),
        (2, "hidden", 1),
        (1, "attention", 2),
        (2, "attention", 2),
    }
