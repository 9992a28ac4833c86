"""`zhcls.runtime.batching`: splitting length-sorted texts into model calls."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhcls.runtime import Classifier
from zhcls.runtime.batching import length_batches

sorted_lengths = st.lists(st.integers(1, 512), max_size=40).map(sorted)


def _cost(lengths, runs, overhead):
    return sum((end - start) * lengths[end - 1] + overhead for start, end in runs)


def _cheapest_by_brute_force(lengths, batch_size, overhead):
    @functools.cache
    def cheapest(start):
        if start == len(lengths):
            return 0
        return min(
            (end - start) * lengths[end - 1] + overhead + cheapest(end)
            for end in range(start + 1, min(start + batch_size, len(lengths)) + 1)
        )

    return cheapest(0)


@given(lengths=sorted_lengths, batch_size=st.integers(1, 40), overhead=st.integers(0, 200))
def test_runs_cover_every_text_once_in_order_and_never_exceed_the_batch_size(lengths, batch_size, overhead):
    runs = length_batches(lengths, batch_size, overhead)
    assert [i for start, end in runs for i in range(start, end)] == list(range(len(lengths)))
    assert all(1 <= end - start <= batch_size for start, end in runs)


@given(
    lengths=st.lists(st.integers(1, 512), max_size=12).map(sorted),
    batch_size=st.integers(1, 6),
    overhead=st.integers(0, 200),
)
def test_the_split_is_the_cheapest_there_is(lengths, batch_size, overhead):
    runs = length_batches(lengths, batch_size, overhead)
    assert _cost(lengths, runs, overhead) == _cheapest_by_brute_force(lengths, batch_size, overhead)


@given(lengths=sorted_lengths, batch_size=st.integers(1, 40), overhead=st.integers(0, 200))
def test_never_costlier_than_fixed_chunks(lengths, batch_size, overhead):
    fixed = [(start, min(start + batch_size, len(lengths))) for start in range(0, len(lengths), batch_size)]
    assert _cost(lengths, length_batches(lengths, batch_size, overhead), overhead) <= _cost(lengths, fixed, overhead)


def test_a_long_outlier_gets_a_call_of_its_own():
    assert length_batches([10] * 31 + [500], 32, overhead=32) == [(0, 31), (31, 32)]


def test_texts_of_one_length_take_as_few_calls_as_fixed_chunks():
    assert sorted(end - start for start, end in length_batches([64] * 70, 32)) == [6, 32, 32]


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        length_batches([3, 4], 0)


def test_the_classifier_runs_a_long_text_apart_from_short_ones_with_the_same_answers(exported_fp32):
    classifier = Classifier.load(exported_fp32, threads=1, batch_size=32)
    texts = ["房间很干净"] * 20 + ["服务一般，早餐很差。" * 40]
    widths = []
    run = classifier._run
    classifier._run = lambda batch: widths.append(max(map(len, batch))) or run(batch)
    together = classifier.predict_proba(texts)
    assert len(widths) == 2 and widths[0] < widths[1]
    classifier._run = run
    alone = np.stack([classifier.predict_proba([text])[0] for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
