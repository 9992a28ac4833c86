"""The distillation config: the temperature is its own, and a student reads texts as its teacher was trained to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zhcls.data import DataSpec
from zhcls.distill.config import DistillConfig, LossWeights
from zhcls.errors import UserError


def _config(teacher: Path, **settings) -> DistillConfig:
    return DistillConfig(
        teacher=str(teacher), student="2x128", output=teacher / "out", data=DataSpec("x.csv"), **settings
    )


def test_the_student_reads_as_the_teacher_unless_told(tmp_path):
    assert _config(tmp_path).truncation == "head"  # no record: the default
    record = {"max_length": 64, "truncation": "head+tail"}
    (tmp_path / "train_config.json").write_text(json.dumps(record), encoding="utf-8")
    assert _config(tmp_path).truncation == "head+tail"
    assert _config(tmp_path, truncation="tail").truncation == "tail"
    assert _config(tmp_path).to_dict()["truncation"] == "head+tail"  # recorded resolved


def test_the_temperature_is_a_setting_of_the_run(tmp_path):
    assert _config(tmp_path, temperature=2.0).to_dict()["temperature"] == 2.0
    assert "temperature" not in LossWeights().__dataclass_fields__
    with pytest.raises(UserError, match="--temperature must be positive"):
        _config(tmp_path, temperature=0.0)
    with pytest.raises(UserError, match="non-negative"):
        LossWeights(hard=-1.0)
