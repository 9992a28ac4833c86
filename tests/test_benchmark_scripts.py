"""The benchmark scripts' composed command lines: every one is a command zhcls accepts.

The scripts build dozens of `zhcls` invocations (distillation variants, export variants) that only a long run
would otherwise exercise; a renamed flag would surface hours into it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest
from conftest import parse_only

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(autouse=True)
def scripts_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield
    for name in ("distill", "export", "bench", "teacher_mixtures", "latency", "_common"):
        sys.modules.pop(name, None)  # the scripts' plain module names must not shadow anything later


@pytest.mark.parametrize("name", ["chnsenticorp", "online-shopping-10"])
def test_every_distillation_variant_is_a_command_zhcls_accepts(tmp_path, name):
    import distill

    runs = distill.variants(
        name,
        tmp_path / "teacher",
        augment_mlm=str(tmp_path / "mlm"),
        unlabeled=str(tmp_path / "unlabeled.txt") if name == "chnsenticorp" else None,
        tfidf=tmp_path / "tfidf",
        more_unlabeled=str(tmp_path / "more.txt") if name == "chnsenticorp" else None,
    )
    assert len(runs) >= 8
    for label, args in runs.items():
        command = [args[0], "--data", name, *distill.COMMON, *args[1:], "--output", tmp_path / "out", "--overwrite"]
        try:
            parse_only(command)
        except click.ClickException as exc:
            pytest.fail(f"{label}: {exc.format_message()}")


def test_a_misspelt_flag_is_caught():
    with pytest.raises(click.exceptions.NoSuchOption):
        parse_only(["distill", "--teacher", "t", "--student", "2x128", "--data", "x.csv", "--soft-wieght", "1"])


def test_every_export_variant_is_a_command_zhcls_accepts(tmp_path):
    import export

    for flags in export.VARIANTS.values():
        parse_only(["export", tmp_path / "model", "--output", tmp_path / "out", *flags])


def test_the_mixture_grid_covers_every_weighting_in_tenths_once():
    import teacher_mixtures

    grid = teacher_mixtures.weight_grid(3)
    assert len(grid) == len(set(grid)) == 66  # (10 + 2 choose 2)
    assert all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    assert {(1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.3, 0.3, 0.4)} <= set(grid)


def test_a_mixture_can_be_right_where_each_member_alone_is_wrong():
    import numpy as np
    import teacher_mixtures

    gold = np.array([0, 1])
    sure_on_the_first = np.array([[0.9, 0.1], [0.6, 0.4]])  # right on text 0, barely wrong on text 1
    sure_on_the_second = np.array([[0.4, 0.6], [0.1, 0.9]])  # barely wrong on text 0, right on text 1
    probabilities = np.stack([sure_on_the_first, sure_on_the_second])
    accuracies = teacher_mixtures.mixture_accuracies(probabilities, gold, [(1.0, 0.0), (0.0, 1.0), (0.5, 0.5)])
    assert accuracies.tolist() == [0.5, 0.5, 1.0]


def test_the_latency_script_says_how_to_run_it(capsys):
    import latency

    with pytest.raises(SystemExit) as exit_info:
        latency.main(["--help"])
    assert exit_info.value.code == 0
    assert "--fasttext" in capsys.readouterr().out


def test_the_latency_script_takes_the_best_student_of_each_size(tmp_path):
    import json

    import latency

    folder = tmp_path / "distill" / "toy"
    for run, layers, hidden, accuracy in (("v1", 2, 128, 0.80), ("v2", 2, 128, 0.85), ("v3", 4, 256, 0.82)):
        (folder / run).mkdir(parents=True)
        (folder / run / "metrics.json").write_text(json.dumps({"dev": {"accuracy": accuracy, "macro_f1": accuracy}}))
        (folder / run / "config.json").write_text(json.dumps({"num_hidden_layers": layers, "hidden_size": hidden}))
    assert latency.students_by_size("toy", tmp_path) == {"2×128": folder / "v2", "4×256": folder / "v3"}


def test_the_latency_script_times_every_path_of_an_export(exported_classifier):
    import latency

    exports = {"tiny": exported_classifier}
    characters = "房间很干净服务也好" * 20
    results = {n: latency.time_length(exports, None, characters, n, threads=2, calls=2) for n in (16, 32, 64)}
    for n in (16, 32):
        assert set(results[n]["tiny"]) == {"text_characters", *latency.PATHS}
        assert all(results[n]["tiny"][path]["p50_ms"] > 0 for path in latency.PATHS)
    assert results[64] == {}  # the tiny model takes 32 tokens at most
    predicted = []
    fasttext = type("FastText", (), {"predict_proba": lambda self, texts: predicted.append(texts)})()
    with_fasttext = latency.time_length(exports, fasttext, characters, 16, threads=1, calls=2)
    assert set(with_fasttext) == {"tiny", latency.FASTTEXT} and predicted[-1] == [characters[:14]]
    assert set(with_fasttext["tiny"]) == {"text_characters", latency.SESSION_PATHS[0], *latency.PATHS[3:]}
    classifier, _ = latency.paths_of(exported_classifier, threads=2)
    assert len(classifier.encode([latency.text_of_tokens(classifier, characters, 16)])[0]) == 16
    payload = {
        "cpu": {"model": "cpu", "cores": 2, "flags": {"avx2": True}},
        "usable_cores": 2,
        "threads": 2,
        "onnxruntime": "1",
        "data": "toy",
        "calls": 2,
        "tokens": [16, 32, 64],
        "sizes": {"tiny": {"export": "e"}},
        "by_tokens": {str(n): result for n, result in results.items()},
    }
    table = "\n".join(latency.report_lines(payload))
    assert "| Classifier.predict | " in table and table.count("| session, ") == 3 and "| fastText" not in table
