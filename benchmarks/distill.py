"""Reproduce benchmarks/results/distill.{md,json}: what each part of task distillation buys.

    python benchmarks/distill.py [--datasets chnsenticorp online-shopping-10] [--augment-mlm DIR]

Needs the teachers of benchmarks/foundation.py (run it first). For each data set, on the teacher's own
split (stratified 80/10/10, split seed 0), the same student shape is trained four ways: without
distillation (`zhcls train`), logit-only KD, logits + intermediate layers (TinyBERT two-stage), and, when
a masked-language model is given, the same with augmented transfer data. Model selection on dev only.
Re-runnable: finished runs are skipped, interrupted ones resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import ROOT, produce, write_results

STUDENT = "2x128"
COMMON = ["--max-length", "128", "--batch-size", "32", "--lr", "1e-3", "--checkpoint-every", "200"]
EPOCHS = {
    "chnsenticorp": ["--epochs", "8", "--patience", "3"],
    "online-shopping-10": ["--epochs", "3", "--patience", "0"],
}


def variants(teacher: Path, augment_mlm: str | None, unlabeled: str | None = None) -> dict[str, list[str]]:
    """Command lines of the student variants, keyed by a readable name."""
    distill = ["distill", "--teacher", teacher, "--student", STUDENT]
    logits = ["--soft-weight", "1", "--hard-weight", "0", "--temperature", "2"]
    intermediate = [
        "--schedule",
        "two-stage",
        "--intermediate-epochs",
        "3",
        "--embedding-weight",
        "1",
        "--hidden-weight",
        "1",
        "--attention-weight",
        "1",
    ]
    runs = {
        "student, no distillation": ["train", "--preset", STUDENT, "--tokenizer", teacher],
        "logit KD": [*distill, *logits],
        "logits + intermediate": [*distill, *logits, *intermediate],
    }
    if unlabeled:
        runs["logits + intermediate + unlabeled text"] = [*distill, *logits, *intermediate, "--unlabeled", unlabeled]
    if augment_mlm:
        runs["logits + intermediate + augmentation"] = [
            *distill,
            *logits,
            *intermediate,
            "--augment",
            "4",
            "--augment-mlm",
            augment_mlm,
        ]
    return runs


def run_dataset(name: str, work: Path, teachers: Path, augment_mlm: str | None, unlabeled: str | None = None) -> dict:
    """Every variant on one data set; returns their metrics and the teacher's."""
    teacher = teachers / name / "teacher"
    if not (teacher / "metrics.json").exists():
        raise SystemExit(f"no teacher at {teacher}: run benchmarks/gpu_e2e.sh or benchmarks/foundation.py first")
    results = {}
    for index, (label, args) in enumerate(variants(teacher, augment_mlm, unlabeled).items()):
        results[label] = produce(work / "distill" / name / f"v{index}", *args, "--data", name, *COMMON, *EPOCHS[name])
    return results


def _row(name: str, label: str, metrics: dict, teacher_acc: float, teacher_params: int) -> str:
    params = metrics.get("student_parameters", metrics.get("parameters"))
    acc, f1 = metrics["test"]["accuracy"], metrics["test"]["macro_f1"]
    return (
        f"| {name} | {label} | {params / 1e6:.2f} M ({teacher_params / params:.1f}× smaller) | {acc:.4f} | "
        f"{f1:.4f} | {100 * acc / teacher_acc:.1f}% |"
    )


def write_report(all_results: dict, teachers: Path, augment_mlm: str | None) -> None:
    """benchmarks/results/distill.md and .json."""
    import json

    lines = [
        "# Distillation: what each part buys",
        "",
        "Reproduce: `python benchmarks/foundation.py && python benchmarks/distill.py`. Split: the teacher's,",
        "stratified 80/10/10, split seed 0, duplicates removed; every checkpoint chosen on dev. Student: "
        f"`{STUDENT}` (2 layers × 128), sharing the teacher's vocabulary; lr 1e-3, batch 32, max length 128.",
        "KD: soft-label KL at T = 2. Intermediate: TinyBERT two-stage (3 epochs of embedding + hidden-state +",
        "attention MSE over the uniform layer map, then the prediction layer).",
        "",
        "| data set | model | parameters | test accuracy | test macro-F1 | retention (test acc / teacher) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    machine = None
    for name, results in all_results.items():
        teacher_dir = teachers / name / "teacher"
        teacher = json.loads((teacher_dir / "metrics.json").read_text(encoding="utf-8"))
        machine = teacher["machine"]
        acc, params = teacher["test"]["accuracy"], teacher["parameters"]
        config = json.loads((teacher_dir / "config.json").read_text(encoding="utf-8"))
        shape = f"{config['num_hidden_layers']}×{config['hidden_size']}"
        lines.append(
            f"| {name} | teacher: BERT {shape} from zero | {params / 1e6:.2f} M | {acc:.4f} | "
            f"{teacher['test']['macro_f1']:.4f} | 100% |"
        )
        for label, metrics in results.items():
            lines.append(_row(name, label, metrics, acc, params))
    if not augment_mlm:
        lines += [
            "",
            "Augmentation is not measured yet: it needs a masked-language model with the teacher's",
            "vocabulary (`--augment-mlm`), which comes from `zhcls pretrain` (not built yet).",
        ]
    if machine:
        gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ""
        lines += ["", f"Machine: {machine['processor']}, {machine['threads']} threads{gpu}, torch {machine['torch']}."]
    write_results("distill", lines, all_results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument(
        "--teachers",
        type=Path,
        default=ROOT / "runs" / "pretrained",
        help="folder with NAME/teacher per data set (gpu_e2e.sh's, or runs/foundation for the from-zero ones)",
    )
    parser.add_argument("--datasets", nargs="+", default=list(EPOCHS))
    parser.add_argument("--augment-mlm", default=None)
    parser.add_argument(
        "--unlabeled",
        nargs="*",
        default=[],
        metavar="DATASET=FILE",
        help="in-domain unlabeled text per data set (its dev/test texts are dropped by zhcls distill)",
    )
    parser.add_argument("--no-report", action="store_true", help="train only (the GPU half of gpu_e2e.sh)")
    args = parser.parse_args()
    unlabeled = dict(item.split("=", 1) for item in args.unlabeled)
    results = {
        name: run_dataset(name, args.work, args.teachers, args.augment_mlm, unlabeled.get(name))
        for name in args.datasets
    }
    if not args.no_report:
        write_report(results, args.teachers, args.augment_mlm)


if __name__ == "__main__":
    main()
