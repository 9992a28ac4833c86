"""A SentencePiece (Unigram) model through every stage: train, distill (into a student with a WordPiece vocabulary
of its own), export int8 with the parity gate, the runtime, predict and serve."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TRAIN_FLAGS, run_zhcls
from zhcls.runtime import Classifier

RUNTIME = Path(__file__).resolve().parent.parent / "zhcls" / "runtime"


@pytest.fixture(scope="module")
def unigram_teacher(tmp_path_factory, unigram_encoder_dir, synthetic_csv) -> Path:
    output = tmp_path_factory.mktemp("unigram-teacher") / "model"
    run_zhcls("train", "--model", unigram_encoder_dir, "--data", synthetic_csv, "--output", output,
              "--pooling", "mean", *TRAIN_FLAGS)  # fmt: skip
    return output


@pytest.fixture(scope="module")
def unigram_export(tmp_path_factory, unigram_teacher) -> Path:
    output = tmp_path_factory.mktemp("unigram-export") / "int8"
    run_zhcls("export", unigram_teacher, "--output", output, "--int8")
    return output


def test_trained_with_the_mean_head_and_its_own_special_tokens(unigram_teacher):
    config = json.loads((unigram_teacher / "config.json").read_text())
    metrics = json.loads((unigram_teacher / "metrics.json").read_text())
    assert config["model_type"] == "zhcls-bert-mean"
    assert metrics["test"]["accuracy"] >= 0.8


def test_export_records_the_special_tokens_and_passes_the_gate(unigram_export):
    manifest = json.loads((unigram_export / "zhcls.json").read_text())
    assert manifest["special_tokens"] == {"cls": 0, "sep": 2, "pad": 1}  # <s>, </s>, <pad>
    assert "token_type_ids" in manifest["input_names"]
    assert manifest["parity"]["argmax_agreement"] >= manifest["parity"]["min_agreement"] == 0.99


def test_runtime_wraps_texts_in_the_manifests_tokens(unigram_export, synthetic_csv):
    classifier = Classifier.load(unigram_export)
    ids = classifier.encode(["很好"])[0]
    assert (ids[0], ids[-1]) == (0, 2)
    texts = [line.split(",")[0] for line in synthetic_csv.read_text(encoding="utf-8").splitlines()[1:21]]
    labels = [line.split(",")[1] for line in synthetic_csv.read_text(encoding="utf-8").splitlines()[1:21]]
    predicted = [p["label"] for p in classifier.predict(texts)]
    assert sum(p == g for p, g in zip(predicted, labels, strict=True)) >= 16


def test_the_runtime_names_no_special_token_strings():
    source = "\n".join(path.read_text(encoding="utf-8") for path in RUNTIME.glob("*.py"))
    code = "\n".join(line.split("#")[0] for line in source.splitlines())  # comments may name them
    assert not re.search(r"""["'](\[CLS\]|\[SEP\]|\[PAD\]|<s>|</s>|<pad>)["']""", code)


def test_predict_and_serve_on_the_unigram_export(unigram_export, run_cli):
    code, out, err = run_cli("predict", unigram_export, "酒店很好")
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["label"] in ("pos", "neg")
    from tests.test_runtime_server import _running
    from zhcls.runtime.server import ServeSettings

    classifier = Classifier.load(unigram_export)
    with _running(classifier, ServeSettings(port=0)) as port:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", data=json.dumps({"texts": ["酒店很好"]}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    assert answer["predictions"][0]["label"] == classifier.predict(["酒店很好"])[0]["label"]


def test_distill_into_a_student_with_its_own_wordpiece_vocabulary(run_cli, tmp_path, unigram_teacher, tokenizer_dir):
    out = tmp_path / "student"
    code, _, err = run_cli(
        "distill", "--teacher", unigram_teacher, "--student", "tiny", "--student-tokenizer", tokenizer_dir,
        "--output", out, "--epochs", "4", "--batch-size", "16", "--lr", "3e-3", "--max-length", "32",
    )  # fmt: skip
    assert code == 0, err
    student_vocab = json.loads((out / "tokenizer.json").read_text())["model"]
    assert student_vocab["type"] == "WordPiece"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["student_accuracy"]["test"] >= 0.7
    run_zhcls("export", out, "--output", tmp_path / "student-int8", "--int8")
    assert Classifier.load(tmp_path / "student-int8").encode(["好"])[0][0] == 2  # [CLS] of that vocabulary


def test_intermediate_losses_need_one_tokenizer(run_cli, tmp_path, unigram_teacher, tokenizer_dir):
    code, _, err = run_cli(
        "distill", "--teacher", unigram_teacher, "--student", "tiny", "--student-tokenizer", tokenizer_dir,
        "--hidden-weight", "1", "--output", tmp_path / "s", "--max-length", "32",
    )  # fmt: skip
    assert code == 2 and "one tokenizer" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
