"""Reproduce benchmarks/results/bench-NAME.{md,json,png}: the table users judge the toolkit by, on this CPU.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/bench.py [--datasets chnsenticorp online-shopping-10]

For each data set, one `zhcls bench` run with: the teacher in PyTorch fp32 and as our fused dynamic int8,
the best distilled student on dev in PyTorch fp32, ONNX fp32 (fused), our int8 and Optimum's
ORTQuantizer int8, TF-IDF + logistic regression, fastText (autotuned on dev, or its tutorial recipe where that
is better on dev; with no size limit and with one of 2 MB), and a 12×768 BERT-base-shaped model in PyTorch
fp32 as the speed reference. Needs the teachers (benchmarks/gpu_e2e.sh), the students (benchmarks/distill.py)
and the TF-IDF baselines (benchmarks/foundation.py); exports and the fastText models are made here when
missing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import ROOT, add_teacher_name, publish_report, zhcls
from export import OPTIMUM, OURS_INT8, best_student, export_all

from zhcls.baselines.fasttext import how_tuned

# Unconstrained, fastText's autotune picks models of a gigabyte and more; this one is the student's size.
FASTTEXT_SMALL = "2M"


def fasttext_baseline(name: str, work: Path, max_size: str | None = None) -> Path:
    """The bench's fastText model of one data set (of at most `max_size`), fit when missing."""
    folder = work / "bench" / name / ("fasttext" if max_size is None else f"fasttext-{max_size}")
    if not (folder / "metrics.json").exists():
        cap = [] if max_size is None else ["--max-size", max_size]
        zhcls("baseline", "--kind", "fasttext", "--data", name, "--autotune-seconds", "300", *cap, "--output", folder)
    return folder


def contenders(name: str, work: Path, teachers: Path, teacher_name: str = "teacher") -> list[str]:
    """The contender arguments of one data set's bench run, exporting what is missing."""
    teacher = teachers / name / teacher_name
    student = best_student(name, work, teacher_name)
    if student is None or not (teacher / "metrics.json").exists():
        raise SystemExit(f"{name}: run benchmarks/gpu_e2e.sh and benchmarks/distill.py first")
    wanted = ("fp32 fused", OURS_INT8)
    teacher_exports = export_all(teacher, work, name, wanted)
    student_exports = export_all(student, work, name, wanted)
    fasttext, fasttext_small = fasttext_baseline(name, work), fasttext_baseline(name, work, FASTTEXT_SMALL)
    return [
        f"teacher, PyTorch fp32={teacher}",
        f"teacher, int8 (zhcls)={teacher_exports[OURS_INT8]}",
        f"student, PyTorch fp32={student}",
        f"student, ONNX fp32={student_exports['fp32 fused']}",
        f"student, int8 (zhcls)={student_exports[OURS_INT8]}",
        f"student, int8 (Optimum)={student_exports[OPTIMUM]}",
        f"TF-IDF + logistic regression=tfidf:{work / 'foundation' / name / 'baseline'}",
        f"fastText ({how_tuned(fasttext)})=fasttext:{fasttext}",
        f"fastText ≤ {FASTTEXT_SMALL}B ({how_tuned(fasttext_small)})=fasttext:{fasttext_small}",
        "BERT-base shape 12×768, PyTorch fp32 (speed reference)=reference:base",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["chnsenticorp", "online-shopping-10"])
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "pretrained")
    parser.add_argument("--threads", type=int, default=2)
    add_teacher_name(parser)
    args = parser.parse_args()
    for name in args.datasets:
        report = args.work / "bench" / name / "report"
        zhcls(
            "bench",
            *contenders(name, args.work, args.teachers, args.teacher_name),
            *("--data", name, "--report", report, "--overwrite", "--threads", args.threads),
        )
        publish_report(report, f"bench-{name}")


if __name__ == "__main__":
    main()
