"""Splits are stratified, deterministic under a seed, recorded, and never share a text."""

from __future__ import annotations

import json
from collections import Counter

from conftest import synthetic_rows, write_csv

from zhcls.data import DataSpec, SplitRatios, load_splits
from zhcls.data.splits import stratified_split


def test_stratified_split_is_deterministic_and_proportional():
    labels = ["a"] * 700 + ["b"] * 250 + ["c"] * 50
    first = stratified_split(labels, SplitRatios(0.8, 0.1, 0.1), seed=3)
    assert first == stratified_split(labels, SplitRatios(0.8, 0.1, 0.1), seed=3)
    assert first != stratified_split(labels, SplitRatios(0.8, 0.1, 0.1), seed=4)
    every = first["train"] + first["dev"] + first["test"]
    assert sorted(every) == list(range(1000))  # a partition: nothing lost, nothing twice
    for name, share in (("train", 0.8), ("dev", 0.1), ("test", 0.1)):
        counts = Counter(labels[i] for i in first[name])
        assert counts == {"a": round(700 * share), "b": round(250 * share), "c": round(50 * share)}


def test_a_class_with_one_member_stays_in_train():
    parts = stratified_split(["a"] * 20 + ["rare"], SplitRatios(0.5, 0.25, 0.25), seed=0)
    assert 20 in parts["train"]


def test_duplicates_never_cross_splits(tmp_path):
    rows = synthetic_rows(200)
    rows = rows + rows[:80] + [(rows[0][0], "neg" if rows[0][1] == "pos" else "pos")]  # repeats and a conflict
    path = write_csv(tmp_path / "dups.csv", rows)
    splits = load_splits(DataSpec(str(path), split_seed=1))
    texts = [set(splits.split(name).texts) for name in ("train", "dev", "test")]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert rows[0][0] not in texts[0] | texts[1] | texts[2]  # seen with two labels: dropped whole
    assert splits.info["duplicates_removed"] == 80 + 2
    assert sum(splits.info["sizes"].values()) == 199


def test_without_dedup_duplicates_stay(tmp_path):
    rows = synthetic_rows(100)
    path = write_csv(tmp_path / "dups.csv", rows + rows[:10])
    splits = load_splits(DataSpec(str(path), dedup=False))
    assert sum(splits.info["sizes"].values()) == 110 and splits.info["duplicates_removed"] == 0


def test_separate_test_file_is_cleaned_against_train(tmp_path):
    rows = synthetic_rows(120)
    train = write_csv(tmp_path / "train.csv", rows[:100])
    test = write_csv(tmp_path / "test.csv", rows[90:120])  # 10 texts also in train
    splits = load_splits(DataSpec(str(train), test=str(test)))
    assert splits.info["sizes"]["test"] <= 20
    assert not set(splits.test.texts) & set(splits.train.texts)
    assert splits.info["sizes"]["train"] + splits.info["sizes"]["dev"] == 100


def test_split_command_records_seed_and_writes_files(tmp_path, run_cli, synthetic_csv):
    code, out, _ = run_cli("split", "--data", synthetic_csv, "--split-seed", "7", "--output", tmp_path / "out")
    assert code == 0 and "train 240, dev 30, test 30 (seed 7" in out
    info = json.loads((tmp_path / "out" / "split.json").read_text(encoding="utf-8"))
    assert info["split_seed"] == 7 and info["split_ratios"] == [0.8, 0.1, 0.1] and info["labels"] == ["neg", "pos"]
    lines = (tmp_path / "out" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 30 and set(json.loads(lines[0])) == {"text", "label"}


def test_extra_training_data_never_brings_a_dev_or_test_text(tmp_path):
    rows = synthetic_rows(200)
    main = write_csv(tmp_path / "main.csv", rows)
    plain = load_splits(DataSpec(str(main)))
    held_out = plain.dev.texts[:5] + plain.test.texts[:7]
    fresh = [(text + "呢", label) for text, label in synthetic_rows(30, seed=9)]
    extra_rows = [(text, "pos") for text in held_out] + [(plain.train.texts[0], plain.train.labels[0])] + fresh
    extra = write_csv(tmp_path / "extra.csv", extra_rows + fresh[:3])  # a repeat inside the extra file too
    spec = DataSpec(str(main), extra_train=(str(extra),))
    grown = load_splits(spec)
    assert grown.dev.texts == plain.dev.texts and grown.test.texts == plain.test.texts
    assert not set(grown.train.texts) & (set(grown.dev.texts) | set(grown.test.texts))
    assert grown.train.texts[: len(plain.train)] == plain.train.texts
    assert grown.train.texts[len(plain.train) :] == [text for text, _ in fresh]
    assert grown.info["sizes"]["train"] == len(plain.train) + 30
    assert grown.info["extra_train_counts"] == [
        {"data": str(extra), "added": 30, "dev_test_dropped": 12, "already_in_train": 4}
    ]
    assert DataSpec.from_dict(spec.to_dict()) == spec  # a distillation reading the teacher's record gets it too


def test_extra_training_data_with_other_labels_is_refused(tmp_path, run_cli):
    main = write_csv(tmp_path / "main.csv", synthetic_rows(100))
    extra = write_csv(tmp_path / "extra.csv", [("完全不同的一句话", "neutral")])
    code, _, err = run_cli("split", "--data", main, "--extra-train", extra)
    assert code == 2 and "label 'neutral'" in err and "extra training data" in err and "Traceback" not in err


def test_split_command_reports_what_the_extra_data_added(tmp_path, run_cli):
    main = write_csv(tmp_path / "main.csv", synthetic_rows(100))
    extra = write_csv(tmp_path / "extra.csv", [(text + "啊", label) for text, label in synthetic_rows(20, seed=5)])
    code, out, _ = run_cli("split", "--data", main, "--extra-train", extra)
    assert code == 0 and "train 100, dev 10, test 10" in out
    assert f"extra training data {extra}: 20 added, 0 dev/test texts dropped, 0 already in train" in out


def test_spellings_of_one_label_become_one_class_said_in_one_line(tmp_path, caplog):
    import pytest

    from zhcls.errors import UserError

    rows = [(text, ["1", "1.0", "True", "0", "0.0", "False"][i % 6]) for i, (text, _) in enumerate(synthetic_rows(120))]
    path = write_csv(tmp_path / "spellings.csv", rows)
    with caplog.at_level("WARNING", logger="zhcls.data.splits"):
        splits = load_splits(DataSpec(str(path)))
    assert splits.labels == ["0", "1"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: label spellings of one class merged: 0.0, False → 0; 1.0, True → 1"
    ]
    mixed = write_csv(tmp_path / "mixed.csv", [(text, ["1", "1.0", "pos"][i % 3]) for i, (text, _) in enumerate(rows)])
    with pytest.raises(UserError, match=r"labels mix spellings of one number \(1, 1.0\) with pos"):
        load_splits(DataSpec(str(mixed)))
    clean = write_csv(tmp_path / "clean.csv", [(text, ["True", "False"][i % 2]) for i, (text, _) in enumerate(rows)])
    assert load_splits(DataSpec(str(clean))).labels == ["False", "True"]  # one spelling a class: left as written


def test_split_ratios_must_be_finite_and_every_split_filled(tmp_path):
    import pytest

    from zhcls.errors import UserError

    with pytest.raises(UserError, match="split ratios"):
        SplitRatios.parse("nan,0.5,0.5")
    path = write_csv(tmp_path / "five.csv", synthetic_rows(5))
    with pytest.raises(UserError, match=r"five.csv: the dev split is empty \(5 distinct examples"):
        load_splits(DataSpec(str(path)))
