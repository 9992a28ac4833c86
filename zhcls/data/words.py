"""Chinese word segmentation (jieba), shared by whole-word masking, augmentation and the TF-IDF baseline."""

from __future__ import annotations

import functools
import logging
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain, islice
from typing import Any

from zhcls.errors import require
from zhcls.runtime.cpu import usable_cores

log = logging.getLogger(__name__)


@functools.cache
def _jieba() -> Any:
    # Once: setting jieba's log level clears the logging module's caches, slower than segmenting a review.
    jieba = require("jieba", "train")
    jieba.setLogLevel(logging.WARNING)
    return jieba


def segment(text: str) -> list[str]:
    """jieba's words, white space kept so that joining them gives the text back."""
    return _jieba().lcut(text)


def word_lengths(texts: Sequence[str]) -> list[list[int]]:
    """The length of each of jieba's words, text by text: a worker's answer, small to send back."""
    return [[len(word) for word in segment(text)] for text in texts]


def segmented(batches: Iterable[list[str]], workers: int | None = None) -> Iterator[tuple[list[str], list[list[int]]]]:
    """Each batch with its texts' word lengths (`word_lengths`), in order.

    jieba is pure Python and holds the GIL, so a corpus of more than one batch is segmented in `workers`
    processes (default: every usable core) while the caller works on the batches already done.
    """
    workers = usable_cores() if workers is None else workers
    batches = iter(batches)
    head = list(islice(batches, 2))
    if workers <= 1 or len(head) < 2:
        for batch in chain(head, batches):
            yield batch, word_lengths(batch)
        return
    # spawn: forking a process that runs torch's and tokenizers' thread pools may deadlock the child
    sent: deque = deque()  # (batch, future), oldest first
    unsent: list[list[str]] = []
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for batch in chain(head, batches):
                unsent.append(batch)
                sent.append((batch, pool.submit(word_lengths, batch)))
                unsent.clear()
                while sent and (len(sent) > 2 * workers or sent[0][1].done()):  # bounded read-ahead
                    yield sent[0][0], sent[0][1].result()
                    sent.popleft()
            while sent:
                yield sent[0][0], sent[0][1].result()
                sent.popleft()
    except BrokenProcessPool as error:  # e.g. a main module that a spawned process cannot import again
        log.warning("segmenting in one process: the worker processes failed (%s)", error)
        for batch in chain((batch for batch, _ in sent), unsent, batches):
            yield batch, word_lengths(batch)


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
