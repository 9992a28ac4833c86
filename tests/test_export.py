"""`zhcls export`: ONNX that matches PyTorch, int8 that keeps its labels, and a parity gate that bites."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import onnx
import pytest
from conftest import run_zhcls, synthetic_rows

from zhcls.data import DataSpec, load_splits
from zhcls.runtime import Classifier, Manifest, ManifestError

TEXTS = [text for text, _ in synthetic_rows(120, seed=9)] + ["", "hello 世界 2024", "很好" * 200]


def _export(run_cli, model, output, *flags):
    code, out, err = run_cli("export", model, "--output", output, *flags)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory, trained_classifier):
    """fp32 (fused) and dynamic-int8 exports of the tiny trained classifier, made through the CLI."""
    root = tmp_path_factory.mktemp("exports")
    made = {}
    for name, flags in {"fp32": [], "int8": ["--int8"], "raw": ["--no-fuse"]}.items():
        run_zhcls("export", trained_classifier, "--output", root / name, *flags)
        made[name] = root / name
    return made


def _torch_logits(model_dir, texts):
    from zhcls.models import InputSettings, classify_logits, load_classifier, load_tokenizer

    return classify_logits(load_classifier(model_dir), load_tokenizer(model_dir), texts, inputs=InputSettings(32))


@pytest.mark.parametrize("name", ["fp32", "raw"])
def test_fp32_export_matches_pytorch(exports, trained_classifier, name):
    reference = _torch_logits(trained_classifier, TEXTS)
    exported = Classifier.load(exports[name]).predict_logits(TEXTS)
    np.testing.assert_allclose(exported, reference, atol=1e-4)


def test_graph_is_clean_dynamic_and_fused(exports):
    model = onnx.load(str(exports["fp32"] / "model.onnx"))
    onnx.checker.check_model(model)
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    for graph_input in model.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        assert all(d.dim_param for d in dims), graph_input.name  # batch and sequence are symbolic
    assert Manifest.read(exports["raw"]).fusion == {}


def test_attention_and_embeddings_are_fused(exports):
    # On transformers 4 and 5 alike: the exporter traces eager attention, the graph ONNX Runtime fuses.
    fusion = Manifest.read(exports["fp32"]).fusion
    assert fusion.get("Attention") == 2 and fusion.get("SkipLayerNormalization") == 4
    assert fusion.get("EmbedLayerNormalization") == 1


def test_manifest_is_complete(exports, trained_classifier):
    from zhcls.data.registry import sha256_of

    manifest = Manifest.read(exports["int8"])
    assert manifest.labels == ["neg", "pos"] and manifest.max_length == 32
    assert manifest.input_names == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest.precision == "int8" and manifest.zhcls_version
    assert manifest.source_model_sha256 == sha256_of(trained_classifier / "model.safetensors")
    assert manifest.quantization["scheme"] == "dynamic-u8s8" and manifest.quantization["per_channel"]
    parity = manifest.parity
    assert parity["texts"] == 30 and parity["split"] == "dev" and parity["min_agreement"] == 0.99
    assert {"max_abs_logit_diff", "argmax_agreement", "accuracy_pytorch", "accuracy_export"} <= set(parity)
    assert set(manifest.exported_on["flags"]) >= {"avx2", "avx512_vnni"}
    assert {"model.onnx", "tokenizer.json", "config.json", "zhcls.json"} <= {p.name for p in exports["int8"].iterdir()}


def test_int8_keeps_argmax_agreement(exports, trained_classifier):
    reference = _torch_logits(trained_classifier, TEXTS).argmax(-1)
    quantized = Classifier.load(exports["int8"]).predict_logits(TEXTS).argmax(-1)
    assert (reference == quantized).mean() >= 0.99


def test_int8_weights_take_less_than_six_tenths_of_fp32(exports):
    assert (exports["int8"] / "model.onnx").stat().st_size < 0.6 * (exports["fp32"] / "model.onnx").stat().st_size


def test_a_session_without_spinning_workers_gives_the_same_logits(exports):
    default = Classifier.load(exports["fp32"], threads=2)
    quiet = Classifier.load(exports["fp32"], threads=2, spin=False)
    assert quiet._session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    np.testing.assert_array_equal(quiet.predict_logits(TEXTS), default.predict_logits(TEXTS))


def test_optimum_loads_the_directory(exports, trained_classifier):
    try:  # a lazy module: the import error comes with the class, not the package
        from optimum.onnxruntime import ORTModelForSequenceClassification
    except ImportError as exc:
        pytest.skip(f"Optimum's ONNX Runtime classes do not import here: {exc}")
    from transformers import AutoTokenizer

    model = ORTModelForSequenceClassification.from_pretrained(exports["raw"])
    tokenizer = AutoTokenizer.from_pretrained(exports["raw"])
    logits = model(**tokenizer(TEXTS[:4], padding=True, return_tensors="pt")).logits.detach().numpy()
    np.testing.assert_allclose(logits, _torch_logits(trained_classifier, TEXTS[:4]), atol=1e-4)
    assert model.config.id2label == {0: "neg", 1: "pos"}


def test_static_int8_with_a_node_kept_in_float(run_cli, tmp_path, trained_classifier, synthetic_csv):
    out = tmp_path / "static"
    _export(
        run_cli,
        trained_classifier,
        out,
        "--int8",
        "static",
        "--calibration",
        "minmax",
        "--calibration-size",
        "64",
        "--keep-float",
        "classifier",
        "--data",
        synthetic_csv,
    )
    manifest = Manifest.read(out)
    assert manifest.quantization["scheme"] == "static-qdq-s8s8" and manifest.quantization["calibration_texts"] == 64
    assert manifest.quantization["kept_float"] and all("classifier" in n for n in manifest.quantization["kept_float"])
    assert manifest.parity["argmax_agreement"] >= 0.99
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops


def test_parity_gate_rejects_a_corrupted_model(run_cli, tmp_path, trained_classifier, monkeypatch):
    import zhcls.export.exporter as exporter

    real_fuse = exporter.fuse

    def fuse_and_break(source, target, *args):
        stats = real_fuse(source, target, *args)
        model = onnx.load(str(target))
        for init in model.graph.initializer:
            if "classifier" in init.name and len(init.dims) == 2:
                values = onnx.numpy_helper.to_array(init)
                init.CopyFrom(onnx.numpy_helper.from_array(-values, init.name))  # flips every decision
        onnx.save(model, str(target))
        return stats

    monkeypatch.setattr(exporter, "fuse", fuse_and_break)
    out = tmp_path / "broken"
    code, _, err = run_cli("export", trained_classifier, "--output", out)
    assert code == 2
    assert "parity gate failed" in err and "below 99.9%" in err and "--no-verify" in err
    assert not out.exists() and (tmp_path / "broken.rejected" / "model.onnx").exists()
    assert not (tmp_path / ".broken.partial").exists()
    code, _, _ = run_cli("export", trained_classifier, "--output", out, "--no-verify")
    assert code == 0 and Manifest.read(out).parity == {}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_corrupt_model_file_is_a_clear_error(exports, tmp_path, run_cli, damage):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(exports["int8"], folder)
    model = folder / "model.onnx"
    if damage == "truncate":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 3])
    elif damage == "garbage":
        model.write_bytes(b"this is not an onnx model")
    else:
        model.unlink()
    with pytest.raises(ManifestError, match=r"model\.onnx"):
        Classifier.load(folder)
    code, _, err = run_cli("predict", folder, "好")
    assert code == 2 and err.startswith("error: ") and "model.onnx" in err and "Traceback" not in err


def test_broken_manifest_is_a_clear_error(exports, tmp_path, run_cli):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(exports["fp32"], folder)
    (folder / "zhcls.json").write_text("{not json", encoding="utf-8")
    code, _, err = run_cli("predict", folder, "好")
    assert code == 2 and "zhcls.json: not valid JSON" in err
    (folder / "zhcls.json").unlink()
    code, _, err = run_cli("predict", folder, "好")
    assert code == 2 and "no zhcls.json" in err


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_trt_without_tensorrt_is_a_clear_error(run_cli, tmp_path, trained_classifier):
    code, _, err = run_cli("export", trained_classifier, "--output", tmp_path / "trt", "--trt", "fp16")
    assert code == 2
    assert (
        err.strip() == "error: this command needs the 'trt' extra (missing module 'tensorrt'): pip install 'zhcls[trt]'"
    )
    assert not (tmp_path / "trt").exists()


def test_triton_repository(run_cli, tmp_path, trained_classifier):
    out = tmp_path / "triton"
    _export(run_cli, trained_classifier, out, "--triton", "--no-verify")
    config = (out / "triton" / "zhcls_classifier" / "config.pbtxt").read_text(encoding="utf-8")
    assert 'backend: "onnxruntime"' in config and "dynamic_batching" in config and "dims: [ 2 ]" in config
    assert (out / "triton" / "zhcls_classifier" / "1" / "model.onnx").read_bytes() == (out / "model.onnx").read_bytes()
    assert Manifest.read(out).extras["triton"]["model"] == "zhcls_classifier"


def test_fp16_export(run_cli, tmp_path, trained_classifier):
    out = tmp_path / "fp16"
    _export(run_cli, trained_classifier, out, "--fp16")
    manifest = Manifest.read(out)
    assert manifest.precision == "fp16" and manifest.parity["argmax_agreement"] >= 0.999
    types = {init.data_type for init in onnx.load(str(out / "model.onnx")).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types


def test_exporting_over_an_existing_directory_is_refused(run_cli, exports, trained_classifier):
    code, _, err = run_cli("export", trained_classifier, "--output", exports["fp32"])
    assert code == 2 and "already exists" in err


def test_verification_uses_the_recorded_split(exports, synthetic_csv):
    dev = load_splits(DataSpec(str(synthetic_csv))).dev
    parity = json.loads((exports["fp32"] / "zhcls.json").read_text(encoding="utf-8"))["parity"]
    assert parity["texts"] == len(dev)


def test_parity_counts_near_ties_apart(monkeypatch, tmp_path):
    import zhcls.export.exporter as exporter
    import zhcls.models as models
    import zhcls.runtime as runtime

    reference = np.array([[0.0, 2.0], [1.0, 1.004], [3.0, 0.0], [0.5, 0.0]], dtype=np.float32)
    exported = reference + np.array([[0, 0], [0.006, 0], [0, 0], [0, 0.6]], dtype=np.float32)

    class FakeClassifier:
        def predict_logits(self, texts):
            return exported

    monkeypatch.setattr(models, "classify_logits", lambda *args, **kwargs: reference)
    monkeypatch.setattr(models, "load_classifier", lambda *args, **kwargs: None)
    monkeypatch.setattr(models, "load_tokenizer", lambda *args, **kwargs: None)
    monkeypatch.setattr(runtime.Classifier, "load", classmethod(lambda cls, folder: FakeClassifier()))
    report = exporter.verify(tmp_path, tmp_path, ["a", "b", "c", "d"], [1, 1, 0, 0], models.InputSettings(16))
    # Text b (margin 0.004) flips and is a near tie; text d (margin 0.5) flips and counts.
    assert report["near_ties"] == 1
    assert report["argmax_agreement"] == pytest.approx(2 / 3)
    assert report["argmax_agreement_with_ties"] == pytest.approx(2 / 4)


def test_parity_samples_the_split_across_its_labels():
    from zhcls.data.readers import Examples
    from zhcls.export.exporter import parity_sample

    # A split in file order, grouped by label as many data files are.
    labels = ["neg"] * 600 + ["pos"] * 400
    examples = Examples(texts=[f"t{i}" for i in range(1000)], labels=labels, lines=list(range(1000)), source="x")
    texts, sampled = parity_sample(examples, 100)
    assert len(texts) == 100 and 20 <= sampled.count("pos") <= 60
    assert texts == sorted(texts, key=lambda text: int(text[1:]))  # split order kept
    assert [examples.labels[int(text[1:])] for text in texts] == sampled
    assert parity_sample(examples, 100) == (texts, sampled)  # the same sample every time
    assert parity_sample(examples, 5000) == (examples.texts, examples.labels)


def test_data_with_other_labels_than_the_model_is_refused(run_cli, tmp_path, trained_classifier):
    from conftest import write_csv

    other = write_csv(
        tmp_path / "other.csv", [(text, "1" if label == "pos" else "0") for text, label in synthetic_rows(60)]
    )
    code, _, err = run_cli("export", trained_classifier, "--output", tmp_path / "out", "--data", other)
    assert code == 2
    assert err.strip().startswith(f"error: the labels of {other} (0, 1) differ from the model's (neg, pos)")
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def _selection_checked(manifest: Manifest) -> dict:
    """The chosen candidate, after checking that every candidate's record is whole and the choice passed."""
    selection = manifest.selection
    names = [c["name"] for c in selection["candidates"]]
    assert names[0] == "fp32" and names[1].startswith("int8 dynamic") and names[-1].startswith("int8 static QDQ")
    for candidate in selection["candidates"]:
        if "error" not in candidate:
            parity = candidate["parity"]
            assert candidate["passed"] == (parity["argmax_agreement"] >= parity["min_agreement"]), candidate
        assert bool(candidate["timings_ms"]) == candidate["passed"], candidate  # only those that passed are timed
    chosen = next(c for c in selection["candidates"] if c["name"] == selection["chosen"])
    assert chosen["passed"]
    assert manifest.precision == chosen["precision"] and manifest.quantization == chosen["quantization"]
    assert manifest.parity["argmax_agreement"] >= manifest.parity["min_agreement"]
    return chosen


def test_int8_auto_keeps_the_fastest_candidate_that_passed_the_gate(tmp_path, trained_classifier):
    from zhcls.export.exporter import ExportConfig, export_model
    from zhcls.export.quantize import QuantizeSettings
    from zhcls.export.select import Candidate, choose

    # Static int8 the fastest at batch 1, fp32 within the near tie of it and faster at batch 32, dynamic int8 slow.
    clock = {"int8 static": (1.0, 8.0), "fp32": (1.02, 5.0), "int8 dynamic": (2.0, 3.0)}
    timed = []

    def timer(predictors, calls):
        timed.append((sorted(predictors), len(calls[0])))
        column = 0 if len(calls[0]) == 1 else 1
        return {name: next(ms[column] for kind, ms in clock.items() if name.startswith(kind)) for name in predictors}

    config = ExportConfig(model=trained_classifier, output=tmp_path / "auto", int8=QuantizeSettings(mode="auto"))
    manifest = export_model(config, timer=timer)

    chosen = _selection_checked(manifest)
    candidates = manifest.selection["candidates"]
    passed = sorted(c["name"] for c in candidates if c["passed"])
    assert timed == [(passed, 1), (passed, 32)]
    rule = choose([Candidate(c["name"], None, passed=c["passed"], timings_ms=c["timings_ms"]) for c in candidates])
    assert chosen["name"] == rule.name == "fp32"  # whether static int8 passed (then batch 32 decides) or not
    assert Manifest.read(tmp_path / "auto").selection == manifest.selection
    assert len(Classifier.load(tmp_path / "auto").predict(TEXTS[:3])) == 3


def test_int8_auto_times_the_candidates_on_this_cpu(run_cli, tmp_path, trained_classifier):
    out = _export(run_cli, trained_classifier, tmp_path / "auto", "--int8", "auto")
    manifest = Manifest.read(tmp_path / "auto")
    chosen = _selection_checked(manifest)
    for candidate in manifest.selection["candidates"]:
        if candidate["passed"]:
            assert candidate["timings_ms"]["batch1"] > 0 and candidate["timings_ms"]["batch32"] > 0
    assert f"--int8 auto chose {chosen['name']} among" in out
    assert manifest.exported_on["flags"] and "rule" in manifest.selection


def test_int8_auto_without_a_candidate_that_passes_names_each_one(run_cli, tmp_path, trained_classifier, monkeypatch):
    import zhcls.export.exporter as exporter

    def poor(*args, **kwargs):
        return {"texts": 10, "max_abs_logit_diff": 1.0, "argmax_agreement": 0.5, "near_ties": 0}

    def quantize(source, target, settings, feeds=None):
        if settings.mode == "static":
            raise RuntimeError("calibration failed\nmore detail")
        return real_quantize(source, target, settings, feeds)

    real_quantize = exporter.quantize
    monkeypatch.setattr(exporter, "verify", poor)
    monkeypatch.setattr(exporter, "quantize", quantize)
    code, _, err = run_cli("export", trained_classifier, "--output", tmp_path / "auto", "--int8", "auto")
    assert code == 2
    assert "no candidate graph passed the parity gate (fp32: agreement 50.00%, floor 99.9%; int8 dynamic" in err
    assert "int8 static QDQ" in err and ": not built (calibration failed))" in err
    assert not (tmp_path / "auto").exists()
