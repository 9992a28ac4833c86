"""`zhcls export --int8 auto`: which candidate graphs to build, how they are timed on this CPU, and which one is kept.

The exporter (exporter.py) builds each candidate as an export directory and runs the parity gate on it; here,
the candidates' settings, their timing on real dev texts and the choice among those that passed.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhcls.export.quantize import INT8_PRESETS, QuantizeSettings
from zhcls.runtime.timing import interleaved_seconds

# Timed calls per candidate: one text per call, and calls of 32 texts; a few seconds for a small student.
TIMED_CALLS = {"batch1": 60, "batch32": 8}
# Candidates whose batch-1 medians lie within this share of the fastest one's count as tied at batch 1; batch 32
# decides among them (a 5% gap in medians of 60 interleaved calls is within a shared machine's noise).
NEAR_TIE = 0.05
RULE = (
    f"the fastest at batch 1 among the candidates that passed the parity gate; among those within {NEAR_TIE:.0%} "
    "of its batch-1 median, the fastest at batch 32"
)

# (median ms per workload) of each predictor over the calls of one workload
Timer = Callable[[dict[str, Callable[[list[str]], Any]], Sequence[list[str]]], dict[str, float]]


def median_ms(predictors: dict[str, Callable[[list[str]], Any]], calls: Sequence[list[str]]) -> dict[str, float]:
    """Each predictor's median milliseconds over `calls`, the predictors interleaved call by call."""
    seconds = interleaved_seconds(predictors, calls)
    return {name: round(1e3 * statistics.median(values), 4) for name, values in seconds.items()}


@dataclass
class Candidate:
    """One graph `--int8 auto` tries: how it is made, and what it showed."""

    name: str
    quantize: QuantizeSettings | None  # None: the fp32 graph
    folder: Path | None = None  # the candidate as an export directory, once built
    precision: str = "fp32"
    quantization: dict = field(default_factory=dict)
    fusion: dict = field(default_factory=dict)
    error: str | None = None  # why it could not be built
    parity: dict = field(default_factory=dict)
    passed: bool = False
    timings_ms: dict = field(default_factory=dict)  # median ms by workload (batch1, batch32)

    def outcome(self) -> str:
        """Its parity against the floor, or why it was not built."""
        if self.error:
            return f"not built ({self.error})"
        parity = self.parity
        return f"agreement {100 * parity['argmax_agreement']:.2f}%, floor {100 * parity['min_agreement']:.1f}%"

    def record(self) -> dict:
        """What the manifest keeps of it."""
        record = {
            "name": self.name,
            "precision": self.precision,
            "quantization": self.quantization,
            "fused": bool(self.fusion),
            "passed": self.passed,
            "timings_ms": self.timings_ms,
        }
        if self.parity:
            keep = ("argmax_agreement", "min_agreement", "max_abs_logit_diff", "accuracy_export", "texts")
            record["parity"] = {key: self.parity[key] for key in keep if key in self.parity}
        if self.error:
            record["error"] = self.error
        return record


def candidates(user: QuantizeSettings) -> list[Candidate]:
    """The fp32 graph, dynamic int8 with this CPU's preset and (where its weights differ) the portable one, and
    static QDQ int8 with this CPU's preset; `user`'s other settings (per channel, calibration, kept nodes) kept."""
    cpu = user.resolved_preset()
    tried = [
        Candidate("fp32", None),
        Candidate(f"int8 dynamic ({cpu})", dataclasses.replace(user, mode="dynamic", preset=cpu)),
    ]
    if INT8_PRESETS["portable"] != INT8_PRESETS[cpu]:
        tried.append(Candidate("int8 dynamic (portable)", dataclasses.replace(user, mode="dynamic", preset="portable")))
    tried.append(Candidate(f"int8 static QDQ ({cpu})", dataclasses.replace(user, mode="static", preset=cpu)))
    return tried


def timing_calls(texts: Sequence[str]) -> dict[str, list[list[str]]]:
    """The timed calls of each workload, from `texts` (dev texts) in turn: TIMED_CALLS of 1 and of 32 texts."""
    if not texts:
        raise ValueError("timing needs texts")

    def take(start: int, count: int) -> list[str]:
        return [texts[(start + i) % len(texts)] for i in range(count)]

    return {
        "batch1": [take(i, 1) for i in range(TIMED_CALLS["batch1"])],
        "batch32": [take(32 * i, 32) for i in range(TIMED_CALLS["batch32"])],
    }


def time_candidates(
    tried: list[Candidate], predictors: dict[str, Callable[[list[str]], Any]], texts: Sequence[str], timer: Timer
) -> None:
    """Fill in each passing candidate's `timings_ms`, the candidates of `predictors` timed together per workload."""
    for workload, calls in timing_calls(texts).items():
        for name, ms in timer(predictors, calls).items():
            next(c for c in tried if c.name == name).timings_ms[workload] = ms


def choose(tried: list[Candidate]) -> Candidate | None:
    """RULE: the fastest passing candidate at batch 1, batch 32 deciding among those near it; None if none passed."""
    passed = [c for c in tried if c.passed and "batch1" in c.timings_ms]
    if not passed:
        return None
    fastest = min(c.timings_ms["batch1"] for c in passed)
    near = [c for c in passed if c.timings_ms["batch1"] <= fastest * (1 + NEAR_TIE)]
    return min(near, key=lambda c: (c.timings_ms.get("batch32", float("inf")), c.timings_ms["batch1"]))


def selection_record(tried: list[Candidate], chosen: Candidate) -> dict:
    """The manifest's `selection`: the rule, every candidate and the one kept."""
    return {
        "chosen": chosen.name,
        "rule": RULE,
        "timed_calls": dict(TIMED_CALLS),
        "candidates": [c.record() for c in tried],
    }
