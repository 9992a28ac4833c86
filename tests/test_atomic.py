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


def test_an_output_is_refused_under_a_file_over_an_input_or_when_it_exists(tmp_path):
    from zhcls.atomic import check_output
    from zhcls.errors import UserError

    data = tmp_path / "data.csv"
    data.write_text("text,label\n")
    with pytest.raises(UserError, match=r"data.csv is a file, not a directory"):
        check_output(data / "out")
    with pytest.raises(UserError, match=r"--output .*data.csv would replace the input"):
        check_output(data, inputs=[data], overwrite=True)
    with pytest.raises(UserError, match=r"would replace the input"):
        check_output(tmp_path, inputs=["/no/such/file", data], overwrite=True)  # a folder holding an input
    with pytest.raises(UserError, match=r"already exists; pass --overwrite to replace it"):
        check_output(data, directory=False)
    with pytest.raises(UserError, match=r"already exists; remove it or choose another --output"):
        check_output(data, overwrite=None, directory=False)
    with pytest.raises(UserError, match=r"is a directory; name a file"):
        check_output(tmp_path, directory=False, overwrite=True)
    with pytest.raises(UserError, match=r"is a file; name a folder"):
        check_output(data, overwrite=True)
    assert check_output(data, overwrite=True, directory=False) == data
    assert check_output(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


def test_a_second_run_on_the_same_output_is_refused_naming_the_first(tmp_path):
    import os
    import subprocess
    import sys

    from zhcls.errors import UserError

    run = RunDir(tmp_path / "model")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.work.mkdir()
        (run.work / "lock").write_text(f"{holder.pid}\n")
        with pytest.raises(UserError, match=rf"being written by another run \(pid {holder.pid}"):
            run.check(resume=True, overwrite=True)
        with pytest.raises(UserError, match=rf"pid {holder.pid}"):
            run.prepare(resume=False)
        assert (run.work / "lock").read_text() == f"{holder.pid}\n"
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is stale and taken over; starting afresh empties the rest of the work area.
    (run.work / "checkpoint").mkdir()
    run.check(resume=False, overwrite=True)
    run.prepare(resume=False)
    assert [p.name for p in run.work.iterdir()] == ["lock"]
    assert (run.work / "lock").read_text().strip() == str(os.getpid())
    run.best.mkdir()
    run.publish_best()
    assert not run.work.exists()
