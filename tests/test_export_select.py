"""`zhcls export --int8 auto`'s choice: the candidates tried on each CPU, the timed calls, and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhcls.errors import UserError
from zhcls.export import select
from zhcls.export.exporter import ExportConfig
from zhcls.export.quantize import QuantizeSettings


@pytest.mark.parametrize("vnni", [True, False])
def test_the_candidates_are_fp32_dynamic_for_this_cpu_and_portable_where_it_differs_and_static(monkeypatch, vnni):
    monkeypatch.setattr("zhcls.export.quantize.has_vnni", lambda: vnni)
    tried = select.candidates(QuantizeSettings(mode="auto", keep_float=("Gather",), calibration_size=50))
    cpu = "avx512_vnni" if vnni else "avx2"
    expected = ["fp32", f"int8 dynamic ({cpu})"] + (["int8 dynamic (portable)"] if vnni else [])
    assert [c.name for c in tried] == [*expected, f"int8 static QDQ ({cpu})"]
    assert tried[0].quantize is None
    for candidate in tried[1:]:
        assert candidate.quantize.keep_float == ("Gather",) and candidate.quantize.calibration_size == 50
        assert candidate.quantize.mode in ("dynamic", "static") and candidate.quantize.preset != "auto"


def _timed(name: str, batch1: float, batch32: float, passed: bool = True) -> select.Candidate:
    return select.Candidate(name, None, passed=passed, timings_ms={"batch1": batch1, "batch32": batch32})


def test_the_fastest_at_batch_1_is_kept():
    tried = [_timed("a", 1.0, 30.0), _timed("b", 1.5, 10.0), _timed("c", 0.5, 10.0, passed=False)]
    assert select.choose(tried).name == "a"  # c is faster but failed the gate; b is not near a at batch 1


def test_batch_32_decides_among_candidates_near_the_fastest_at_batch_1():
    tried = [_timed("a", 1.0, 30.0), _timed("b", 1.0 * (1 + select.NEAR_TIE) - 1e-9, 20.0), _timed("c", 1.2, 5.0)]
    assert select.choose(tried).name == "b"


def test_no_candidate_that_passed_means_no_choice():
    assert select.choose([_timed("a", 1.0, 2.0, passed=False), select.Candidate("b", None, error="broke")]) is None


def test_the_timed_calls_cycle_through_the_texts():
    calls = select.timing_calls(["一", "二", "三"])
    assert {workload: len(each) for workload, each in calls.items()} == select.TIMED_CALLS
    assert all(len(call) == 1 for call in calls["batch1"]) and all(len(call) == 32 for call in calls["batch32"])
    assert calls["batch1"][:4] == [["一"], ["二"], ["三"], ["一"]]


def test_the_default_timer_gives_each_predictor_its_median_in_ms():
    seen = []
    medians = select.median_ms({"x": seen.append, "y": lambda call: None}, [["a"], ["b"], ["c"]])
    assert set(medians) == {"x", "y"} and all(ms >= 0 for ms in medians.values())
    assert seen[-3:] == [["a"], ["b"], ["c"]]  # after the warm-up, each call once


def test_a_candidate_record_keeps_what_the_manifest_needs():
    candidate = _timed("int8 dynamic (avx2)", 1.0, 9.0)
    candidate.precision, candidate.fusion = "int8", {"Attention": 2}
    candidate.parity = {"argmax_agreement": 1.0, "min_agreement": 0.99, "texts": 30, "split": "dev", "near_ties": 0}
    record = candidate.record()
    assert record["fused"] is True and record["passed"] is True and record["timings_ms"]["batch1"] == 1.0
    assert record["parity"] == {"argmax_agreement": 1.0, "min_agreement": 0.99, "texts": 30}
    assert "error" not in record and candidate.outcome() == "agreement 100.00%, floor 99.0%"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"verify": False}, "leave out --no-verify"),
        ({"web": True}, "--web and --trt take --int8 dynamic or static"),
    ],
)
def test_auto_needs_the_parity_gate_and_no_fixed_layout(changes, says):
    with pytest.raises(UserError, match=says):
        ExportConfig(model=Path("m"), output=Path("o"), int8=QuantizeSettings(mode="auto"), **changes)


def test_auto_tries_the_presets_itself():
    with pytest.raises(UserError, match="leave out --int8-preset"):
        QuantizeSettings(mode="auto", preset="avx2")
