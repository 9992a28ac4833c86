"""Augmentation replaces jieba words with masked-LM candidates, keeps the rest, and is reproducible."""

from __future__ import annotations

import pytest

from zhcls.data.words import segment
from zhcls.distill.augment import AugmentSettings, MaskedLMCandidates, augment_texts

TEXTS = ["这家酒店的服务非常好，房间也很干净。", "手机电池太差了，我很失望。", "12345 !!!"]


@pytest.fixture(scope="module")
def tiny_mlm(tokenizer_dir, tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    folder = tmp_path_factory.mktemp("mlm") / "mlm"
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return MaskedLMCandidates(folder)


def test_keeps_other_words_and_respects_n(tiny_mlm):
    settings = AugmentSettings(copies=3, replace_prob=0.3, seed=1)
    out = augment_texts(TEXTS, settings, tiny_mlm)
    assert [a.source for a in out] == [0, 0, 0, 1, 1, 1]  # the text without Chinese words yields none
    for item in out:
        original = segment(TEXTS[item.source])
        assert len(item.words) == len(original)
        assert item.replaced  # every copy changes something
        for i, (old, new) in enumerate(zip(original, item.words, strict=True)):
            if i in item.replaced:
                assert new != old and len(new) == len(old)
            else:
                assert new == old
        assert item.text == "".join(item.words)


def test_deterministic_under_a_seed(tiny_mlm):
    a = augment_texts(TEXTS, AugmentSettings(copies=2, seed=7), tiny_mlm)
    b = augment_texts(TEXTS, AugmentSettings(copies=2, seed=7), tiny_mlm)
    c = augment_texts(TEXTS, AugmentSettings(copies=2, seed=8), tiny_mlm)
    assert a == b
    assert [x.text for x in a] != [x.text for x in c]


def test_candidates_come_from_the_model_in_context(tiny_mlm):
    words = segment("房间很干净")
    index = words.index("干净")
    (options,) = tiny_mlm([(words, index)], top_k=5, context=10)
    assert 0 < len(options) <= 5 and "干净" not in options
    assert all(len(o) == 2 and all("\u4e00" <= ch <= "\u9fff" for ch in o) for o in options)
