"""Chinese word segmentation (jieba), shared by whole-word masking, augmentation and the TF-IDF baseline."""

from __future__ import annotations

import functools
import logging
from typing import Any

from zhcls.errors import require


@functools.cache
def _jieba() -> Any:
    # Once: setting jieba's log level clears the logging module's caches, slower than segmenting a review.
    jieba = require("jieba", "train")
    jieba.setLogLevel(logging.WARNING)
    return jieba


def segment(text: str) -> list[str]:
    """jieba's words, white space kept so that joining them gives the text back."""
    return _jieba().lcut(text)


@functools.cache
def _dictionary() -> dict[str, int]:
    tokenizer = _jieba().dt
    tokenizer.check_initialized()
    return tokenizer.FREQ


def is_known_word(word: str) -> bool:
    """Whether `word` is in jieba's dictionary (its prefix table also lists non-words, with frequency 0)."""
    return _dictionary().get(word, 0) > 0


def words_without_space(text: str) -> list[str]:
    """jieba's words of `text` without pure white space (features for the TF-IDF baseline)."""
    return [word for word in segment(text) if word.strip()]
