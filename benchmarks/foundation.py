"""Reproduce benchmarks/results/foundation.{md,json}: TF-IDF baseline and a from-zero teacher per data set.

    python benchmarks/foundation.py [--work runs/foundation] [--datasets chnsenticorp online-shopping-10]

Every stage is a `zhcls` command; a finished stage is skipped and an interrupted training resumes, so
the script can be re-run after a kill (run it under nohup: the teacher runs take tens of minutes on 2 cores).
The split is the default one (stratified 80/10/10, split seed 0); the vocabulary is trained on the
training split only, so no dev or test text reaches any model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import ROOT, produce, write_results, zhcls

# Teacher recipes: a 4×256 encoder from random initialization ("mini"); no pretrained weights are reachable here.
TEACHER = {
    "chnsenticorp": "--preset mini --epochs 8 --lr 5e-4 --batch-size 32 --patience 3 --max-length 128".split(),
    "online-shopping-10": (
        "--preset mini --epochs 3 --lr 5e-4 --batch-size 64 --patience 2 --max-length 128 --checkpoint-every 100"
    ).split(),
}


def run_dataset(name: str, work: Path) -> dict:
    """Baseline, vocabulary and teacher for one data set; returns their metrics."""
    base = work / name
    base.mkdir(parents=True, exist_ok=True)
    if not (base / "baseline" / "metrics.json").exists():
        zhcls("baseline", "--data", name, "--output", str(base / "baseline"))
    if not (base / "vocab" / "tokenizer.json").exists():
        zhcls("vocab", "--corpus", name, "--vocab-size", "8000", "--output", str(base / "vocab"))
    teacher = produce(base / "teacher", "train", "--data", name, "--tokenizer", base / "vocab", *TEACHER[name])
    return {"baseline": json.loads((base / "baseline" / "metrics.json").read_text()), "teacher": teacher}


def write_report(results: dict) -> None:
    """benchmarks/results/foundation.md and .json from the collected metrics."""
    lines = [
        "# Foundation: TF-IDF baseline and a teacher trained from zero",
        "",
        "Reproduce: `python benchmarks/foundation.py`. Split: stratified 80/10/10, split seed 0, exact duplicates",
        "removed; model selection on dev only. The teacher is a 4-layer × 256 BERT from random initialization",
        "(no pretrained Chinese checkpoint is reachable on these machines) with a WordPiece vocabulary trained",
        "on the training split.",
        "",
        "| data set | train / dev / test | model | params | test accuracy | test macro-F1 | train time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    machine = None
    for name, result in results.items():
        sizes = result["teacher"]["data"]["sizes"]
        split = f"{sizes['train']} / {sizes['dev']} / {sizes['test']}"
        b, t = result["baseline"], result["teacher"]
        machine = t["machine"]
        lines.append(
            f"| {name} | {split} | TF-IDF char 1-3 + jieba 1-2, LR (C={b['c']}) | – | "
            f"{b['test']['accuracy']:.4f} | {b['test']['macro_f1']:.4f} | {b['fit_seconds']:.0f} s |"
        )
        lines.append(
            f"| {name} | {split} | BERT 4×256 from zero, epoch {t['best_epoch']} of {t['epochs_run']} | "
            f"{t['parameters'] / 1e6:.1f} M | {t['test']['accuracy']:.4f} | {t['test']['macro_f1']:.4f} | "
            f"{t['train_seconds'] / 60:.1f} min |"
        )
    if machine:
        lines += [
            "",
            f"Machine: {machine['processor']}, {machine['threads']} threads, torch {machine['torch']}, "
            f"{machine['platform']}.",
        ]
    write_results("foundation", lines, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "foundation")
    parser.add_argument("--datasets", nargs="+", default=list(TEACHER))
    args = parser.parse_args()
    write_report({name: run_dataset(name, args.work) for name in args.datasets})


if __name__ == "__main__":
    main()
