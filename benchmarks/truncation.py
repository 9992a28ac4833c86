"""Reproduce benchmarks/results/truncation.{md,json}: where the ChnSentiCorp teacher loses to TF-IDF, and the window.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/truncation.py

A third of ChnSentiCorp's reviews are longer than the 126 tokens a 128-token window holds, and TF-IDF
reads every word of them. The table splits dev and test accuracy at that length for TF-IDF and for the
teacher (runs/pretrained/NAME/teacher), then fine-tunes that teacher two more epochs with each truncation
policy (`--truncation head`, `head+tail`, and `head+tail` over 256 tokens), the same schedule for all, so
the policy is the only difference. Dev decides; test is read once per model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import ROOT, produce, write_results

from zhcls.baselines.tfidf import TfidfBaseline
from zhcls.data import DataSpec, load_splits
from zhcls.models import InputSettings, classify_logits, load_classifier, load_tokenizer

NAME = "chnsenticorp"
CONTINUED = ["--lr", "5e-5", "--epochs", "2", "--patience", "0", "--checkpoint-every", "0", "--warmup-ratio", "0.1"]
POLICIES = {
    "head, 128 tokens": ["--truncation", "head"],
    "head+tail, 128 tokens": ["--truncation", "head+tail"],
    "head+tail, 256 tokens": ["--truncation", "head+tail", "--max-length", "256"],
}
WINDOW_CHARS = 126  # a Chinese character is one token of our vocabulary: longer texts are cut at 128 tokens


def accuracy_by_length(predicted: np.ndarray, gold: np.ndarray, long: np.ndarray) -> dict[str, float]:
    """Accuracy over all texts, the ones that fit a 128-token window, and the longer ones."""
    hits = predicted == gold
    return {"all": float(hits.mean()), "short": float(hits[~long].mean()), "long": float(hits[long].mean())}


def evaluate(models: dict[str, Path], tfidf: Path) -> tuple[dict, dict]:
    """Dev and test accuracy by length of every model and of TF-IDF, and how many texts are long per split."""
    splits = load_splits(DataSpec(NAME))
    index = {label: i for i, label in enumerate(splits.labels)}
    baseline = TfidfBaseline.load(tfidf)
    results: dict = {}
    counts: dict = {}
    for split in ("dev", "test"):
        examples = splits.split(split)
        gold = np.array([index[label] for label in examples.labels])
        long = np.array([len(text) > WINDOW_CHARS for text in examples.texts])
        results.setdefault("TF-IDF + logistic regression (every word)", {})[split] = accuracy_by_length(
            baseline.predict_ids(examples.texts), gold, long
        )
        for label, folder in models.items():
            logits = classify_logits(
                load_classifier(folder), load_tokenizer(folder), examples.texts, inputs=InputSettings.recorded(folder)
            )
            results.setdefault(label, {})[split] = accuracy_by_length(logits.argmax(-1), gold, long)
        counts[split] = {"long": int(long.sum()), "all": len(long)}
    return results, counts


def write_report(results: dict, counts: dict) -> None:
    """benchmarks/results/truncation.md and .json."""
    lines = [
        "# ChnSentiCorp: the teacher's window against TF-IDF",
        "",
        "Reproduce: `python benchmarks/truncation.py`. Split: stratified 80/10/10, split seed 0, duplicates removed",
        f"(6,213 / 776 / 776). Long = more than {WINDOW_CHARS} characters, cut by a 128-token window: "
        + ", ".join(f"{c['long']} of {c['all']} {split} texts" for split, c in counts.items())
        + ". Continued fine-tuning: 2 epochs, lr 5e-5, warmup 10%, batch 32, from the teacher, best epoch on dev.",
        "",
        "| model | dev | dev, short | dev, long | test | test, short | test, long |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, by_split in results.items():
        cells = [f"{by_split[split][part]:.4f}" for split in ("dev", "test") for part in ("all", "short", "long")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    write_results("truncation", lines, {"counts": counts, "accuracy": results})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "pretrained")
    args = parser.parse_args()
    teacher = args.teachers / NAME / "teacher"
    models = {"teacher (head, 128 tokens)": teacher}
    for label, flags in POLICIES.items():
        output = args.work / "truncation" / NAME / label.replace(", ", "-").replace(" tokens", "").replace("+", "-")
        produce(output, "train", "--model", teacher, "--data", NAME, *CONTINUED, *flags)
        models[f"teacher + 2 epochs, {label}"] = output
    write_report(*evaluate(models, args.work / "foundation" / NAME / "baseline"))


if __name__ == "__main__":
    main()
