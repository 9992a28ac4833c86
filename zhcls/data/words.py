"""Chinese word segmentation (jieba), shared by whole-word masking, augmentation and the TF-IDF baseline."""

from __future__ import annotations

import logging

from zhcls.errors import require


def segment(text: str) -> list[str]:
    """jieba's words, white space kept so that joining them gives the text back."""
    jieba = require("jieba", "train")
    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text)


def words_without_space(text: str) -> list[str]:
    """jieba's words of `text` without pure white space (features for the TF-IDF baseline)."""
    return [word for word in segment(text) if word.strip()]
