"""`zhcls bench` end to end on tiny contenders: every field of the report, the plot, and skipped contenders."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_zhcls

from zhcls.bench.run import BenchSettings, fixed_length_text
from zhcls.contenders import ContenderSpec
from zhcls.errors import UserError

pytest.importorskip("matplotlib", reason="zhcls bench needs the 'bench' extra")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WORKLOADS = ("batch1", "batch32", "seq16", "seq32")


@pytest.fixture(scope="module")
def bench_report(tmp_path_factory, trained_classifier, synthetic_csv):
    root = tmp_path_factory.mktemp("bench")
    run_zhcls("export", trained_classifier, "--output", root / "int8", "--int8")
    run_zhcls("baseline", "--data", synthetic_csv, "--output", root / "tfidf")
    report = root / "report"
    run_zhcls(
        "bench",
        f"teacher={trained_classifier}",
        root / "int8",
        root / "tfidf",
        "reference:tiny",
        f"gpu=torch-cuda:{trained_classifier}",
        "reference-cuda:tiny",
        *("--data", synthetic_csv, "--report", report, "--threads", "1"),
        *("--batch1-texts", "6", "--batch32-batches", "2", "--fixed-lengths", "16,32", "--fixed-calls", "3"),
    )
    return report, json.loads((report / "report.json").read_text(encoding="utf-8"))


def test_every_contender_that_ran_has_every_field(bench_report):
    _, report = bench_report
    ran = {label: c for label, c in report["contenders"].items() if c["status"] == "ok"}
    reference = "BERT tiny shape, PyTorch fp32 (speed reference)"
    assert set(ran) == {"teacher", "int8 (ONNX int8)", "tfidf (TF-IDF)", reference}
    for label, c in ran.items():
        assert c["load_s"] > 0 and c["size_mb"] > 0 and c["peak_rss_mb"] > 50, label
        for workload in WORKLOADS:
            timing = c["latency"][workload]
            assert 0 < timing["p50_ms"] <= timing["p90_ms"] <= timing["p99_ms"], (label, workload)
            assert timing["texts_per_s"] > 0
        if c["kind"] != "reference":
            assert 0.5 <= c["accuracy"] <= 1 and 0 < c["macro_f1"] <= 1, label
            assert len(c["wrong"]) == round((1 - c["accuracy"]) * report["data"]["test_size"]), label
    assert ran[reference]["accuracy"] is None
    assert ran["int8 (ONNX int8)"]["precision"] == "int8" and ran["teacher"]["precision"] == "fp32"


def test_the_report_records_the_machine_and_the_data(bench_report):
    _, report = bench_report
    machine = report["machine"]
    assert set(machine["cpu"]["flags"]) >= {"avx2", "avx512f", "avx512_vnni", "amx_int8"}
    assert machine["threads"] == 1
    assert {"onnxruntime", "torch", "numpy"} <= set(machine["libraries"])
    assert report["data"]["test_size"] == report["data"]["sizes"]["test"] > 0
    assert report["settings"]["fixed_lengths"] == [16, 32]


def test_each_contender_records_the_threads_its_calls_ran_on(bench_report):
    folder, report = bench_report
    ran = {label: c for label, c in report["contenders"].items() if c["status"] == "ok"}
    for label, c in ran.items():
        assert set(c["threads"]) == {"small_calls", "large_calls", "large_from_tokens", "spinning"}, label
    # --threads 1: one thread for every call, so nothing to pick between and no worker to spin
    one = {"small_calls": 1, "large_calls": 1, "large_from_tokens": None, "spinning": False}
    assert ran["int8 (ONNX int8)"]["threads"] == ran["tfidf (TF-IDF)"]["threads"] == one
    assert ran["teacher"]["threads"]["large_calls"] == 1
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert "| int8 (ONNX int8) | onnx | 1 |" in markdown and "| teacher | torch | 1 |" in markdown


def test_an_onnx_contender_runs_small_calls_on_one_thread_as_an_app_does(exported_classifier):
    from zhcls.bench.markdown import threads_cell
    from zhcls.contenders import load_contender
    from zhcls.runtime.classifier import ONE_THREAD_TOKENS

    spec = ContenderSpec("int8", "onnx", str(exported_classifier))
    contender = load_contender(spec, threads=2, num_labels=2, tokenizer_from=None)
    setting = {"small_calls": 1, "large_calls": 2, "large_from_tokens": ONE_THREAD_TOKENS, "spinning": False}
    assert contender.threads == setting
    assert threads_cell(contender.threads) == f"1; 2 from {ONE_THREAD_TOKENS} tok"
    assert threads_cell({**setting, "large_from_tokens": None, "small_calls": 2, "spinning": True}) == "2, spinning"
    assert threads_cell({}) == "—"


def test_int8_is_compared_with_the_model_it_came_from(bench_report):
    _, report = bench_report
    (finding,) = report["int8"]
    assert (finding["int8"], finding["fp32"]) == ("int8 (ONNX int8)", "teacher")
    assert set(finding["speedup"]) == {"batch1", "batch32"}


def test_contenders_that_cannot_run_are_listed_with_their_reason(bench_report):
    folder, report = bench_report
    gpu = report["contenders"]["gpu"]
    assert gpu["status"] == "skipped" and "CUDA" in gpu["reason"]
    assert report["contenders"]["BERT tiny shape, PyTorch bf16, CUDA (speed reference)"]["status"] == "skipped"
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert "gpu (torch-cuda): skipped" in markdown
    for label in ("teacher", "int8 (ONNX int8)", "tfidf (TF-IDF)"):
        assert f"| {label} |" in markdown
    assert len(report["paired_differences"]) == 3  # the three contenders with an accuracy, pairwise
    assert "## Which accuracy differences are real" in markdown


def test_the_plot_is_a_png(bench_report):
    folder, _ = bench_report
    data = (folder / "plot.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000


def test_contender_specs_are_read_from_their_directories(trained_classifier, tmp_path):
    spec = ContenderSpec.parse(str(trained_classifier))
    assert spec.kind == "torch" and spec.target == str(trained_classifier)
    named = ContenderSpec.parse(f"mine=torch-cuda:{trained_classifier}")
    assert (named.label, named.kind) == ("mine", "torch-cuda")
    assert ContenderSpec.parse("reference:base").kind == "reference"
    assert ContenderSpec.parse("reference-cuda:base").label == "BERT base shape, PyTorch bf16, CUDA (speed reference)"
    with pytest.raises(UserError, match="not an export, model or baseline directory"):
        ContenderSpec.parse(str(tmp_path))
    with pytest.raises(UserError, match="does not exist"):
        ContenderSpec.parse(str(tmp_path / "missing"))
    with pytest.raises(UserError, match=r"has no zhcls\.json, so it is not an export directory \(zhcls export\)"):
        ContenderSpec.parse(f"onnx:{trained_classifier}")


def test_a_bench_where_no_contender_can_run_says_why(monkeypatch, synthetic_csv):
    from zhcls.bench import run
    from zhcls.data import DataSpec

    monkeypatch.setattr(run, "_in_fresh_process", lambda *args: {"status": "skipped", "reason": "no CUDA GPU"})
    specs = [ContenderSpec("gpu", "reference-cuda", "base")]
    with pytest.raises(UserError, match=r"no contender could run, so nothing was timed \(gpu: no CUDA GPU\)"):
        run.run_bench(specs, DataSpec(str(synthetic_csv)), run.BenchSettings(), log=lambda line: None)


def test_bench_rejects_two_contenders_with_one_label(run_cli, trained_classifier, synthetic_csv, tmp_path):
    twice = (f"a={trained_classifier}", f"a={trained_classifier}")
    code, _, err = run_cli("bench", *twice, "--data", synthetic_csv, "--report", tmp_path / "r")
    assert code == 2 and "share a label" in err


def test_a_fresh_process_reports_its_own_peak_memory_not_its_parents():
    import numpy as np

    from zhcls.bench.run import _in_fresh_process
    from zhcls.runtime.cpu import peak_rss_bytes

    ballast = np.ones(400 * 2**20 // 8)  # 400 MB resident in this process only
    child = _in_fresh_process(peak_rss_bytes)
    assert child < peak_rss_bytes() - 300 * 2**20
    del ballast


def test_fixed_length_texts_have_the_asked_number_of_tokens(tokenizer_dir):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    for tokens in (16, 32, 128):
        text = fixed_length_text(["很好，hello 干净！", "满意"], tokens)
        assert len(tokenizer.encode(text).ids) == tokens  # with [CLS] and [SEP]


@pytest.mark.parametrize("compiler_works", [True, False])
def test_a_compiled_contender_falls_back_to_eager_when_the_compiler_fails(
    trained_classifier, monkeypatch, compiler_works
):
    import torch

    from zhcls.contenders import compiled_runner
    from zhcls.models import InputSettings, classify_logits, load_classifier, load_tokenizer

    class BrokenCompiler(torch.nn.Module):
        def forward(self, **_):
            raise RuntimeError("inductor: no working C compiler\nmore detail")

    compiled_calls = []

    def fake_compile(model, **options):
        compiled_calls.append(options)
        return model if compiler_works else BrokenCompiler()

    monkeypatch.setattr(torch, "compile", fake_compile)
    model, tokenizer = load_classifier(trained_classifier), load_tokenizer(trained_classifier)
    details: dict = {}
    predict_logits = compiled_runner(model, tokenizer, InputSettings(), "cpu", details)

    assert compiled_calls == [{"dynamic": True}]
    texts = ["这家酒店很好", "太差了"]
    expected = classify_logits(model, tokenizer, texts, inputs=InputSettings())
    assert predict_logits(texts) == pytest.approx(expected, abs=1e-5)
    if compiler_works:
        assert details["compiled"] == "torch.compile(dynamic=True)"
    else:
        assert details["compiled"] == "no, eager: inductor: no working C compiler"


def test_bucketed_batches_meet_every_shape_at_load_and_keep_the_logits(trained_classifier):
    from zhcls.contenders import _torch_runner
    from zhcls.models import InputSettings, classify_logits, load_classifier, load_tokenizer

    model, tokenizer = load_classifier(trained_classifier), load_tokenizer(trained_classifier)
    shapes = []
    model.register_forward_pre_hook(
        lambda _, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    inputs = InputSettings(max_length=80)
    predict_logits = _torch_runner(model, tokenizer, inputs, "cpu", multiple_of=32)

    assert sorted(set(shapes)) == [(1, 32), (1, 64), (1, 80), (32, 32), (32, 64), (32, 80)]
    texts = ["这家酒店很好", "太差了，再也不来", "房间干净" * 10]
    expected = classify_logits(model, tokenizer, texts, inputs=inputs)
    shapes.clear()
    assert predict_logits(texts) == pytest.approx(expected, abs=1e-5)
    assert shapes == [(3, 64)]  # the longest text has 42 tokens


def test_the_default_thread_count_is_the_share_of_cores_this_process_may_use(monkeypatch):
    # A container or `taskset` grants fewer cores than the machine has; one thread per machine core oversubscribes.
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 3, 5}, raising=False)
    assert BenchSettings().threads == 3
    assert BenchSettings(threads=1).threads == 1
