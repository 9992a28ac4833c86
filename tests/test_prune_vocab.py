"""Vocabulary pruning: fewer pieces and parameters, the same tokens and outputs for texts made of kept pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import synthetic_rows
from tests.e5_file import write_e5_file
from zhcls.errors import UserError
from zhcls.models import build_classifier, load_tokenizer, save_tokenizer
from zhcls.prune.vocab import prune_vocabulary

TEXTS = [text for text, _ in synthetic_rows(60, seed=3)]


@pytest.fixture(scope="module")
def unigram_classifier(tmp_path_factory):
    """A classifier over the converted tiny E5S1 encoder: a Unigram (SentencePiece) tokenizer."""
    from zhcls.pretrained.convert import convert_e5_file

    root = tmp_path_factory.mktemp("unigram")
    write_e5_file(root / "tiny.bin")
    encoder = convert_e5_file(root / "tiny.bin", root / "encoder")
    torch.manual_seed(0)
    model = build_classifier(["neg", "pos"], model=str(encoder), pooling="mean")
    model.save_pretrained(root / "classifier")
    save_tokenizer(load_tokenizer(encoder), root / "classifier")
    return root / "classifier"


def token_ids(folder, texts):
    tokenizer = load_tokenizer(folder)
    return [tokenizer(text)["input_ids"] for text in texts]


def outputs(folder, texts, masked_lm=False):
    from transformers import AutoModelForMaskedLM

    from zhcls.models import load_classifier

    model = AutoModelForMaskedLM.from_pretrained(folder).eval() if masked_lm else load_classifier(folder)
    tokenizer = load_tokenizer(folder)
    with torch.inference_mode():
        return [model(**tokenizer(text, return_tensors="pt")).logits.numpy() for text in texts]


@pytest.mark.parametrize("fixture", ["unigram_classifier", "trained_classifier"])
def test_pruned_model_gives_the_same_tokens_and_logits(fixture, request, tmp_path):
    source = request.getfixturevalue(fixture)
    report = prune_vocabulary(str(source), TEXTS, tmp_path / "pruned")
    assert report.vocab_after < report.vocab_before and report.parameters_after < report.parameters_before
    pruned = tmp_path / "pruned"
    old_tokenizer, new_tokenizer = load_tokenizer(source), load_tokenizer(pruned)
    assert len(new_tokenizer) == report.vocab_after == json.loads((pruned / "config.json").read_text())["vocab_size"]
    for old, new in zip(token_ids(source, TEXTS), token_ids(pruned, TEXTS), strict=True):
        assert old_tokenizer.convert_ids_to_tokens(old) == new_tokenizer.convert_ids_to_tokens(new)
    for before, after in zip(outputs(source, TEXTS[:8]), outputs(pruned, TEXTS[:8]), strict=True):
        np.testing.assert_allclose(before, after, rtol=0, atol=1e-6)
    record = json.loads((pruned / "prune_vocab.json").read_text())
    assert record["vocab_after"] == report.vocab_after and record["texts"] == len(TEXTS)


def test_masked_lm_head_rows_follow_the_vocabulary(tiny_mlm_dir, tmp_path):
    report = prune_vocabulary(str(tiny_mlm_dir), TEXTS, tmp_path / "pruned")
    old_tokenizer, new_tokenizer = load_tokenizer(tiny_mlm_dir), load_tokenizer(tmp_path / "pruned")
    kept = [
        old_tokenizer.convert_tokens_to_ids(new_tokenizer.convert_ids_to_tokens(i)) for i in range(report.vocab_after)
    ]
    before, after = outputs(tiny_mlm_dir, TEXTS[:3], True), outputs(tmp_path / "pruned", TEXTS[:3], True)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_allclose(old[..., kept], new, rtol=0, atol=1e-5)


def test_keep_top_keeps_the_tokenizers_best_pieces_beyond_the_texts(unigram_classifier, tmp_path):
    small = prune_vocabulary(str(unigram_classifier), TEXTS[:1], tmp_path / "small")
    wider = prune_vocabulary(str(unigram_classifier), TEXTS[:1], tmp_path / "wide", keep_top=10)
    assert wider.vocab_after > small.vocab_after


def test_unseen_pieces_become_unknown(unigram_classifier, tmp_path):
    prune_vocabulary(str(unigram_classifier), ["很好"], tmp_path / "pruned")
    tokenizer = load_tokenizer(tmp_path / "pruned")
    assert tokenizer.convert_ids_to_tokens(tokenizer("很好")["input_ids"]) == ["<s>", "▁很", "好", "</s>"]
    assert tokenizer.unk_token_id in tokenizer("酒店", add_special_tokens=False)["input_ids"]


def test_refuses_an_existing_output_and_no_texts(unigram_classifier, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="exists"):
        prune_vocabulary(str(unigram_classifier), TEXTS, tmp_path / "taken")
    with pytest.raises(UserError, match="no texts"):
        prune_vocabulary(str(unigram_classifier), [], tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_prune_vocab_command(run_cli, unigram_encoder_dir, synthetic_csv, tmp_path):
    code, out, err = run_cli(
        "prune-vocab", unigram_encoder_dir, "--corpus", synthetic_csv, "--keep-top", "5", "--output", tmp_path / "p"
    )
    assert code == 0, err
    assert "vocabulary" in out and (tmp_path / "p" / "model.safetensors").exists()
    code, _, err = run_cli("prune-vocab", unigram_encoder_dir, "--corpus", synthetic_csv, "--output", tmp_path / "p")
    assert code == 2 and err.startswith("error:") and "exists" in err


def test_models_command_lists_the_builtins(run_cli):
    code, out, _ = run_cli("models")
    assert code == 0
    assert "multilingual-e5-small" in out and "intfloat/multilingual-e5-small" in out and "offline" in out


def test_layers_keeps_the_bottom_layers_exactly(unigram_encoder_dir, tmp_path):
    from transformers import AutoModel

    report = prune_vocabulary(str(unigram_encoder_dir), TEXTS, tmp_path / "one", layers=1)
    assert report.layers == 1
    full, cut = (
        AutoModel.from_pretrained(unigram_encoder_dir).eval(),
        AutoModel.from_pretrained(tmp_path / "one").eval(),
    )
    assert cut.config.num_hidden_layers == 1
    ids = load_tokenizer(unigram_encoder_dir)(TEXTS[0], return_tensors="pt")
    cut_ids = load_tokenizer(tmp_path / "one")(TEXTS[0], return_tensors="pt")
    with torch.inference_mode():
        expected = full(**ids, output_hidden_states=True).hidden_states[1]
        np.testing.assert_allclose(cut(**cut_ids).last_hidden_state.numpy(), expected.numpy(), atol=1e-6)
    with pytest.raises(UserError, match="the model has 2"):
        prune_vocabulary(str(unigram_encoder_dir), TEXTS, tmp_path / "three", layers=3)
