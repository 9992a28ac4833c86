"""One truncation rule from training to the runtime: `--truncation head+tail` is learned, recorded and kept."""

from __future__ import annotations

import json
import random

import pytest
from conftest import FILLER, NEGATIVE, POSITIVE, TRAIN_FLAGS, write_csv

from zhcls.models import InputSettings, encode_texts, load_tokenizer
from zhcls.runtime import Classifier

LONG_TEXTS = ["满意" * 200 + "失望" * 200, "房间" * 40 + "很好", "短句", ""]


def test_head_truncation_is_the_tokenizers_own(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    expected = tokenizer(LONG_TEXTS, truncation=True, max_length=16)["input_ids"]
    assert encode_texts(tokenizer, LONG_TEXTS, InputSettings(16, "head")) == expected


@pytest.mark.parametrize("policy", ["head", "tail", "head+tail"])
def test_training_and_the_runtime_cut_long_texts_alike(exported_classifier, trained_classifier, policy):
    classifier = Classifier.load(exported_classifier, truncation=policy, threads=1)
    inputs = InputSettings(classifier.max_length, policy)
    assert encode_texts(load_tokenizer(trained_classifier), LONG_TEXTS, inputs) == classifier.encode(LONG_TEXTS)


@pytest.fixture(scope="module")
def verdict_at_the_end(tmp_path_factory):
    """Reviews whose only sentiment word comes after 40+ characters of filler: past a 32-token head."""
    rng = random.Random(3)
    rows = {}
    while len(rows) < 300:
        label = rng.choice(["pos", "neg"])
        filler = "".join(rng.choice(FILLER) for _ in range(rng.randint(40, 60)))
        rows[filler + rng.choice(POSITIVE if label == "pos" else NEGATIVE)] = label
    return write_csv(tmp_path_factory.mktemp("late") / "late.csv", list(rows.items()))


def test_head_tail_model_learns_late_verdicts_and_carries_its_truncation_on(
    run_cli, tmp_path, tiny_encoder_dir, verdict_at_the_end
):
    accuracy = {}
    for policy in ("head", "head+tail"):
        output = tmp_path / policy
        args = ["train", "--model", tiny_encoder_dir, "--data", verdict_at_the_end, "--output", output, *TRAIN_FLAGS]
        code, _, err = run_cli(*args, "--truncation", policy, "--epochs", "8")
        assert code == 0, err
        config = json.loads((output / "train_config.json").read_text(encoding="utf-8"))
        assert config["truncation"] == policy
        accuracy[policy] = json.loads((output / "metrics.json").read_text(encoding="utf-8"))["dev"]["accuracy"]
    assert accuracy["head"] <= 0.75 < 0.9 <= accuracy["head+tail"]  # the head never sees the verdict

    model = tmp_path / "head+tail"
    code, _, err = run_cli("export", model, "--output", tmp_path / "export", "--web")
    assert code == 0, err
    classifier = Classifier.load(tmp_path / "export", threads=1)
    assert classifier.truncation == "head+tail" and classifier.manifest.truncation == "head+tail"
    assert classifier.manifest.parity["accuracy_export"] >= 0.9

    student = tmp_path / "student"
    code, _, err = run_cli(
        "distill", "--teacher", model, "--student", "2x128", "--output", student, "--epochs", "1", "--max-length", "32"
    )
    assert code == 0, err
    assert json.loads((student / "distill_config.json").read_text(encoding="utf-8"))["truncation"] == "head+tail"
