"""The fastText baseline: trains with autotune on dev, predicts in the data set's label order, survives a reload."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zhcls.data import DataSpec, load_splits

pytest.importorskip("fasttext", reason="the fastText baseline needs the 'bench' extra (fasttext-wheel)")


@pytest.fixture(scope="module")
def fitted(synthetic_csv, tmp_path_factory):
    from zhcls.train.fasttext import run_fasttext

    output = tmp_path_factory.mktemp("fasttext") / "baseline"
    splits = load_splits(DataSpec(str(synthetic_csv)))
    return splits, output, run_fasttext(splits, output, autotune_seconds=5)


def test_fasttext_learns_the_synthetic_task_and_reports_its_tuned_settings(fitted):
    splits, output, metrics = fitted
    assert metrics["dev"]["accuracy"] >= 0.75  # chance is 0.5: the marker words are learnable
    assert metrics["test"]["n"] == len(splits.test)
    assert set(metrics["hyperparameters"]) >= {"epoch", "lr", "wordNgrams", "minn", "maxn", "dim"}
    # Autotune searches the rest but not the vector size, which bounds its memory.
    assert metrics["hyperparameters"]["dim"] == 100
    assert json.loads((output / "metrics.json").read_text(encoding="utf-8"))["test"] == metrics["test"]


def test_fasttext_probabilities_follow_the_data_labels_and_survive_a_reload(fitted):
    from zhcls.train.fasttext import FastTextBaseline

    splits, output, _ = fitted
    loaded = FastTextBaseline.load(output)
    assert loaded.labels == splits.labels
    texts = [*splits.test.texts[:20], "", "   ", "hello 世界\n第二行"]
    probabilities = loaded.predict_proba(texts)
    assert probabilities.shape == (len(texts), len(splits.labels))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    gold = [splits.labels.index(label) for label in splits.test.labels[:20]]
    assert (probabilities[:20].argmax(axis=1) == np.array(gold)).mean() >= 0.7


def test_baseline_command_trains_fasttext(run_cli, synthetic_csv, tmp_path):
    code, out, err = run_cli(
        *("baseline", "--kind", "fasttext", "--autotune-seconds", "3"),
        *("--data", synthetic_csv, "--output", tmp_path / "ft"),
    )
    assert code == 0, err
    assert "fastText baseline" in out
    assert (tmp_path / "ft" / "fasttext.bin").exists()


def test_a_size_cap_gives_a_small_quantized_model(run_cli, synthetic_csv, tmp_path):
    code, _, err = run_cli(
        *("baseline", "--kind", "fasttext", "--autotune-seconds", "5", "--max-size", "200K"),
        *("--data", synthetic_csv, "--output", tmp_path / "small"),
    )
    assert code == 0, err
    assert (tmp_path / "small" / "fasttext.bin").stat().st_size <= 200 * 1024
    metrics = json.loads((tmp_path / "small" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["max_size"] == "200K" and metrics["dev"]["accuracy"] >= 0.75


def test_a_malformed_size_cap_is_a_one_line_error(run_cli, synthetic_csv, tmp_path):
    code, _, err = run_cli("baseline", "--kind", "fasttext", "--max-size", "big", "--data", synthetic_csv)
    assert code == 2 and "--max-size 'big'" in err
