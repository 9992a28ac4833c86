"""The one loader check of model directories: safetensors weights, whole, and a tokenizer with its special tokens."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from zhcls.errors import UserError
from zhcls.models import check_weights, load_classifier, load_tokenizer


def test_a_pickled_bin_alone_is_refused_with_the_command_that_converts_it(tmp_path, trained_classifier):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "bin-only"
    shutil.copytree(trained_classifier, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(UserError, match=r"holds pytorch_model.bin but no \.safetensors weights") as refused:
        load_classifier(folder)
    command = str(refused.value).split("convert it: python -c ", 1)[1]
    subprocess.run([sys.executable, "-c", command.strip('"')], check=True)
    assert load_classifier(folder).config.num_labels == 2


@pytest.mark.parametrize("keep", [0, 7, 1000, -100])
def test_a_truncated_safetensors_file_is_one_line(tmp_path, tiny_encoder_dir, keep):
    folder = tmp_path / "cut"
    shutil.copytree(tiny_encoder_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:keep])
    with pytest.raises(UserError, match=r"model\.safetensors: not a whole safetensors file \(.*\); copy or save"):
        check_weights(folder)


def test_a_tokenizer_without_its_special_tokens_is_refused_at_load(tmp_path, tokenizer_dir):
    import json

    folder = tmp_path / "tokenizer"
    shutil.copytree(tokenizer_dir, folder)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        record = json.loads(path.read_text(encoding="utf-8"))
        record.pop("cls_token", None)
        record.pop("sep_token", None)
        path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(UserError, match=r"has no cls_token or sep_token"):
        load_tokenizer(folder)
