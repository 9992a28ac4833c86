"""Interleaved timing: every contender runs every batch, in a rotating order, and is summarized by percentiles."""

from __future__ import annotations

import time

import pytest

from zhcls.bench.timing import interleaved_latency, summarize


def test_summary_percentiles_and_throughput():
    stats = summarize([0.001] * 98 + [0.010, 0.100], texts_per_call=32)
    assert stats["calls"] == 100 and stats["p50_ms"] == pytest.approx(1.0)
    assert stats["p99_ms"] > stats["p90_ms"] >= stats["p50_ms"]
    assert stats["texts_per_s"] == pytest.approx(32_000, rel=1e-6)


def test_every_contender_sees_every_batch_in_rotating_order():
    calls: list[tuple[str, int]] = []

    def contender(name: str, pause: float):
        def run(batch: list[str]) -> None:
            calls.append((name, len(batch)))
            time.sleep(pause)

        return run

    batches = [["a"] * n for n in (1, 2, 3, 4)]
    result = interleaved_latency({"slow": contender("slow", 0.004), "fast": contender("fast", 0.0)}, batches, warmup=1)
    timed = calls[2:]  # after one warm-up batch per contender
    assert sorted(timed) == sorted([(name, n) for name in ("slow", "fast") for n in (1, 2, 3, 4)])
    firsts = [timed[i][0] for i in range(0, len(timed), 2)]
    assert firsts == ["slow", "fast", "slow", "fast"]  # the leading contender rotates
    assert result["slow"]["p50_ms"] > result["fast"]["p50_ms"] and result["fast"]["calls"] == 4
