"""Augmentation replaces jieba words with masked-LM candidates, keeps the rest, and is reproducible."""

from __future__ import annotations

import pytest

from zhcls.data.words import is_known_word, segment
from zhcls.distill.augment import AugmentSettings, MaskedLMCandidates, augment_texts

TEXTS = ["这家酒店的服务非常好，房间也很干净。", "手机电池太差了，我很失望。", "12345 !!!"]


@pytest.fixture(scope="module")
def tiny_mlm(tiny_mlm_dir):
    return MaskedLMCandidates(tiny_mlm_dir)


def test_keeps_other_words_and_respects_n(tiny_mlm):
    # Every word chosen: the one-character words always have candidates, so every copy is made.
    every_word = augment_texts(TEXTS, AugmentSettings(copies=3, replace_prob=1.0, seed=1), tiny_mlm)
    assert [a.source for a in every_word] == [0, 0, 0, 1, 1, 1]  # the text without Chinese words yields none
    some_words = augment_texts(TEXTS, AugmentSettings(copies=3, replace_prob=0.3, seed=1), tiny_mlm)
    assert all(sum(a.source == n for a in some_words) <= 3 for n in range(len(TEXTS)))
    for item in every_word + some_words:
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


def test_multi_character_candidates_are_dictionary_words_best_first(tiny_mlm):
    characters = [["清", "干", "整", "啊"], ["楚", "净", "洁", "吧"]]
    scores = [[-0.1, -0.2, -0.3, -0.4], [-0.1, -0.2, -0.3, -0.4]]
    options = tiny_mlm._words("干净", characters, scores, top_k=3)
    # By summed score; "干楚" (scored above "清洁") is not a word and "干净" is the word itself.
    assert options == ["清楚", "清净", "清洁"]
    assert all(is_known_word(o) for o in options) and not is_known_word("干楚")
    assert tiny_mlm._words("很", [["很", "真", "啊"]], [[-0.1, -0.2, -0.3]], top_k=2) == ["真", "啊"]
