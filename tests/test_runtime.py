"""`zhcls.runtime`: torch-free, any text in, one prediction out per text, the same answer however it is called."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhcls.runtime import Classifier

ODD_TEXTS = {
    "empty": "",
    "whitespace": " \t\n\u3000 ",
    "emoji": "房间很干净😀👍🏻🇨🇳",
    "traditional": "這家酒店的服務態度非常好，環境優雅",
    "mixed English": "Wi-Fi信号很差, the staff were nice though 2024!",
    "control characters": "好\x00\x01\x1b[31m差\x7f\u200b\ufeff",
    "lone surrogate": "好\ud800差",
    "1 MB": "很好" * (1 << 19),
}


@pytest.fixture(scope="module")
def classifier(exported_classifier):
    return Classifier.load(exported_classifier, threads=1)


def test_using_the_runtime_imports_neither_torch_nor_transformers(exported_classifier):
    script = (
        "import sys\n"
        "from zhcls.runtime import Classifier\n"
        f"Classifier.load({str(exported_classifier)!r}).predict(['房间很干净'])\n"
        "loaded = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ODD_TEXTS)
def test_odd_texts_each_get_a_prediction(classifier, name):
    (prediction,) = classifier.predict([ODD_TEXTS[name]])
    assert prediction["label"] in classifier.labels
    assert 0.0 <= prediction["score"] <= 1.0


# fp32 is exact up to float rounding. Dynamic int8 quantizes each activation tensor with the range of the
# whole batch, so a text's score moves slightly with its batch partners; its label does not.
BATCHING_TOLERANCE = {"fp32": 1e-5, "int8": 5e-3}


def _assert_same_answers(together: np.ndarray, alone: np.ndarray, precision: str) -> None:
    np.testing.assert_allclose(together, alone, atol=BATCHING_TOLERANCE[precision])
    clear = np.abs(alone[:, 0] - alone[:, 1]) > 2 * BATCHING_TOLERANCE[precision]
    assert (together.argmax(1) == alone.argmax(1))[clear].all()


def test_odd_texts_together_give_what_they_give_alone(classifier):
    texts = list(ODD_TEXTS.values())
    together = classifier.predict_proba(texts)
    alone = np.stack([classifier.predict_proba(text)[0] for text in texts])
    _assert_same_answers(together, alone, "int8")


@pytest.mark.parametrize("bad", [None, 5, b"bytes", ["ok", None], ("ok", 3), {"text": "x"}])
def test_non_strings_are_a_clear_type_error(classifier, bad):
    with pytest.raises(TypeError, match="str"):
        classifier.predict(bad)


def test_top_k_ranks_every_label(classifier):
    (ranked,) = classifier.predict(["房间很干净"], top_k=len(classifier.labels))
    scores = [entry["score"] for entry in ranked]
    assert sorted(entry["label"] for entry in ranked) == sorted(classifier.labels)
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-5


@pytest.mark.parametrize("policy", ["head", "tail", "head+tail"])
def test_truncation_policies_keep_the_chosen_end_of_a_long_text(exported_classifier, policy):
    classifier = Classifier.load(exported_classifier, truncation=policy, threads=1)
    long_text = "满意" * 200 + "失望" * 200
    (ids,) = classifier.encode([long_text])
    assert len(ids) == classifier.max_length
    head, tail = classifier.encode(["满意"])[0][1:-1], classifier.encode(["失望"])[0][1:-1]
    body = ids[1:-1]
    starts_positive, ends_negative = body[: len(head)] == head, body[-len(tail) :] == tail
    assert (starts_positive, ends_negative) == {
        "head": (True, False),
        "tail": (False, True),
        "head+tail": (True, True),
    }[policy]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_any_unicode_text_gets_a_probability_distribution(classifier, text):
    probabilities = classifier.predict_proba([text])
    assert probabilities.shape == (1, len(classifier.labels))
    assert np.isfinite(probabilities).all() and abs(probabilities.sum() - 1) < 1e-5


@pytest.fixture(scope="module")
def both_precisions(exported_classifier, exported_fp32):
    return {
        precision: [Classifier.load(folder, threads=1, batch_size=size) for size in range(1, 6)]
        for precision, folder in (("fp32", exported_fp32), ("int8", exported_classifier))
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.text(max_size=80), min_size=1, max_size=12),
    batch_size=st.integers(1, 5),
    precision=st.sampled_from(["fp32", "int8"]),
)
def test_batching_never_changes_a_result(both_precisions, texts, batch_size, precision):
    batched = both_precisions[precision][batch_size - 1]
    together = batched.predict_proba(texts)
    alone = np.stack([batched.predict_proba([text])[0] for text in texts])
    _assert_same_answers(together, alone, precision)


def test_one_classifier_shared_by_8_threads_answers_as_one_thread_does(classifier):
    from conftest import synthetic_rows

    texts = [text for text, _ in synthetic_rows(250, seed=5)]
    calls = [texts[i : i + 1 + i % 3] for i in range(0, 2000)]  # 2,000 calls of 1-3 texts each
    calls = [call or [texts[0]] for call in calls]
    expected = [classifier.predict(call) for call in calls]
    results: dict[int, list] = {}

    def worker(index: int) -> None:
        order = calls if index % 2 == 0 else calls[::-1]  # half the threads walk backwards
        answers = [classifier.predict(call) for call in order]
        results[index] = answers if index % 2 == 0 else answers[::-1]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    for index in range(8):
        assert results[index] == expected, index


def test_predict_streams_a_file_to_jsonl(run_cli, exported_classifier, tmp_path):
    source = tmp_path / "in.jsonl"
    texts = [f"第{i}条评论，房间很干净" for i in range(2500)] + ["", "😀"]
    source.write_text("\n".join(json.dumps({"review": t}, ensure_ascii=False) for t in texts) + "\n", "utf-8")
    code, _, err = run_cli("predict", exported_classifier, "--input", source, "--output", tmp_path / "out.jsonl")
    assert code == 0, err
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["text"] for line in lines] == texts
    assert all(line["label"] in ("pos", "neg") for line in lines)


def test_predict_reads_stdin(exported_classifier):
    result = subprocess.run(
        [sys.executable, "-m", "zhcls", "predict", str(exported_classifier), "--input", "-", "--top-k", "2"],
        input="房间很干净\n太差了\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and all(len(line["top_k"]) == 2 for line in lines)


def test_tensorrt_gets_one_profile_covering_every_shape_the_classifier_sends(exported_classifier):
    from zhcls.runtime.classifier import session_providers
    from zhcls.runtime.manifest import Manifest

    manifest = Manifest.read(exported_classifier)
    every = {"TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"}
    (name, options), *rest = session_providers("tensorrt", every, manifest, batch_size=16)

    assert name == "TensorrtExecutionProvider" and rest == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    width = manifest.max_length
    expected = {"min": "1x1", "opt": f"1x{width}", "max": f"16x{width}"}
    for bound, shape in expected.items():
        assert options[f"trt_profile_{bound}_shapes"] == ",".join(f"{i}:{shape}" for i in manifest.input_names)
    # without TensorRT in this onnxruntime, the plain list of what is there
    assert session_providers("tensorrt", {"CPUExecutionProvider"}, manifest, 16) == ["CPUExecutionProvider"]


def test_gpu_calls_are_padded_to_length_buckets_without_changing_a_score(exported_fp32):
    plain = Classifier.load(exported_fp32, threads=1)
    bucketed = Classifier.load(exported_fp32, threads=1)
    bucketed.length_multiple = 32  # what a cuda or tensorrt classifier gets
    widths = []
    session = bucketed._session

    class Recording:
        def __getattr__(self, name):
            return getattr(session, name)

        def run(self, outputs, feed):
            widths.append(feed["input_ids"].shape[1])
            return session.run(outputs, feed)

    bucketed._session = Recording()
    texts = ["好", "房间很干净，服务也好", "差" * 40, "贵" * 500]
    assert bucketed.predict_logits(texts) == pytest.approx(plain.predict_logits(texts), abs=1e-4)
    assert all(width % 32 == 0 or width == bucketed.max_length for width in widths)
    assert max(widths) == bucketed.max_length and min(widths) == 32


@pytest.mark.parametrize("damage", ["no unknown token", "special tokens gone"])
def test_a_tokenizer_without_its_special_tokens_fails_at_load_in_one_line(exported_classifier, tmp_path, damage):
    import shutil

    from zhcls.runtime import ManifestError

    folder = tmp_path / "export"
    shutil.copytree(exported_classifier, folder)
    path = folder / "tokenizer.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    if damage == "no unknown token":
        del record["model"]["vocab"]["[UNK]"]
        record["added_tokens"] = [token for token in record["added_tokens"] if token["content"] != "[UNK]"]
        expected = r"tokenizer\.json: its unknown token \[UNK\] is not in its vocabulary"
    else:
        record["added_tokens"], record["post_processor"] = [], None
        expected = r"tokenizer\.json: no special token with id 2, the manifest's cls token"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ManifestError, match=expected):
        Classifier.load(folder)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_small_call_runs_on_one_thread_and_a_large_one_on_the_usable_cores(
    exported_classifier, exported_fp32, monkeypatch, precision
):
    folder = {"int8": exported_classifier, "fp32": exported_fp32}[precision]
    monkeypatch.setattr("zhcls.runtime.classifier.usable_cores", lambda: 3)
    classifier = Classifier.load(folder, one_thread_tokens=64)
    small, large = ["房间很干净"], ["差" * 40] * 4  # 7 padded tokens; 4 × 32 (the model's max_length)

    classifier.predict(small)
    assert classifier.last_threads == 1
    assert classifier._large_session is None  # a process that never makes a large call opens one session
    logits = classifier.predict_logits(large)
    assert classifier.last_threads == 3
    assert classifier._large_session.get_session_options().intra_op_num_threads == 3
    assert classifier._session.get_session_options().intra_op_num_threads == 1
    setting = {"small_calls": 1, "large_calls": 3, "large_from_tokens": 64, "spinning": True}
    assert classifier.thread_setting() == setting
    one_thread = Classifier.load(folder, threads=1).predict_logits(large)
    assert logits == pytest.approx(one_thread, abs=1e-5)


def test_threads_given_run_every_call_on_them(exported_classifier, monkeypatch):
    monkeypatch.setattr("zhcls.runtime.classifier.usable_cores", lambda: 3)
    classifier = Classifier.load(exported_classifier, threads=2, one_thread_tokens=64, spin=False)
    for texts in (["好"], ["差" * 40] * 4):
        classifier.predict(texts)
        assert classifier.last_threads == 2
    assert classifier._large_session is None
    assert classifier.thread_setting() == {
        "small_calls": 2,
        "large_calls": 2,
        "large_from_tokens": None,
        "spinning": False,
    }


def test_one_usable_core_means_one_session_for_every_call(exported_classifier, monkeypatch):
    monkeypatch.setattr("zhcls.runtime.classifier.usable_cores", lambda: 1)
    classifier = Classifier.load(exported_classifier, one_thread_tokens=64)
    classifier.predict(["差" * 40] * 4)
    assert classifier.last_threads == 1 and classifier._large_session is None
    assert classifier.thread_setting()["large_from_tokens"] is None


def test_the_default_threshold_keeps_every_single_text_on_one_thread(exported_classifier):
    from zhcls.runtime.classifier import ONE_THREAD_TOKENS

    assert ONE_THREAD_TOKENS >= 512  # batch 1 at any length the models here take
    assert Classifier.load(exported_classifier).one_thread_tokens == ONE_THREAD_TOKENS


@pytest.mark.parametrize("vnni_here", [True, False])
def test_a_graph_chosen_on_a_cpu_that_differs_in_vnni_is_warned_about(
    exported_classifier, tmp_path, monkeypatch, caplog, vnni_here
):
    import logging
    import shutil

    from zhcls.runtime.manifest import Manifest

    folder = tmp_path / "export"
    shutil.copytree(exported_classifier, folder)
    manifest = Manifest.read(folder)
    manifest.selection = {"chosen": "int8 dynamic avx2", "candidates": []}
    flags = {**manifest.exported_on["flags"], "avx512_vnni": not vnni_here, "avx_vnni": False}
    manifest.exported_on = {**manifest.exported_on, "flags": flags}
    manifest.write(folder)
    monkeypatch.setattr("zhcls.runtime.classifier.has_vnni", lambda: vnni_here)
    with caplog.at_level(logging.WARNING, logger="zhcls.runtime.classifier"):
        Classifier.load(folder, threads=1)
    assert "(int8 dynamic avx2) was chosen as the fastest on a CPU" in caplog.text
    assert f"{'without' if vnni_here else 'with'} VNNI" in caplog.text

    caplog.clear()
    monkeypatch.setattr("zhcls.runtime.classifier.has_vnni", lambda: not vnni_here)
    with caplog.at_level(logging.WARNING, logger="zhcls.runtime.classifier"):
        Classifier.load(folder, threads=1)
    assert "chosen as the fastest" not in caplog.text
