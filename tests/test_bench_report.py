"""Report logic on hand-made measurements: the Pareto front, int8 verdicts, reference speed-ups, picks."""

from __future__ import annotations

from zhcls.bench.report import finish_report, int8_findings, pareto_front, place_labels, reference_speedups


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
