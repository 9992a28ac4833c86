"""Reproduce benchmarks/results/distill.{md,json}: what each part of task distillation buys.

    python benchmarks/distill.py [--datasets chnsenticorp online-shopping-10] [--augment-mlm DIR]

Needs the teachers of benchmarks/foundation.py (run it first). For each data set, on the teacher's own
split (stratified 80/10/10, split seed 0), the same student shape is trained several ways: without
distillation (`zhcls train`), logit-only KD, logits + intermediate layers (TinyBERT two-stage), the same
with unlabeled in-domain text (ChnSentiCorp: online_shopping_10_cats' other hotel reviews), and, when a
masked-language model is given, with augmented transfer data. Model selection on dev only.
Re-runnable: finished runs are skipped, interrupted ones resume.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import ROOT, add_report_name, add_teacher_name, produce, students_folder, write_results

STUDENT = "2x128"
COMMON = ["--max-length", "128", "--batch-size", "32", "--lr", "1e-3", "--checkpoint-every", "200"]
EPOCHS = {
    "chnsenticorp": ["--epochs", "8", "--patience", "3"],
    "online-shopping-10": ["--epochs", "3", "--patience", "0"],
}
# With unlabeled or augmented text an epoch is several times longer: fewer of them, same selection on dev.
TRANSFER_EPOCHS = {
    "chnsenticorp": ["--intermediate-epochs", "2", "--epochs", "5", "--patience", "2"],
    "online-shopping-10": ["--intermediate-epochs", "1", "--epochs", "2", "--patience", "0"],
}
AUGMENT_COPIES = {"chnsenticorp": "4", "online-shopping-10": "1"}
# Later variants run in folders of their own name; the first ones are numbered v0, v1, ... in order.
CO_TEACHER = "logits + intermediate + unlabeled text, TF-IDF co-teacher"
WHOLE = "logit KD, whole reviews + unlabeled text, TF-IDF co-teacher"
WHOLE_MORE = "logit KD, whole reviews + more unlabeled text, TF-IDF co-teacher"
AUGMENTED_CO_TEACHER = "logits + intermediate + augmentation, TF-IDF co-teacher"
TEACHER_LAYERS = "teacher layers 1,3 (2×256), logit KD, whole reviews + more unlabeled text, TF-IDF co-teacher"
TEACHER_LAYERS_LONGER = f"{TEACHER_LAYERS}, 3 epochs"
TEACHER_LAYERS_LONGEST = f"{TEACHER_LAYERS}, 5 epochs"
TEACHER_LAYERS_OWN_TEXTS = "teacher layers 1,3 (2×256), logit KD, TF-IDF co-teacher, 3 epochs"
CROSS_FITTED = ", cross-fitted (5 folds)"
TEACHER_LAYERS_AUGMENTED = "teacher layers 1,3 (2×256), logit KD, augmentation, TF-IDF co-teacher, 3 epochs"
TEACHER_LAYERS_OWN_TEXTS_LONGER = "teacher layers 1,3 (2×256), logit KD, TF-IDF co-teacher, 5 epochs"
THREE_TEACHER_LAYERS = (
    "teacher layers 0,2,3 (3×256), logit KD, whole reviews + more unlabeled text, TF-IDF co-teacher, 2 epochs"
)
FOLDERS = {
    CO_TEACHER: "co-teacher",
    WHOLE: "whole-reviews",
    WHOLE_MORE: "whole-reviews-more-text",
    AUGMENTED_CO_TEACHER: "augmentation-co-teacher",
    TEACHER_LAYERS: "teacher-layers-whole-reviews",
    TEACHER_LAYERS_LONGER: "teacher-layers-whole-reviews-3-epochs",
    TEACHER_LAYERS_LONGEST: "teacher-layers-whole-reviews-5-epochs",
    TEACHER_LAYERS_OWN_TEXTS: "teacher-layers-3-epochs",
    TEACHER_LAYERS_LONGER + CROSS_FITTED: "teacher-layers-whole-reviews-3-epochs-cross-fitted",
    TEACHER_LAYERS_OWN_TEXTS + CROSS_FITTED: "teacher-layers-3-epochs-cross-fitted",
    TEACHER_LAYERS_AUGMENTED + CROSS_FITTED: "teacher-layers-augmentation-cross-fitted",
    TEACHER_LAYERS_AUGMENTED: "teacher-layers-augmentation",
    TEACHER_LAYERS_OWN_TEXTS_LONGER: "teacher-layers-5-epochs",
    THREE_TEACHER_LAYERS: "three-teacher-layers-whole-reviews-2-epochs",
}


def variants(
    name: str,
    teacher: Path,
    augment_mlm: str | None,
    unlabeled: str | None = None,
    tfidf: Path | None = None,
    more_unlabeled: str | None = None,
) -> dict[str, list[str]]:
    """Command lines of the student variants on data set `name`, keyed by a readable name (in the order that
    numbers the folders of those not in FOLDERS)."""
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
    runs = {label: [*args, *EPOCHS[name]] for label, args in runs.items()}
    with_transfer = [*distill, *logits, *intermediate, *TRANSFER_EPOCHS[name]]
    if unlabeled:
        runs["logits + intermediate + unlabeled text"] = [*with_transfer, "--unlabeled", unlabeled]
    if augment_mlm:
        augment = ["--augment", AUGMENT_COPIES[name], "--augment-mlm", augment_mlm]
        runs["logits + intermediate + augmentation"] = [*with_transfer, *augment]
    co_teacher = ["--extra-teacher", tfidf]
    cross_fit = ["--extra-teacher-folds", "5"]

    # Pretrained weights instead of random ones: every other teacher layer, the teacher's width; a pretrained
    # start wants a smaller step.
    def from_teacher_layers(layers: str) -> list:
        return ["distill", "--teacher", teacher, "--init-from-teacher", layers]

    teacher_layers = from_teacher_layers("1,3")
    if tfidf is not None and augment_mlm:
        runs[AUGMENTED_CO_TEACHER] = [*runs["logits + intermediate + augmentation"], *co_teacher]
    if tfidf is not None and not unlabeled:  # a data set large enough to need no text beyond its own
        own_texts = [*logits, *co_teacher, "--epochs", "3", "--patience", "0", "--lr", "2e-4"]
        runs[TEACHER_LAYERS_OWN_TEXTS] = [*teacher_layers, *own_texts]
        runs[TEACHER_LAYERS_OWN_TEXTS_LONGER] = [*teacher_layers, *own_texts, "--epochs", "5"]  # dev rose to the 3rd
        runs[TEACHER_LAYERS_OWN_TEXTS + CROSS_FITTED] = [*teacher_layers, *own_texts, *cross_fit]
        if augment_mlm:
            runs[TEACHER_LAYERS_AUGMENTED + CROSS_FITTED] = [*teacher_layers, *own_texts, *augment, *cross_fit]
            runs[TEACHER_LAYERS_AUGMENTED] = [*teacher_layers, *own_texts, *augment]
    if tfidf is not None and unlabeled:
        runs[CO_TEACHER] = [
            *runs["logits + intermediate + unlabeled text"],
            *co_teacher,
        ]
        # Logits only, so the student may read whole reviews (512 tokens) while the teacher reads its 128.
        whole_reviews = [
            *logits,
            *TRANSFER_EPOCHS[name],
            *co_teacher,
            "--truncation",
            "head+tail",
            "--max-length",
            "512",
        ]
        whole = [*distill, *whole_reviews]
        runs[WHOLE] = [*whole, "--unlabeled", unlabeled]
        if more_unlabeled:
            more = ["--unlabeled", more_unlabeled, "--epochs", "3", "--checkpoint-every", "500"]
            runs[WHOLE_MORE] = [*whole, *more]
            whole_from_teacher = [*teacher_layers, *whole_reviews]
            runs[TEACHER_LAYERS] = [*whole_from_teacher, *more, "--epochs", "2", "--lr", "2e-4"]
            runs[TEACHER_LAYERS_LONGER] = [*whole_from_teacher, *more, "--lr", "2e-4"]  # dev still rose at epoch 2
            runs[TEACHER_LAYERS_LONGER + CROSS_FITTED] = [*runs[TEACHER_LAYERS_LONGER], *cross_fit]
            # 3 to 5 epochs raised dev accuracy of the teacher-layers student on online-shopping-10
            runs[TEACHER_LAYERS_LONGEST] = [*runs[TEACHER_LAYERS_LONGER], "--epochs", "5"]
            # The soft-label mixture scores above every 2-layer student on dev: room for one more layer.
            three_layers = [*from_teacher_layers("0,2,3"), *whole_reviews, *more]
            runs[THREE_TEACHER_LAYERS] = [*three_layers, "--epochs", "2", "--lr", "2e-4"]
    return runs


def tfidf_baseline(work: Path, name: str) -> Path | None:
    """The TF-IDF baseline of benchmarks/foundation.py (the bench's TF-IDF contender), if it exists."""
    folder = work / "foundation" / name / "baseline"
    return folder if (folder / "tfidf.json").exists() else None


def shopping_reviews(work: Path, category: str | None = None) -> Path:
    """online_shopping_10_cats' reviews (of one category, or all) as unlabeled text for ChnSentiCorp.

    5,573 of ChnSentiCorp's reviews sit verbatim among its hotel reviews; `zhcls distill` drops its dev/test
    texts and the training texts it already has, which leaves 4,426 other hotel reviews (57,149 of all ten categories).
    """
    from zhcls.data.registry import REGISTRY

    target = work / "unlabeled" / f"online-shopping-10-{'hotel' if category == '酒店' else category or 'all'}.txt"
    if not target.exists():
        examples = REGISTRY["online-shopping-10"].load()
        pairs = zip(examples.texts, examples.labels, strict=True)
        texts = [text for text, label in pairs if category in (None, label)]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_text("".join(text.replace("\n", " ") + "\n" for text in texts), encoding="utf-8")
        partial.replace(target)
    return target


def run_dataset(
    name: str,
    work: Path,
    teachers: Path,
    augment_mlm: str | None,
    unlabeled: str | None = None,
    more_unlabeled: str | None = None,
    train: bool = True,
    only: set[str] | None = None,
    teacher_name: str = "teacher",
) -> dict:
    """Every variant on one data set, or those whose folder is in `only` (with `train=False`, none); returns the
    metrics of the finished ones. A teacher other than NAME/teacher gets its students in a folder of its name."""
    teacher = teachers / name / teacher_name
    if not (teacher / "metrics.json").exists():
        raise SystemExit(f"no teacher at {teacher}: run benchmarks/gpu_e2e.sh or benchmarks/foundation.py first")
    results = {}
    runs = variants(name, teacher, augment_mlm, unlabeled, tfidf_baseline(work, name), more_unlabeled)
    for index, (label, args) in enumerate(runs.items()):
        output = students_folder(work, name, teacher_name) / FOLDERS.get(label, f"v{index}")
        if train and (only is None or output.name in only):  # a variant's own flags come last: they override COMMON's
            results[label] = produce(output, args[0], "--data", name, *COMMON, *args[1:])
        elif (output / "metrics.json").exists():
            results[label] = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    return results


def _row(name: str, label: str, metrics: dict, teacher_acc: float, teacher_params: int) -> str:
    params = metrics.get("student_parameters", metrics.get("parameters"))
    acc, f1 = metrics["test"]["accuracy"], metrics["test"]["macro_f1"]
    transfer = metrics.get("transfer") or {"train": metrics["data"]["sizes"]["train"]}
    kept = {kind: count for kind, count in transfer.items() if count and kind != "dropped_as_dev_or_test"}
    texts = " + ".join(f"{count:,} {kind}" for kind, count in kept.items())
    if "extra_teachers" in metrics:
        label += f" (share {metrics['extra_teachers']['weight']:.1f})"
    if metrics["machine"].get("gpu"):
        label += " †"
    return (
        f"| {name} | {label} | {texts} | {params / 1e6:.2f} M ({teacher_params / params:.1f}× smaller) | "
        f"{metrics['dev']['accuracy']:.4f} | {acc:.4f} | {f1:.4f} | {100 * acc / teacher_acc:.1f}% |"
    )


def _machine(metrics: dict) -> str:
    machine = metrics["machine"]
    gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ""
    return f"{machine['processor']}, {machine['threads']} threads{gpu}, torch {machine['torch']}"


def write_report(
    all_results: dict,
    work: Path,
    teachers: Path,
    augment_mlm: str | None,
    unlabeled: dict,
    more_unlabeled: dict,
    report_name: str = "distill",
    teacher_name: str = "teacher",
) -> None:
    """benchmarks/results/NAME.md and .json."""
    windows = set()
    for name in all_results:
        inputs = json.loads((teachers / name / teacher_name / "train_config.json").read_text(encoding="utf-8"))
        windows.add(f"{inputs['max_length']}-token window ({inputs['truncation']})")
    # a 128-token head-only teacher keeps the wording its reports were written with, so they regenerate unchanged
    window = "128-token window" if windows == {"128-token window (head)"} else " / ".join(sorted(windows))
    lines = [
        "# Distillation: what each part buys",
        "",
        "Reproduce: `bash benchmarks/gpu_e2e.sh …` (teachers), then `python benchmarks/distill.py`. Split: the",
        "teacher's, stratified 80/10/10, split seed 0, duplicates removed; every checkpoint chosen on dev. Student:",
        f"`{STUDENT}` (2 layers × 128, random init), sharing the teacher's vocabulary; lr 1e-3, batch 32, max length",
        "128. KD: soft-label KL at T = 2. Intermediate: TinyBERT two-stage (3 epochs of embedding + hidden-state +",
        "attention MSE over the uniform layer map through learned projections, then the prediction layer).",
        "Transfer data beyond the training set is labeled by the teacher's soft predictions, every dev/test text",
        "dropped: unlabeled text = online_shopping_10_cats' hotel reviews that are not ChnSentiCorp training,",
        "dev or test texts; augmentation = copies of each training text (4 for ChnSentiCorp, 1 for the 8× larger",
        "online-shopping-10) with each jieba word replaced at p = 0.4 by one of the 8 best candidates of a",
        "masked-language model (the pretraining checkpoint, 24 characters of context per side; a",
        "multi-character candidate must be a word of jieba's dictionary). An epoch of those variants holds several",
        "times more texts, so they run fewer: "
        + "; ".join(f"{name} `{' '.join(TRANSFER_EPOCHS[name])}`" for name in TRANSFER_EPOCHS)
        + ". TF-IDF co-teacher (`--extra-teacher`): the soft labels mix the teacher's probabilities with",
        "those of the TF-IDF baseline fit on the training split (the bench's TF-IDF contender), the share picked on",
        "dev among 0.1 … 0.9; on its own training texts TF-IDF is near-certain, so there it acts like gold labels.",
        "Whole reviews: logit KD only, the student reading up to 512 tokens (head+tail) while the teacher gives",
        f"its soft labels from the {window} it was trained on; more unlabeled text = all of",
        "online_shopping_10_cats' reviews, 10 categories, instead of its hotel reviews alone. Teacher layers:",
        "the student is the teacher's embeddings and its layers 1 and 3 (2×256, pretrained weights) instead of a",
        "random 2×128, trained as the whole-review student with more unlabeled text at lr 2e-4 for 2 epochs",
        "(and for 3, since dev accuracy still rose at the second, and for 5); 3×256 from layers 0, 2 and 3 for 2",
        "epochs, since the soft-label mixture scores above the 2-layer students on dev.",
        "Cross-fitted (`--extra-teacher-folds 5`): the TF-IDF co-teacher is refit five times, each time without a",
        "fifth of the training texts, and each training text and its augmented copy get the probabilities of the",
        "model that never saw them, so the co-teacher gives its real doubts there too, not the gold label (unlabeled",
        "text keeps the saved model's).",
        "",
        "| data set | model | transfer texts | parameters | dev accuracy | test accuracy | test macro-F1 | "
        "retention (test) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    machines, missing, gpu_students = set(), [], False
    for name, results in all_results.items():
        teacher_dir = teachers / name / teacher_name
        teacher = json.loads((teacher_dir / "metrics.json").read_text(encoding="utf-8"))
        acc, params = teacher["test"]["accuracy"], teacher["parameters"]
        config = json.loads((teacher_dir / "config.json").read_text(encoding="utf-8"))
        shape = f"{config['num_hidden_layers']}×{config['hidden_size']}"
        lines.append(
            f"| {name} | teacher: BERT {shape}, pretrained here ({teacher['model']}) | "
            f"{teacher['data']['sizes']['train']:,} train | {params / 1e6:.2f} M | "
            f"{teacher['dev']['accuracy']:.4f} | {acc:.4f} | {teacher['test']['macro_f1']:.4f} | 100% |"
        )
        machines.add(f"teacher: {_machine(teacher)}")
        tfidf, more = tfidf_baseline(work, name), more_unlabeled.get(name)
        for label in variants(name, teacher_dir, augment_mlm, unlabeled.get(name), tfidf, more):
            if label in results:
                lines.append(_row(name, label, results[label], acc, params))
                machines.add(f"students: {_machine(results[label])}")
                gpu_students |= bool(results[label]["machine"].get("gpu"))
            else:
                missing.append(f"{name}: {label}")
    if gpu_students:
        lines += ["", "† distilled on the GPU machine below (bf16 autocast); the other students on the CPU one."]
    if missing:
        lines += ["", "Not run yet (re-run the script; finished runs are skipped): " + "; ".join(missing) + "."]
    if not augment_mlm:
        lines += ["", "Augmentation is not in this table: it needs `--augment-mlm DIR` (the pretraining checkpoint)."]
    lines += ["", *(f"Machine, {text}." for text in sorted(machines))]
    write_results(report_name, lines, all_results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument(
        "--teachers",
        type=Path,
        default=ROOT / "runs" / "pretrained",
        help="folder with NAME/teacher per data set (gpu_e2e.sh's, or runs/foundation for the from-zero ones)",
    )
    add_teacher_name(parser)
    parser.add_argument("--datasets", nargs="+", default=list(EPOCHS))
    parser.add_argument("--augment-mlm", default=None)
    parser.add_argument(
        "--unlabeled",
        nargs="*",
        default=[],
        metavar="DATASET=FILE",
        help="in-domain unlabeled text per data set (its dev/test texts are dropped by zhcls distill); "
        "ChnSentiCorp gets online_shopping_10_cats' other hotel reviews unless --no-unlabeled",
    )
    parser.add_argument("--no-unlabeled", action="store_true", help="no unlabeled-text variant")
    parser.add_argument("--variants", nargs="+", metavar="FOLDER", help="train only these variants (folder names)")
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--no-report", action="store_true", help="train only")
    stage.add_argument("--report-only", action="store_true", help="report the finished runs, train nothing")
    add_report_name(parser, "distill")
    args = parser.parse_args()
    unlabeled, more = dict(item.split("=", 1) for item in args.unlabeled), {}
    if "chnsenticorp" in args.datasets and not args.no_unlabeled:
        unlabeled.setdefault("chnsenticorp", str(shopping_reviews(args.work, "酒店")))
        more["chnsenticorp"] = str(shopping_reviews(args.work))
    results = {
        name: run_dataset(
            name,
            *(args.work, args.teachers, args.augment_mlm, unlabeled.get(name), more.get(name)),
            train=not args.report_only,
            only=set(args.variants) if args.variants else None,
            teacher_name=args.teacher_name,
        )
        for name in args.datasets
    }
    if not args.no_report:
        write_report(results, args.work, args.teachers, args.augment_mlm, unlabeled, more, args.name, args.teacher_name)


if __name__ == "__main__":
    main()
