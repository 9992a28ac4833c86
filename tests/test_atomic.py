"""Run directories appear whole or not at all."""

from __future__ import annotations

import json

import pytest

from zhcls.atomic import RunDir


def _finished_run(tmp_path):
    run = RunDir(tmp_path / "model")
    run.prepare(resume=False)
    run.best.mkdir()
    (run.best / "config.json").write_text('{"hidden_dropout_prob": 0.0}')
    run.log.write_text('{"step": 1}\n')
    return run


def test_the_best_model_is_published_with_its_log_and_records(tmp_path):
    run = _finished_run(tmp_path)
    output = run.publish_best({"metrics.json": {"dev": 0.9}}, amend=lambda staged: (staged / "extra").write_text("x"))
    assert sorted(p.name for p in output.iterdir()) == ["config.json", "extra", "metrics.json", "train_log.jsonl"]
    assert json.loads((output / "metrics.json").read_text()) == {"dev": 0.9}
    assert not run.work.exists()


def test_a_failure_while_assembling_leaves_no_output_and_keeps_the_work_area(tmp_path):
    run = _finished_run(tmp_path)

    def broken(staged):
        raise OSError("disk full")

    with pytest.raises(OSError):
        run.publish_best({"metrics.json": {}}, amend=broken)
    assert not run.output.exists()
    assert (run.best / "config.json").exists() and run.log.exists()


def test_republishing_replaces_an_older_output_whole(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "stale.bin").write_text("old")
    output = _finished_run(tmp_path).publish_best()
    assert sorted(p.name for p in output.iterdir()) == ["config.json", "train_log.jsonl"]
