"""`zhcls eval`'s library side: the data a model records, and its scores on a split of it."""

from __future__ import annotations

import pytest

from zhcls.errors import UserError
from zhcls.train.evaluate import evaluate_model, recorded_data, summary


def test_a_model_is_scored_on_the_data_it_records(trained_classifier, synthetic_csv):
    spec = recorded_data(trained_classifier)
    assert spec is not None and spec.data == str(synthetic_csv)
    metrics = evaluate_model(trained_classifier, spec, "dev")
    assert metrics["split"] == "dev" and metrics["n"] == metrics["data"]["sizes"]["dev"]
    assert summary(trained_classifier, metrics).startswith(f"{trained_classifier} on {spec.data} (dev)")


def test_a_missing_model_directory_is_one_line(tmp_path):
    assert recorded_data(tmp_path / "nothing") is None
    with pytest.raises(UserError, match="no such model directory"):
        recorded_data(tmp_path / "nothing", must_exist=True)
