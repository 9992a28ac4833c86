"""The export manifest: every bad field refused with a one-line ManifestError that names it, good ones round-trip."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from zhcls.runtime.manifest import MANIFEST, Manifest, ManifestError

GOOD = {
    "labels": ["neg", "pos"],
    "max_length": 64,
    "input_names": ["input_ids", "attention_mask", "token_type_ids"],
    "precision": "int8",
    "truncation": "head+tail",
    "model_file": "model.onnx",
    "tokenizer_file": "tokenizer.json",
    "format_version": 1,
}


def _folder_with(tmp_path: Path, record: dict) -> Path:
    (tmp_path / MANIFEST).write_text(json.dumps(record), encoding="utf-8")
    return tmp_path


def _read_error(tmp_path, **changes) -> str:
    with pytest.raises(ManifestError) as error:
        Manifest.read(_folder_with(tmp_path, {**GOOD, **changes}))
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(tmp_path / MANIFEST))
    return message


def test_a_good_manifest_round_trips(tmp_path):
    manifest = Manifest.read(_folder_with(tmp_path, {**GOOD, "a_field_from_a_later_zhcls": 1}))
    assert manifest.labels == ["neg", "pos"] and manifest.truncation == "head+tail"
    again = tmp_path / "again"
    again.mkdir()
    manifest.write(again)
    assert asdict(Manifest.read(again)) == asdict(manifest)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("labels", [], "non-empty list"),
        ("labels", "neg,pos", "non-empty list"),
        ("labels", ["neg", 1], "only non-empty strings"),
        ("labels", ["neg", ""], "only non-empty strings"),
        ("labels", ["neg", "pos", "neg"], "distinct ('neg' repeated)"),
        ("max_length", 0, "from 3 to 8192"),
        ("max_length", -64, "from 3 to 8192"),
        ("max_length", 10**9, "from 3 to 8192"),
        ("max_length", 64.0, "integer"),
        ("max_length", "64", "integer"),
        ("max_length", True, "integer"),
        ("input_names", [], "non-empty list"),
        ("input_names", "input_ids", "non-empty list"),
        ("input_names", ["input_ids", "pixel_values"], "pixel_values is unknown"),
        ("input_names", ["input_ids", "input_ids"], "distinct"),
        ("input_names", ["attention_mask"], "must include input_ids"),
        ("precision", 8, "non-empty string"),
        ("precision", "", "non-empty string"),
        ("truncation", "middle", "head, tail, head+tail"),
        ("truncation", ["head"], "head, tail, head+tail"),
        ("model_file", "../../etc/passwd", "plain file name"),
        ("model_file", "/etc/passwd", "plain file name"),
        ("model_file", "onnx/model.onnx", "plain file name"),
        ("model_file", "..", "plain file name"),
        ("model_file", "model\x00.onnx", "plain file name"),
        ("model_file", "", "non-empty string"),
        ("model_file", None, "non-empty string"),
        ("tokenizer_file", "..\\..\\tokenizer.json", "plain file name"),
        ("tokenizer_file", 3, "non-empty string"),
        ("format_version", "1", "positive integer"),
        ("format_version", 0, "positive integer"),
        ("format_version", 1.0, "positive integer"),
        ("zhcls_version", 1, "a string"),
        ("source_model_sha256", None, "a string"),
        ("quantization", [], "JSON object"),
        ("extras", "web", "JSON object"),
        ("selection", ["fp32"], "JSON object"),
        ("selection", {"chosen": "fp32"}, "list the candidates"),
        ("selection", {"chosen": 1, "candidates": []}, "name the chosen candidate"),
    ],
)
def test_each_bad_field_is_named(tmp_path, field, value, says):
    message = _read_error(tmp_path, **{field: value})
    assert f"{MANIFEST}: {field} " in message and says in message


def test_a_selection_round_trips(tmp_path):
    selection = {"chosen": "int8 dynamic avx2", "candidates": [{"name": "int8 dynamic avx2", "passed": True}]}
    manifest = Manifest.read(_folder_with(tmp_path, {**GOOD, "selection": selection}))
    assert manifest.selection == selection


def test_several_bad_fields_are_counted(tmp_path):
    message = _read_error(tmp_path, labels=[], max_length=0, precision=None)
    assert "labels " in message and "(and 2 more)" in message


def test_long_values_are_cut_to_one_short_line(tmp_path):
    message = _read_error(tmp_path, labels=["a\nb"] * 1000 + [3])
    assert len(message) < len(str(tmp_path)) + 200


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ('{"max_length": ' + "9" * 5000 + "}", "not valid JSON"),
        ('["labels"]', "must hold a JSON object, not a list"),
        ("null", "must hold a JSON object"),
        ('{"labels": ["a", "b"]}', "missing max_length, input_names, precision"),
    ],
)
def test_unreadable_manifests_are_one_line_errors(tmp_path, text, says):
    (tmp_path / MANIFEST).write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as error:
        Manifest.read(tmp_path)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_bad_bytes_and_folders(tmp_path):
    (tmp_path / MANIFEST).write_bytes(b"\xff\xfe{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest.read(tmp_path)
    with pytest.raises(ManifestError, match="no such export directory"):
        Manifest.read(tmp_path / "absent")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / MANIFEST).mkdir()
    with pytest.raises(ManifestError, match=f"no {MANIFEST}"):
        Manifest.read(tmp_path / "odd")


def test_a_newer_format_asks_for_an_upgrade(tmp_path):
    assert "upgrade zhcls" in _read_error(tmp_path, format_version=2, labels="whatever a newer format says")


def test_construction_and_write_check_too(tmp_path):
    with pytest.raises(ManifestError, match=r"^max_length "):
        Manifest(labels=["a", "b"], max_length=0, input_names=["input_ids"], precision="fp32")
    manifest = Manifest(labels=["a", "b"], max_length=32, input_names=["input_ids"], precision="fp32")
    manifest.model_file = "../model.onnx"  # a field changed after construction is checked before it is written
    with pytest.raises(ManifestError, match=r"^model_file "):
        manifest.write(tmp_path)
    assert not (tmp_path / MANIFEST).exists()
