"""Progress: a bar on a terminal, a log line every interval elsewhere (nohup, CI logs), nothing when turned off."""

from __future__ import annotations

import io
import logging

import pytest

from zhcls import progress as module


@pytest.fixture
def not_a_terminal(monkeypatch):
    monkeypatch.delenv("ZHCLS_PROGRESS", raising=False)
    monkeypatch.setattr(module.sys, "stderr", io.StringIO())  # isatty() is False
    monkeypatch.setattr(logging.getLogger("zhcls"), "propagate", True)  # the CLI, run by other tests, turns it off


def test_without_a_terminal_progress_is_a_log_line_every_interval(not_a_terminal, monkeypatch, caplog):
    monkeypatch.setattr(module, "LINE_INTERVAL_S", 0.0)
    with caplog.at_level("INFO", logger="zhcls.progress"):
        bar = module.progress(total=4, desc="distill", unit="step")
        bar.update(1)
        bar.set_postfix(loss="0.1234", refresh=False)
        bar.update(1)
        bar.close()
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("distill: 1/4 step (25%)")
    assert lines[1].startswith("distill: 2/4 step (50%)") and "min left" in lines[1] and "loss 0.1234" in lines[1]


def test_lines_wait_for_their_interval_and_follow_an_iterable(not_a_terminal, caplog):
    with caplog.at_level("INFO", logger="zhcls.progress"):
        assert list(module.progress(range(3), desc="pack")) == [0, 1, 2]
    assert not caplog.records  # 30 s had not passed


def test_turned_off_or_on_a_terminal_it_is_tqdm(monkeypatch):
    from tqdm.auto import tqdm

    monkeypatch.setenv("ZHCLS_PROGRESS", "0")
    bar = module.progress(total=2)
    assert isinstance(bar, tqdm) and bar.disable
    monkeypatch.setenv("ZHCLS_PROGRESS", "1")
    bar = module.progress(total=2)
    assert isinstance(bar, tqdm) and not bar.disable
    bar.close()
