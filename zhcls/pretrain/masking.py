"""Pretraining examples: text packed into fixed-length blocks with word ids, and (whole-word) masking.

Every token carries the id of the word it belongs to (jieba's words, or itself with character masking),
so that masking can choose words and mask all of their characters together, as Chinese-BERT-wwm does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zhcls.data.words import segmented
from zhcls.errors import UserError
from zhcls.progress import progress

NOT_A_WORD = -1  # special tokens ([CLS], [SEP], padding): never masked


@dataclass(frozen=True)
class MaskingSettings:
    """How many words to choose and what becomes of their tokens."""

    rate: float = 0.15
    whole_word: bool = True
    mask_share: float = 0.8  # of the chosen words: [MASK]
    random_share: float = 0.1  # a random token; the rest are kept as they were

    def __post_init__(self) -> None:
        if not 0 < self.rate < 1:
            raise UserError("--mask-rate must be between 0 and 1")


@dataclass
class Blocks:
    """Packed pretraining sequences: token ids and word ids, both (n_blocks, length)."""

    input_ids: np.ndarray
    word_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)


def token_word_ids(text_length: int, offsets: Sequence[tuple[int, int]], word_lengths: Sequence[int]) -> list[int]:
    """For each token (by its character offsets in a text), the index of its word (`word_lengths`: the text's
    words, in order, by their lengths in characters)."""
    word_of_char = np.repeat(np.arange(len(word_lengths)), word_lengths)
    word_of_char = np.append(word_of_char, word_of_char[-1] if text_length else 0)  # an offset at the very end
    begins = np.minimum([begin for begin, _ in offsets], text_length)
    return word_of_char[begins].tolist()


def pack_blocks(
    texts: Iterable[str], tokenizer: Any, length: int, whole_word: bool, chunk: int = 1024, workers: int | None = None
) -> Blocks:
    """Texts tokenized and packed end to end into `[CLS] … [SEP] … [SEP]` blocks of exactly `length` tokens.

    A text that does not fit is continued in the next block; the last, incomplete block is dropped
    unless it is the only one (then it is padded). With `whole_word`, jieba segments the texts in `workers`
    processes (`zhcls.data.words.segmented`); the blocks are the same whatever their number. The workers are
    spawned, so a script calling this needs the `if __name__ == "__main__":` guard of any multiprocessing
    program; without it they fail (after re-running the script's top level) and packing goes on in one process.
    """
    if length < 8:
        raise UserError("--max-length must be at least 8")
    content = length - 2
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    ids_out: list[np.ndarray] = []
    words_out: list[np.ndarray] = []
    buffer_ids: list[int] = []
    buffer_words: list[int] = []
    next_word = 0

    def flush(ids: list[int], words: list[int]) -> None:
        ids_out.append(np.array([cls_id, *ids, sep_id], dtype=np.int32))
        words_out.append(np.array([NOT_A_WORD, *words, NOT_A_WORD], dtype=np.int32))

    def add_batch(batch: list[str], word_lengths: list[list[int]] | None) -> None:
        nonlocal next_word
        # The backend tokenizer directly: whole lines, no length limit, no special tokens (packing adds them).
        encodings = tokenizer.backend_tokenizer.encode_batch(batch, add_special_tokens=False)
        for index, (text, encoding) in enumerate(zip(batch, encodings, strict=True)):
            ids, offsets = encoding.ids, encoding.offsets
            if not ids:
                continue
            # without word lengths (character masking) every token is a word of its own
            local = token_word_ids(len(text), offsets, word_lengths[index]) if word_lengths else range(len(ids))
            words = [next_word + w for w in local]
            next_word = max(words) + 1
            buffer_ids.extend([*ids, sep_id])
            buffer_words.extend([*words, NOT_A_WORD])
            while len(buffer_ids) >= content:
                flush(buffer_ids[:content], buffer_words[:content])
                del buffer_ids[:content], buffer_words[:content]

    batches = _batches(texts, chunk)
    pairs = segmented(batches, workers) if whole_word else ((batch, None) for batch in batches)
    with progress(desc="pack the corpus", unit="text") as bar:
        for batch, word_lengths in pairs:
            add_batch(batch, word_lengths)
            bar.update(len(batch))
    if not ids_out and buffer_ids:
        padding = content - len(buffer_ids)
        flush(buffer_ids + [pad_id] * padding, buffer_words + [NOT_A_WORD] * padding)
    if not ids_out:
        raise UserError("the corpus has no text to pretrain on")
    return Blocks(np.stack(ids_out), np.stack(words_out))


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def mask_block(
    input_ids: np.ndarray,
    word_ids: np.ndarray,
    settings: MaskingSettings,
    rng: np.random.Generator,
    mask_id: int,
    replacement_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(masked input, labels): `rate` of the words chosen, each replaced whole; labels -100 elsewhere."""
    words = np.unique(word_ids[word_ids != NOT_A_WORD])
    masked = input_ids.copy()
    labels = np.full_like(input_ids, -100)
    if len(words) == 0:
        return masked, labels
    count = max(1, round(settings.rate * len(words)))
    chosen = rng.choice(words, size=count, replace=False)
    fate = rng.random(count)  # one decision per word, so a word's characters share it
    positions = np.isin(word_ids, chosen)
    labels[positions] = input_ids[positions]
    fate_of = dict(zip(chosen.tolist(), fate.tolist(), strict=True))
    for position in np.flatnonzero(positions):
        draw = fate_of[int(word_ids[position])]
        if draw < settings.mask_share:
            masked[position] = mask_id
        elif draw < settings.mask_share + settings.random_share:
            masked[position] = rng.choice(replacement_ids)
    return masked, labels


def replacement_vocabulary(tokenizer: Any) -> np.ndarray:
    """Token ids a random replacement may use: the whole vocabulary except special tokens."""
    special = set(tokenizer.all_special_ids)
    return np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)


__all__ = ["NOT_A_WORD", "Blocks", "MaskingSettings", "mask_block", "pack_blocks", "replacement_vocabulary"]
