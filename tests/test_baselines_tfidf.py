"""The TF-IDF baseline learns, picks C on dev, and reloads from safetensors + JSON with identical output."""

from __future__ import annotations

import json

import numpy as np

from zhcls.baselines.tfidf import TfidfBaseline, run_baseline
from zhcls.data import DataSpec, load_splits


def test_baseline_learns_and_round_trips(tmp_path, synthetic_csv):
    splits = load_splits(DataSpec(str(synthetic_csv)))
    metrics = run_baseline(splits, tmp_path / "baseline")
    assert metrics["test"]["accuracy"] >= 0.8
    assert set(metrics["dev_accuracy_by_c"]) == {"1.0", "4.0", "16.0"}
    assert metrics["dev_accuracy_by_c"][str(metrics["c"])] == max(metrics["dev_accuracy_by_c"].values())
    saved = {p.name for p in (tmp_path / "baseline").iterdir()}
    assert saved == {"tfidf.json", "tfidf.safetensors", "metrics.json"}

    fitted, _ = TfidfBaseline.fit(splits)
    loaded = TfidfBaseline.load(tmp_path / "baseline")
    texts = splits.test.texts
    np.testing.assert_allclose(loaded.predict_proba(texts), fitted.predict_proba(texts), rtol=1e-6)
    assert loaded.labels == ["neg", "pos"]

    # A refit on the same training texts is the same model (same features, same C); on fewer texts it is not.
    ids = [loaded.labels.index(label) for label in splits.train.labels]
    refit = loaded.refit(splits.train.texts, ids)
    assert refit.c == loaded.c
    np.testing.assert_allclose(refit.predict_proba(texts), loaded.predict_proba(texts), rtol=1e-5)
    fewer = loaded.refit(splits.train.texts[:40], ids[:40])
    assert not np.allclose(fewer.predict_proba(texts), loaded.predict_proba(texts), rtol=1e-3)


def test_baseline_command(run_cli, tmp_path, synthetic_csv):
    code, out, _ = run_cli("baseline", "--data", synthetic_csv, "--json", tmp_path / "m.json")
    assert code == 0 and "TF-IDF baseline" in out and "confusion matrix" in out
    metrics = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert metrics["data"]["sizes"]["test"] == 30 and 0 <= metrics["test"]["accuracy"] <= 1
