"""Report logic on hand-made measurements: the Pareto front, int8 verdicts, reference speed-ups, picks."""

from __future__ import annotations

from zhcls.bench.findings import (
    finish_report,
    int8_findings,
    paired_differences,
    pareto_front,
    recommendations,
    reference_speedups,
)
from zhcls.bench.markdown import render_markdown
from zhcls.bench.plot import place_labels


def _contender(kind, accuracy, batch1, batch32=None, seq128=None, precision="fp32", sha="", status="ok"):
    latency = {"batch1": {"p50_ms": batch1}}
    if batch32 is not None:
        latency["batch32"] = {"p50_ms": batch32}
    if seq128 is not None:
        latency["seq128"] = {"p50_ms": seq128}
    return {
        "kind": kind,
        "status": status,
        "accuracy": accuracy,
        "precision": precision,
        "source_sha256": sha,
        "latency": latency,
    }


CONTENDERS = {
    "teacher fp32": _contender("torch", 0.90, 20.0, 200.0, seq128=40.0, sha="t"),
    "student fp32": _contender("onnx", 0.88, 4.0, 40.0, seq128=8.0, sha="s"),
    "student int8": _contender("onnx", 0.879, 2.0, 30.0, seq128=2.0, precision="int8", sha="s"),
    "slow and worse": _contender("torch", 0.85, 30.0),
    "tfidf": _contender("tfidf", 0.89, 10.0),
    "reference": _contender("reference", None, 100.0, seq128=200.0),
    "gpu": {"kind": "torch-cuda", "status": "skipped", "reason": "no CUDA GPU visible to torch"},
}


def test_pareto_front_keeps_only_undominated_contenders_fastest_first():
    assert pareto_front(CONTENDERS) == ["student int8", "student fp32", "tfidf", "teacher fp32"]


def test_a_dominated_contender_leaves_the_front_when_a_better_one_appears():
    better = {**CONTENDERS, "best": _contender("onnx", 0.95, 1.0)}
    assert pareto_front(better) == ["best"]


def test_int8_is_judged_against_its_own_fp32_twin():
    (finding,) = int8_findings(CONTENDERS)
    assert finding["int8"] == "student int8" and finding["fp32"] == "student fp32"
    assert finding["speedup"] == {"batch1": 2.0, "batch32": 40.0 / 30.0}
    assert abs(finding["accuracy_change"] + 0.001) < 1e-9
    assert finding["paid"]


def test_int8_that_loses_accuracy_did_not_pay():
    worse = {**CONTENDERS, "student int8": {**CONTENDERS["student int8"], "accuracy": 0.85}}
    (finding,) = int8_findings(worse)
    assert not finding["paid"]


def test_reference_speedups_are_measured_at_128_tokens():
    speedups = reference_speedups(CONTENDERS)
    assert speedups["student int8"] == 100.0
    assert speedups["teacher fp32"] == 5.0
    assert speedups["reference"] == 1.0
    assert "tfidf" not in speedups  # not timed at 128 tokens here


def test_a_gpu_run_measures_speedups_against_its_cuda_reference():
    gpu_run = {
        "student bf16": _contender("torch-cuda", 0.88, 3.0, seq128=2.0),
        "student int8 CPU": _contender("onnx", 0.88, 2.0, seq128=2.5),
        "reference": _contender("reference-cuda", None, 12.0, seq128=8.0),
    }
    assert reference_speedups(gpu_run) == {"student bf16": 4.0, "student int8 CPU": 3.2, "reference": 1.0}


def test_finish_report_names_a_pick_per_front_member():
    report = finish_report({"contenders": CONTENDERS})
    assert len(report["recommendations"]) == len(report["pareto_front"])
    assert "student int8" in report["recommendations"][0]


def test_labels_of_crowded_points_do_not_overlap():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One family of contenders: nearly the same latency and accuracy, as fp32, ONNX and int8 students are.
    points = [(f"student, variant {i}", 1.0 + 0.05 * i, 0.886 + 0.0002 * (i % 2)) for i in range(5)]
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    axes.scatter([x for _, x, _ in points], [y for _, _, y in points])
    axes.set_xscale("log")
    axes.set_xlim(0.3, 100)
    axes.set_ylim(0.86, 0.92)
    extents = place_labels(axes, points)
    plt.close(figure)
    assert len(extents) == len(points)
    assert not any(a.overlaps(b) for i, a in enumerate(extents) for b in extents[i + 1 :])


def _scored(wrong: list[int], n: int = 200) -> dict:
    accuracy = 1 - len(wrong) / n
    return {"kind": "onnx", "status": "ok", "accuracy": accuracy, "macro_f1": accuracy, "wrong": wrong} | {
        "size_mb": 1.0,
        "load_s": 0.1,
    }


def test_paired_differences_count_only_the_texts_one_of_the_two_gets_right():
    contenders = {
        "shares its errors": _scored(list(range(10))),  # wrong on 10; "leader" on 9 of the same
        "leader": _scored(list(range(1, 10))),
        "errs elsewhere": _scored(list(range(100, 130))),
        "reference": {"kind": "reference", "status": "ok", "accuracy": None},
    }
    pairs = {(p["more_accurate"], p["other"]): p for p in paired_differences(contenders)}
    assert set(pairs) == {
        ("leader", "shares its errors"),
        ("leader", "errs elsewhere"),
        ("shares its errors", "errs elsewhere"),
    }
    close = pairs["leader", "shares its errors"]
    assert (close["only_more_accurate_right"], close["only_other_right"]) == (1, 0)
    assert abs(close["accuracy_difference"] - 1 / 200) < 1e-12
    assert close["p_value"] == 1.0  # one text in its favour is a coin flip
    far = pairs["leader", "errs elsewhere"]
    assert (far["only_more_accurate_right"], far["only_other_right"]) == (30, 9)
    assert far["p_value"] < 0.01


def test_a_difference_of_many_shared_errors_is_not_a_real_one():
    # 12 texts apart in accuracy, but 60 one way and 48 the other: no evidence either is better.
    wrong_a = list(range(0, 48)) + list(range(200, 212))
    wrong_b = list(range(100, 160)) + list(range(200, 212))
    (pair,) = paired_differences({"a": _scored(wrong_a, 1000), "b": _scored(wrong_b, 1000)})
    assert pair["more_accurate"] == "a" and (pair["only_more_accurate_right"], pair["only_other_right"]) == (60, 48)
    assert 0.2 < pair["p_value"] < 0.5


def test_the_report_says_which_differences_the_test_split_can_tell():
    contenders = {
        "leader": _scored(list(range(1, 10))),
        "errs elsewhere": _scored(list(range(100, 130))),
        "shares its errors": _scored(list(range(10))),
    }
    report = finish_report(
        {
            "contenders": contenders,
            "data": {"data": "toy", "test_size": 200, "sizes": {"test": 200}},
            "settings": {"batch1_texts": 1, "batch32_batches": 1, "fixed_calls": 1, "fixed_lengths": []},
            "machine": {
                "cpu": {"model": "cpu", "cores": 2, "flags": {}},
                "threads": 2,
                "python": "3",
                "libraries": {},
            },
        }
    )
    markdown = render_markdown(report)
    assert "| contender | #2 | #3 |" in markdown
    assert "| #1 leader (0.9550) | +0.0050 (p 1) | +0.1050 (p" in markdown
    assert "| #3 errs elsewhere (0.8500) | | |" in markdown
    assert "ahead at p < 0.05 of errs elsewhere; not told apart from shares its errors." in markdown


def test_a_pick_whose_gain_the_test_split_cannot_tell_says_so():
    def timed(wrong: list[int], batch1: float) -> dict:
        return {**_scored(wrong), "latency": {"batch1": {"p50_ms": batch1}}}

    contenders = {
        "fast": timed(list(range(100, 130)), 1.0),
        "slower, clearly better": timed(list(range(1, 10)), 2.0),
        "slowest, one text better": timed(list(range(2, 10)), 3.0),
    }
    fast, clearly, barely = recommendations(contenders, paired_differences(contenders))
    assert "not told apart" not in fast and "not told apart" not in clearly
    assert barely.endswith("not told apart from the faster slower, clearly better (p 1)")
