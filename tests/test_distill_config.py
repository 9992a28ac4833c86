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


def test_unlabeled_text_that_is_not_utf8_is_refused_before_any_model_work(tmp_path):
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_bytes("好评\n".encode() + "差评\n".encode("gbk"))
    with pytest.raises(UserError, match=r"unlabeled.txt:2: not valid UTF-8 .*save the file as UTF-8"):
        _config(tmp_path, unlabeled=str(unlabeled))
    unlabeled.write_text("好评\n\n差评\n", encoding="utf-8")
    assert _config(tmp_path, unlabeled=str(unlabeled)).unlabeled == str(unlabeled)
