"""Reproduce benchmarks/results/teacher-mixtures-NAME.{md,json}: how far the teachers on hand can carry a student.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/teacher_mixtures.py [--name chnsenticorp]

A student distilled from a mixture of classifiers' probabilities (`zhcls distill --extra-teacher`) has so far
ended below its mixture on dev. This scores each classifier on hand for a data set on dev, alone and in every
mixture on a grid of weights (steps of 0.1 summing to 1): the pretrained teachers (gpu_e2e.sh's, those of
`--teacher-names` that exist), TF-IDF (benchmarks/foundation.py) and the bench's unconstrained fastText
(benchmarks/bench.py, fit here when missing). Before hours of distillation, it tells whether any mixture
promises a student ahead of the benched one. The best mixture is picked on dev and judged on dev, so its
number is an upper estimate, the more so as the grid holds weightings `zhcls distill` cannot make (it mixes its
teacher with the plain mean of its extra teachers, `zhcls.distill.ensemble.mix`). Dev only: test is not read.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from _common import ROOT, write_results
from bench import fasttext_baseline

from zhcls.data import DataSpec, load_splits
from zhcls.distill.ensemble import extra_teacher_probabilities

STEPS = 10  # weights in tenths
SHOWN = 12


def weight_grid(members: int, steps: int = STEPS) -> list[tuple[float, ...]]:
    """Every way to give `members` classifiers weights in 1/steps that sum to 1 (a zero weight leaves one out)."""
    grid = []
    for cuts in itertools.combinations(range(steps + members - 1), members - 1):  # stars and bars
        bounds = (-1, *cuts, steps + members - 1)
        grid.append(tuple((bounds[i + 1] - bounds[i] - 1) / steps for i in range(members)))
    return grid


def mixture_accuracies(probabilities: np.ndarray, gold: np.ndarray, grid: list[tuple[float, ...]]) -> np.ndarray:
    """Dev accuracy of each weighted mean of the classifiers' probabilities (shape: classifiers, texts, labels)."""
    weights = np.asarray(grid)
    mixed = np.einsum("wc,ctl->wtl", weights, probabilities)
    return (mixed.argmax(axis=2) == gold).mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="chnsenticorp", help="the data set")
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "pretrained")
    parser.add_argument("--teacher-names", nargs="+", default=["teacher", "teacher-512"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    teachers = [args.teachers / args.name / t for t in args.teacher_names if (args.teachers / args.name / t).exists()]
    members = {  # label: what `zhcls bench` takes
        **{t.name: str(t) for t in teachers},
        "TF-IDF": f"tfidf:{args.work / 'foundation' / args.name / 'baseline'}",
        "fastText": f"fasttext:{fasttext_baseline(args.name, args.work)}",
    }
    names = list(members)
    splits = load_splits(DataSpec(args.name))
    gold = np.array([splits.labels.index(label) for label in splits.dev.labels])
    probabilities = extra_teacher_probabilities(list(members.values()), splits.dev.texts, splits.labels, args.threads)
    alone = {name: float((p.argmax(axis=1) == gold).mean()) for name, p in zip(names, probabilities, strict=True)}
    grid = weight_grid(len(members))
    accuracies = mixture_accuracies(probabilities, gold, grid)
    ranked = sorted(zip(accuracies.tolist(), grid, strict=True), key=lambda row: -row[0])

    info = splits.info
    targets = {name: member.replace(f"{ROOT}/", "") for name, member in members.items()}
    sizes = "/".join(str(n) for n in info["sizes"].values())
    lines = [
        f"# Teacher mixtures on {args.name} dev",
        "",
        f"Split seed {info['split_seed']}, train/dev/test {sizes}; test not read. Each classifier alone, then "
        f"the best of {len(grid)} weighted means of their probabilities (weights in tenths, summing to 1), picked "
        "and judged on dev: an upper estimate of what a student distilled from such a mixture can reach.",
        "",
        "| classifier | dev accuracy |",
        "| --- | --- |",
        *(f"| {name} | {accuracy:.4f} |" for name, accuracy in alone.items()),
        "",
        "| " + " | ".join(names) + " | dev accuracy |",
        "| " + " | ".join("---" for _ in range(len(names) + 1)) + " |",
        *("| " + " | ".join(f"{w:.1f}" for w in weights) + f" | {acc:.4f} |" for acc, weights in ranked[:SHOWN]),
        "",
        "Members: " + "; ".join(f"{name}: `{target}`" for name, target in targets.items()) + ".",
    ]
    payload = {
        "data": info,
        "members": targets,
        "dev_accuracy_alone": alone,
        "mixtures": [{"weights": dict(zip(names, w, strict=True)), "dev_accuracy": acc} for acc, w in ranked],
    }
    write_results(f"teacher-mixtures-{args.name}", lines, payload)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
