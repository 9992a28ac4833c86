"""Extra teachers: their probabilities mixed into the teacher's soft labels, the weight chosen on dev."""

from __future__ import annotations

import json
from difflib import SequenceMatcher

import numpy as np
import pytest

from zhcls.distill.ensemble import WEIGHT_GRID, choose_weight, extra_teacher_probabilities, mix
from zhcls.errors import UserError
from zhcls.runtime.classifier import softmax

COMMON = ["--epochs", "4", "--batch-size", "16", "--lr", "3e-3", "--max-length", "32", "--patience", "0"]


@pytest.fixture(scope="module")
def splits(synthetic_csv):
    from zhcls.data import DataSpec, load_splits

    return load_splits(DataSpec(str(synthetic_csv)))


@pytest.fixture(scope="module")
def tfidf_dir(tmp_path_factory, splits):
    from zhcls.baselines.tfidf import run_baseline

    folder = tmp_path_factory.mktemp("tfidf") / "baseline"
    run_baseline(splits, folder)
    return folder


@pytest.fixture(scope="module")
def flipped_tfidf_dir(tmp_path_factory, synthetic_csv):
    """A TF-IDF baseline that learned every label the wrong way round: a teacher the student must not follow."""
    from conftest import write_csv

    from zhcls.baselines.tfidf import run_baseline
    from zhcls.data import DataSpec, load_splits
    from zhcls.data.readers import read_examples

    examples = read_examples(synthetic_csv)
    swap = {"pos": "neg", "neg": "pos"}
    flipped = write_csv(
        tmp_path_factory.mktemp("flipped") / "flipped.csv",
        [(text, swap[label]) for text, label in zip(examples.texts, examples.labels, strict=True)],
    )
    folder = flipped.parent / "baseline"
    run_baseline(load_splits(DataSpec(str(flipped))), folder)
    return folder


def test_mix_is_the_weighted_mean_of_probabilities():
    teacher = np.array([[2.0, 0.0], [0.0, 1.0]])
    extra = np.array([[[0.1, 0.9], [0.5, 0.5]], [[0.3, 0.7], [0.9, 0.1]]])
    np.testing.assert_allclose(np.exp(mix(teacher, extra, 0.0)), softmax(teacher), rtol=1e-6)
    np.testing.assert_allclose(np.exp(mix(teacher, extra, 1.0)), [[0.2, 0.8], [0.7, 0.3]], rtol=1e-6)
    halfway = np.exp(mix(teacher, extra, 0.5))
    np.testing.assert_allclose(halfway, 0.5 * softmax(teacher) + 0.5 * np.array([[0.2, 0.8], [0.7, 0.3]]), rtol=1e-6)
    np.testing.assert_allclose(halfway.sum(axis=1), 1.0, rtol=1e-6)


def test_choose_weight_takes_the_best_on_dev_and_the_smaller_on_a_tie():
    teacher = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.45, 0.55]]))  # right, wrong, right
    gold = np.array([0, 1, 1])
    extra = np.array([[[0.3, 0.7], [0.1, 0.9], [0.4, 0.6]]])  # wrong, right, right
    weight, accuracy = choose_weight(teacher, extra, gold)
    assert set(accuracy) == set(WEIGHT_GRID)
    assert accuracy[weight] == max(accuracy.values()) == 1.0
    assert weight == min(w for w, score in accuracy.items() if score == 1.0)
    # 0.3 is the first weight where the extra teacher flips the second text without flipping the first
    assert accuracy[0.2] < 1.0 and weight == 0.3


def test_probabilities_of_a_baseline_and_of_a_model_in_the_teachers_label_order(splits, tfidf_dir, trained_classifier):
    from zhcls.baselines.tfidf import TfidfBaseline
    from zhcls.models import InputSettings, classify_logits, load_classifier, load_tokenizer

    texts = splits.dev.texts
    both = extra_teacher_probabilities([str(tfidf_dir), str(trained_classifier)], texts, ["pos", "neg"], threads=1)
    assert both.shape == (2, len(texts), 2)
    np.testing.assert_allclose(both[0], TfidfBaseline.load(tfidf_dir).predict_proba(texts)[:, ::-1], rtol=1e-6)
    logits = classify_logits(
        load_classifier(trained_classifier),
        load_tokenizer(trained_classifier),
        texts,
        inputs=InputSettings.recorded(trained_classifier),
    )
    np.testing.assert_allclose(both[1], softmax(logits.astype(np.float64))[:, ::-1], rtol=1e-4, atol=1e-6)
    with pytest.raises(UserError, match="are not the teacher's"):
        extra_teacher_probabilities([str(tfidf_dir)], texts, ["good", "bad"], threads=1)


def test_distill_with_an_extra_teacher_follows_the_mixture(
    run_cli, tmp_path, trained_classifier, tiny_student_dir, tfidf_dir, flipped_tfidf_dir
):
    flags = ["--teacher", trained_classifier, "--student", tiny_student_dir, *COMMON, "--epochs", "10"]
    code, stdout, err = run_cli("distill", *flags, "--output", tmp_path / "auto", "--extra-teacher", flipped_tfidf_dir)
    assert code == 0, err
    mixture = json.loads((tmp_path / "auto" / "metrics.json").read_text(encoding="utf-8"))["extra_teachers"]
    scores = {float(w): acc for w, acc in mixture["dev_accuracy_by_weight"].items()}
    assert mixture["weight_chosen_on_dev"] and scores[mixture["weight"]] == max(scores.values())
    assert mixture["weight"] < 0.5 and mixture["extra_teacher_dev_accuracy"][0] < 0.3  # dev saw it was wrong
    assert "chosen on dev" in stdout
    assert json.loads((tmp_path / "auto" / "metrics.json").read_text())["student_accuracy"]["test"] >= 0.9

    # Told to follow the wrong-way teacher alone, the student learns the labels the wrong way round (its
    # best checkpoint on dev stays the untrained one).
    code, _, err = run_cli(
        "distill", *flags, "--output", tmp_path / "forced", "--extra-teacher", flipped_tfidf_dir,
        "--extra-teacher-weight", "1",
    )  # fmt: skip
    assert code == 0, err
    forced = json.loads((tmp_path / "forced" / "metrics.json").read_text(encoding="utf-8"))
    assert forced["extra_teachers"]["weight"] == 1.0 and not forced["extra_teachers"]["weight_chosen_on_dev"]
    evaluations = [json.loads(line) for line in (tmp_path / "forced" / "train_log.jsonl").read_text().splitlines()]
    assert [e["accuracy"] for e in evaluations if e["event"] == "eval"][-1] <= 0.2
    assert forced["student_accuracy"]["dev"] <= 0.5

    # A sound extra teacher mixed in, in the one-stage schedule with intermediate losses: targets are cached.
    code, _, err = run_cli(
        "distill", *flags, "--output", tmp_path / "sound", "--extra-teacher", tfidf_dir, "--hidden-weight", "1",
        "--extra-teacher-weight", "0.5",
    )  # fmt: skip
    assert code == 0, err
    sound = json.loads((tmp_path / "sound" / "metrics.json").read_text(encoding="utf-8"))
    assert sound["student_accuracy"]["test"] >= 0.7
    assert json.loads((tmp_path / "sound" / "distill_config.json").read_text())["extra_teachers"] == [str(tfidf_dir)]


def test_extra_teacher_errors(run_cli, tmp_path, trained_classifier, tfidf_dir):
    base = ["distill", "--teacher", trained_classifier, "--output", tmp_path / "o"]
    code, _, err = run_cli(*base, "--extra-teacher-weight", "0.5")
    assert code == 2 and "needs at least one --extra-teacher" in err
    code, _, err = run_cli(*base, "--extra-teacher", tfidf_dir, "--extra-teacher-weight", "1.5")
    assert code == 2 and "between 0 and 1" in err
    code, _, err = run_cli(*base, "--extra-teacher", tmp_path / "missing")
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "o").exists()


def test_a_student_may_read_more_than_its_teacher_with_logits_only(
    run_cli, tmp_path, trained_classifier, tiny_student_dir, splits
):
    """Soft labels come from the teacher reading as it was trained (32 tokens here); the student reads 64."""
    from zhcls.evaluation import evaluate_classifier
    from zhcls.models import InputSettings, load_classifier, load_tokenizer

    flags = ["--teacher", trained_classifier, "--student", tiny_student_dir, *COMMON, "--epochs", "1"]
    code, _, err = run_cli("distill", *flags, "--max-length", "64", "--hidden-weight", "1", "--output", tmp_path / "x")
    assert code == 2 and "trained on 32 tokens" in err
    code, _, err = run_cli("distill", *flags, "--max-length", "64", "--output", tmp_path / "long")
    assert code == 0, err
    assert json.loads((tmp_path / "long" / "distill_config.json").read_text())["max_length"] == 64
    recorded = json.loads((tmp_path / "long" / "metrics.json").read_text())["teacher_metrics"]["dev"]
    own_window = evaluate_classifier(
        load_classifier(trained_classifier),
        load_tokenizer(trained_classifier),
        splits.dev,
        splits.labels,
        InputSettings(32),
        64,
    )
    assert recorded["accuracy"] == own_window["accuracy"]


def test_cross_fitting_scores_each_training_text_and_its_copies_with_a_model_that_never_saw_it(splits, tfidf_dir):
    """With as many folds as training texts (leave one out), each row can be checked against a refit by hand."""
    from zhcls.baselines.tfidf import TfidfBaseline
    from zhcls.distill.ensemble import cross_fitted

    labels = ["pos", "neg"]  # the teacher's order, not the baseline's
    train_texts, train_labels = splits.train.texts[:24], splits.train.labels[:24]
    copies = [train_texts[3] + "，真的", train_texts[7][::-1]]
    unlabeled = [splits.dev.texts[0]]
    texts, sources = [*train_texts, *copies, *unlabeled], [*range(24), 3, 7, -1]
    saved = extra_teacher_probabilities([str(tfidf_dir)], texts, labels, threads=1)
    crossed = cross_fitted(saved, [str(tfidf_dir)], texts, sources, (train_texts, train_labels), labels, folds=24)
    assert crossed.shape == saved.shape
    np.testing.assert_array_equal(crossed[0, -1], saved[0, -1])  # text made from no training text keeps its scores
    baseline = TfidfBaseline.load(tfidf_dir)
    ids = np.array([baseline.labels.index(label) for label in train_labels])
    for held_out, rows in ((3, [3, 24]), (7, [7, 25]), (10, [10])):
        keep = [i for i in range(24) if i != held_out]
        refit = baseline.refit([train_texts[i] for i in keep], ids[keep])
        expected = refit.predict_proba([texts[row] for row in rows])[:, [baseline.labels.index(x) for x in labels]]
        np.testing.assert_allclose(crossed[0, rows], expected, rtol=1e-9)
    # The saved model was fit on these texts and is surer of their labels than models that never saw them.
    gold = np.array([labels.index(label) for label in train_labels])
    assert saved[0, np.arange(24), gold].mean() > crossed[0, np.arange(24), gold].mean() + 0.05


def test_distill_cross_fits_the_tfidf_co_teacher_over_training_texts_and_augmented_copies(
    run_cli, tmp_path, monkeypatch, trained_classifier, tiny_student_dir, tiny_mlm_dir, tfidf_dir
):
    from zhcls.distill import ensemble

    seen = {}
    real = ensemble.cross_fitted

    def spy(probabilities, paths, texts, sources, train, *args, **kwargs):
        seen.update(texts=texts, sources=list(sources), train=train[0], saved=probabilities)
        seen["crossed"] = real(probabilities, paths, texts, sources, train, *args, **kwargs)
        return seen["crossed"]

    monkeypatch.setattr(ensemble, "cross_fitted", spy)
    flags = ["--teacher", trained_classifier, "--student", tiny_student_dir, *COMMON, "--epochs", "1"]
    flags += ["--augment", "1", "--augment-mlm", tiny_mlm_dir, "--extra-teacher", tfidf_dir]
    code, _, err = run_cli("distill", *flags, "--extra-teacher-folds", "3", "--output", tmp_path / "s")
    assert code == 0, err
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["extra_teachers"]["cross_fitted_folds"] == 3 and metrics["transfer"]["augmented"] > 0
    texts, sources, train = seen["texts"], seen["sources"], seen["train"]
    assert sources[: len(train)] == list(range(len(train))) and texts[: len(train)] == list(train)
    copies = range(len(train), len(texts))
    assert all(0 <= sources[i] < len(train) for i in copies)
    # Of all training texts, a copy is most like the one it was made from (it keeps the words not replaced).
    nearest = [max(range(len(train)), key=lambda j: SequenceMatcher(None, texts[i], train[j]).ratio()) for i in copies]
    assert np.mean([sources[i] == j for i, j in zip(copies, nearest, strict=True)]) >= 0.9
    assert not np.allclose(seen["crossed"][:, : len(train)], seen["saved"][:, : len(train)])

    code, _, err = run_cli("distill", *flags, "--extra-teacher-folds", "0", "--output", tmp_path / "zero")
    assert code == 2 and "at least 1" in err
    code, _, err = run_cli(
        "distill", *flags[:-2], "--extra-teacher", trained_classifier, "--extra-teacher-folds", "2",
        "--output", tmp_path / "model",
    )  # fmt: skip
    assert code == 2 and "TF-IDF baselines only" in err
