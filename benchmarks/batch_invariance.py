"""Reproduce benchmarks/results/batch-invariance.{md,json}: does a text's score depend on the texts run with it?

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/batch_invariance.py EXPORT_DIR [EXPORT_DIR ...] \
        [--data chnsenticorp]

ONNX Runtime's dynamic int8 quantizes the input of each matrix product with one scale for the whole tensor,
computed at every call: each text of a batch, and the padding up to its longest, moves that scale, and so the
scores of the others. For each export directory the test split is scored three ways with `zhcls.runtime`: one
text a call; in calls of 32 texts in split order (as `zhcls bench` measures accuracy, and as `zhcls serve`
batches the requests that arrive together); and all texts in one call (the runtime sorts them by length into
batches of its batch size). Reported: each way's accuracy, the texts whose label differs from one text a call,
and the largest change of a class probability. An fp32 export of the same weights is the control.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
from _common import write_results

from zhcls.data import DataSpec, load_splits
from zhcls.runtime import Classifier
from zhcls.runtime.classifier import softmax
from zhcls.runtime.cpu import cpu_info

SERVED_BATCH = 32


def probabilities_by_batching(classifier: Classifier, texts: list[str]) -> dict[str, np.ndarray]:
    """Class probabilities of `texts`, scored one a call, SERVED_BATCH a call in order, and all in one call."""

    def in_calls_of(size: int) -> np.ndarray:
        return np.concatenate([classifier.predict_logits(texts[i : i + size]) for i in range(0, len(texts), size)])

    logits = {"one a call": in_calls_of(1), f"{SERVED_BATCH} a call": in_calls_of(SERVED_BATCH)}
    logits["all in one call"] = classifier.predict_logits(texts)
    return {way: softmax(scores) for way, scores in logits.items()}


def measure(folder: Path, texts: list[str], gold: list[str], threads: int) -> dict:
    """Accuracy per batching, and how far each batched way moves labels and probabilities from one a call."""
    classifier = Classifier.load(folder, threads=threads)
    gold_ids = np.array([classifier.labels.index(label) for label in gold])
    probabilities = probabilities_by_batching(classifier, texts)
    alone = probabilities["one a call"]
    return {
        "export": str(folder),
        "precision": classifier.manifest.precision,
        "quantization": (classifier.manifest.quantization or {}).get("scheme"),
        "max_length": classifier.max_length,
        "batch_size": classifier.batch_size,
        "ways": {
            way: {
                "accuracy": float((p.argmax(axis=1) == gold_ids).mean()),
                "labels_changed": int((p.argmax(axis=1) != alone.argmax(axis=1)).sum()),
                "max_probability_change": float(np.abs(p - alone).max()),
            }
            for way, p in probabilities.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exports", nargs="+", type=Path, help="export directories (zhcls export)")
    parser.add_argument("--data", default="chnsenticorp")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="batch-invariance", help="report name under benchmarks/results")
    args = parser.parse_args()
    splits = load_splits(DataSpec(args.data))
    texts, gold = list(splits.test.texts), list(splits.test.labels)
    results = [measure(folder, texts, gold, args.threads) for folder in args.exports]
    cpu = cpu_info()
    flags = ", ".join(name for name, present in cpu["flags"].items() if present)
    ways = list(results[0]["ways"])
    lines = [
        "# Does a text's score depend on the texts run with it?",
        "",
        f"Reproduce: `python benchmarks/batch_invariance.py {' '.join(str(r['export']) for r in results)}"
        f" --data {args.data}`. Data: {args.data} test split, {len(texts):,} texts (split seed 0). Each export "
        "scores the split one text a call, in calls of 32 texts in split order (as `zhcls bench` measures "
        "accuracy and as `zhcls serve` batches requests that arrive together), and all in one call (sorted by "
        "length into batches of the export's batch size). Changed: texts whose label differs from one text a "
        "call; Δp: the largest change of a class probability against one text a call.",
        "",
        "| export | precision | "
        + " | ".join(f"accuracy, {way}" for way in ways)
        + " | "
        + " | ".join(f"changed, {way} (Δp)" for way in ways[1:])
        + " |",
        "| --- " * (2 + 2 * len(ways) - 1) + "|",
    ]
    for r in results:
        scheme = f" ({r['quantization']})" if r["quantization"] else ""
        accuracy = [f"{r['ways'][way]['accuracy']:.4f}" for way in ways]
        changed = [
            f"{r['ways'][way]['labels_changed']} ({r['ways'][way]['max_probability_change']:.2g})" for way in ways[1:]
        ]
        cells = " | ".join(accuracy + changed)
        lines.append(f"| {Path(r['export']).name} | {r['precision']}{scheme} | {cells} |")
    lines += ["", f"Machine: {cpu['model']} ({flags}), {args.threads} threads, Python {platform.python_version()}."]
    write_results(args.name, lines, {"data": splits.info, "threads": args.threads, "cpu": cpu, "exports": results})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
