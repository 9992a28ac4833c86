"""The fastText baseline: autotune on dev or the tutorial recipe, whichever dev prefers; predicts in the data set's
label order, survives a reload."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zhcls.data import DataSpec, load_splits

pytest.importorskip("fasttext", reason="the fastText baseline needs the 'bench' extra (fasttext-wheel)")


@pytest.fixture(scope="module")
def fitted(synthetic_csv, tmp_path_factory):
    from zhcls.baselines.fasttext import run_fasttext

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


def test_the_candidate_better_on_dev_is_kept_and_both_are_reported(fitted):
    _, _, metrics = fitted
    scores = metrics["dev_accuracy_of_candidates"]
    assert set(scores) == {"autotune", "tutorial recipe"}
    assert scores[metrics["kept"]] == max(scores.values())
    assert scores[metrics["kept"]] == round(metrics["dev"]["accuracy"], 4)  # the saved model is the kept one


# A child that trains autotune's candidate for one epoch at a learning rate that learns nothing.
_SPOILED_AUTOTUNE = """
import json, sys
settings = json.loads(sys.argv[1])
if "autotuneDuration" in settings:
    for key in ("autotuneValidationFile", "autotuneDuration"):
        settings.pop(key)
    settings.update(epoch=1, lr=1e-6)
    sys.argv[1] = json.dumps(settings)
"""


@pytest.mark.parametrize(
    ("spoiled", "kept"),
    [("recipe", "autotune"), ("autotune", "tutorial recipe")],
)
def test_a_candidate_that_learns_nothing_is_not_kept(synthetic_csv, monkeypatch, spoiled, kept):
    from zhcls.baselines import fasttext as module

    if spoiled == "recipe":
        monkeypatch.setattr(module, "TUTORIAL_RECIPE", {"epoch": 1, "lr": 1e-6})
    else:
        monkeypatch.setattr(module, "_TRAINING_SCRIPT", _SPOILED_AUTOTUNE + module._TRAINING_SCRIPT)
    metrics = module.run_fasttext(load_splits(DataSpec(str(synthetic_csv))), autotune_seconds=3)
    assert metrics["kept"] == kept
    assert metrics["dev"]["accuracy"] >= 0.75 and min(metrics["dev_accuracy_of_candidates"].values()) < 0.7
    if kept == "tutorial recipe":  # the kept model's own settings are the ones reported
        assert metrics["hyperparameters"]["lr"] == pytest.approx(1.0)
        assert metrics["hyperparameters"]["epoch"] == 25


def test_fasttext_probabilities_follow_the_data_labels_and_survive_a_reload(fitted):
    from zhcls.baselines.fasttext import LABEL_PREFIX, FastTextBaseline, fasttext_line

    splits, output, metrics = fitted
    loaded = FastTextBaseline.load(output)
    assert loaded.labels == splits.labels
    # The tuned settings come back whole: fastText's own model file forgets the learning rate.
    assert loaded.hyperparameters == metrics["hyperparameters"]
    texts = [*splits.test.texts, "", "   ", "hello 世界\n第二行"]
    probabilities = loaded.predict_proba(texts)
    assert probabilities.shape == (len(texts), len(splits.labels))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    # fastText's labels are the data set's label ids; its top label must be the column that scores highest.
    # (Empty texts are left out: their probabilities tie.)
    top = [loaded.model.f.predict(fasttext_line(text) + "\n", 1, 0.0, "strict")[0][1] for text in splits.test.texts]
    test_columns = probabilities[: len(splits.test)].argmax(axis=1)
    assert test_columns.tolist() == [int(name[len(LABEL_PREFIX) :]) for name in top]
    gold = [splits.labels.index(label) for label in splits.test.labels]
    assert (test_columns == np.array(gold)).mean() >= 0.6  # chance is 0.5


def test_a_model_saved_without_its_tuned_settings_reports_those_its_file_keeps(fitted, tmp_path):
    import shutil

    from zhcls.baselines.fasttext import INFO_FILE, FastTextBaseline

    _, output, metrics = fitted
    older = shutil.copytree(output, tmp_path / "older")
    (older / INFO_FILE).write_text(json.dumps({"labels": json.loads((output / INFO_FILE).read_text())["labels"]}))
    expected = {name: value for name, value in metrics["hyperparameters"].items() if name != "lr"}
    assert FastTextBaseline.load(older).hyperparameters == expected


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
    assert list(metrics["dev_accuracy_of_candidates"]) == ["autotune"]  # the recipe's model is not quantized


def test_a_malformed_size_cap_is_a_one_line_error(run_cli, synthetic_csv, tmp_path):
    code, _, err = run_cli("baseline", "--kind", "fasttext", "--max-size", "big", "--data", synthetic_csv)
    assert code == 2 and "--max-size 'big'" in err


def test_an_autotune_that_outlives_its_time_is_killed_and_run_again(synthetic_csv, tmp_path, monkeypatch):
    from zhcls.baselines import fasttext as module

    # The first child hangs, as fastText's autotune can when its timer thread ends before the search starts.
    marker = tmp_path / "hung-once"
    hang_once = f"import pathlib, time\nif not pathlib.Path({str(marker)!r}).exists():\n"
    hang_once += f"    pathlib.Path({str(marker)!r}).touch(); time.sleep(600)\n"
    monkeypatch.setattr(module, "_TRAINING_SCRIPT", hang_once + module._TRAINING_SCRIPT)
    monkeypatch.setattr(module, "autotune_time_limit", lambda seconds: 25)  # the real run needs a few
    splits = load_splits(DataSpec(str(synthetic_csv)))
    metrics = module.run_fasttext(splits, autotune_seconds=2)
    assert marker.exists() and metrics["autotune_attempts"] == 2
    assert metrics["dev"]["accuracy"] >= 0.75


@pytest.mark.parametrize(
    ("child", "limit", "message"),
    [
        ("import time; time.sleep(600)", 1, "fastText's autotune did not finish within 1 s, 3 times in a row"),
        ("raise RuntimeError('Didn\\'t have enough time to train once')", 60, "Didn't have enough time to train once"),
    ],
)
def test_an_autotune_that_never_finishes_or_fails_is_a_one_line_error(
    run_cli, synthetic_csv, tmp_path, monkeypatch, child, limit, message
):
    from zhcls.baselines import fasttext as module

    monkeypatch.setattr(module, "_TRAINING_SCRIPT", child)
    monkeypatch.setattr(module, "autotune_time_limit", lambda seconds: limit)
    code, _, err = run_cli("baseline", "--kind", "fasttext", "--data", synthetic_csv, "--output", tmp_path / "ft")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize(
    ("saved", "seconds", "said"),
    [
        ({"kept": "autotune"}, None, "autotuned on dev"),
        ({"kept": "autotune"}, 45, "autotuned 45 s on dev"),
        ({"kept": "tutorial recipe"}, None, "tutorial recipe, ahead of autotune on dev"),
        ({"kept": "tutorial recipe"}, 45, "tutorial recipe, ahead of 45 s of autotune on dev"),
        ({}, None, "autotuned on dev"),  # saved before the recipe was trained beside autotune
    ],
)
def test_a_contender_name_says_how_its_fasttext_was_chosen(tmp_path, saved, seconds, said):
    from zhcls.baselines.fasttext import how_tuned

    (tmp_path / "metrics.json").write_text(json.dumps(saved), encoding="utf-8")
    assert how_tuned(tmp_path, seconds) == said


def test_under_a_roomy_cap_the_recipe_gets_a_hash_table_that_fits(run_cli, synthetic_csv, tmp_path):
    from zhcls.baselines.fasttext import capped_recipe

    assert capped_recipe("100M")["bucket"] == 200_000 and capped_recipe("200K") is None
    code, _, err = run_cli(
        *("baseline", "--kind", "fasttext", "--autotune-seconds", "5", "--max-size", "20M"),
        *("--data", synthetic_csv, "--output", tmp_path / "capped"),
    )
    assert code == 0, err
    assert (tmp_path / "capped" / "fasttext.bin").stat().st_size <= 20_000_000
    metrics = json.loads((tmp_path / "capped" / "metrics.json").read_text(encoding="utf-8"))
    assert list(metrics["dev_accuracy_of_candidates"]) == ["autotune", "tutorial recipe"]
