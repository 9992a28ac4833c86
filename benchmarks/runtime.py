"""Reproduce benchmarks/results/runtime.{md,json}: what embedding `zhcls.runtime` costs an app.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/runtime.py [--export DIR] [--data chnsenticorp]

1. Cold start: a fresh interpreter imports the runtime, loads the export and predicts one text; wall time
   of those three steps and the process's peak RSS, median of several runs. The same for the usual
   hand-written alternative (transformers' tokenizer + an ONNX Runtime session).
2. Warm latency and throughput: `Classifier.predict` against that hand-written path on the same ONNX
   file, same threads, test texts at their real lengths, batch 1 and batch 32, interleaved call by call.
3. Batching by length: the same batch-32 calls through the runtime with the batch run as one padded call
   (what it did before) and split by length at several values of the per-call overhead
   (`Classifier.call_overhead_tokens`), interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from _common import ROOT, write_results
from export import OURS_INT8, export_all, require_best_student

from zhcls.bench.timing import interleaved_latency
from zhcls.data import DataSpec, load_splits
from zhcls.runtime import Classifier
from zhcls.runtime.batching import CALL_OVERHEAD_TOKENS
from zhcls.runtime.cpu import cpu_info
from zhcls.runtime.manifest import Manifest

# Each cold-start script ends the same way: time taken, heavy libraries imported, peak memory (measured after
# the clock stops, so the measuring import is not timed).
REPORT = """
seconds = time.perf_counter() - started
heavy = [m for m in ("torch", "transformers") if m in sys.modules]
from zhcls.runtime.cpu import peak_rss_bytes
print(seconds, peak_rss_bytes() / 2**20, ",".join(heavy))
"""

COLD_RUNTIME = """
import sys, time
started = time.perf_counter()
from zhcls.runtime import Classifier
classifier = Classifier.load(sys.argv[1], threads=int(sys.argv[2]))
classifier.predict(["房间很干净，服务也好"])
"""

COLD_BY_HAND = """
import sys, time
started = time.perf_counter()
import onnxruntime as ort
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
options = ort.SessionOptions()
options.intra_op_num_threads = int(sys.argv[2])
session = ort.InferenceSession(sys.argv[1] + "/model.onnx", options, providers=["CPUExecutionProvider"])
batch = tokenizer(["房间很干净，服务也好"], return_tensors="np")
session.run(None, {i.name: batch[i.name].astype("int64") for i in session.get_inputs()})
"""


def cold_start(script: str, export: Path, threads: int, runs: int) -> dict:
    """Median seconds and peak RSS (MB) of import + load + first prediction in fresh interpreters."""
    seconds, rss = [], []
    heavy = ""
    for _ in range(runs):
        command = [sys.executable, "-c", script + REPORT, str(export), str(threads)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
        seconds.append(float(out[0]))
        rss.append(float(out[1]))
        heavy = out[2] if len(out) > 2 else ""
    return {
        "median_s": round(statistics.median(seconds), 3),
        "peak_rss_mb": round(statistics.median(rss), 1),
        "runs": runs,
        "heavy_modules": heavy,
    }


def by_hand(export: Path, threads: int):
    """The path users write without zhcls: transformers' tokenizer and a bare ONNX Runtime session."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(export))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(export / "model.onnx"), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    max_length = json.loads((export / "zhcls.json").read_text(encoding="utf-8"))["max_length"]

    def predict(texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        logits = session.run(None, {name: batch[name].astype(np.int64) for name in names})[0]
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    return predict


# Overheads compared in part 3; a huge one never splits a batch (one padded call, as before).
OVERHEADS = {"one padded call per batch": 10**9, **{f"split, overhead {n} tokens": n for n in (8, 16, 32, 64, 128)}}


def length_batching(export: Path, threads: int, batches: list[list[str]]) -> dict:
    """Batch latency of the runtime for each overhead in OVERHEADS, interleaved call by call."""
    contenders = {}
    for name, overhead in OVERHEADS.items():
        classifier = Classifier.load(export, threads=threads, spin=False)
        classifier.call_overhead_tokens = overhead
        contenders[name] = classifier.predict_proba
    return interleaved_latency(contenders, batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, help="an export directory (default: the best student's int8 export)")
    parser.add_argument("--data", default="chnsenticorp")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--batch1-texts", type=int, default=300)
    parser.add_argument("--batch32-batches", type=int, default=30)
    args = parser.parse_args()
    if args.export is None:
        student = require_best_student(args.data, ROOT / "runs")
        args.export = export_all(student, ROOT / "runs", args.data, (OURS_INT8,))[OURS_INT8]

    cold = {
        "zhcls.runtime": cold_start(COLD_RUNTIME, args.export, args.threads, args.cold_runs),
        "transformers tokenizer + ONNX Runtime": cold_start(COLD_BY_HAND, args.export, args.threads, args.cold_runs),
    }
    test = load_splits(DataSpec(args.data)).test
    rng = np.random.default_rng(0)
    batches = {
        "batch1": [[test.texts[i]] for i in rng.permutation(len(test))[: args.batch1_texts]],
        "batch32": [
            [test.texts[i] for i in rng.choice(len(test), 32, replace=False)] for _ in range(args.batch32_batches)
        ],
    }
    classifier = Classifier.load(args.export, threads=args.threads, spin=False)
    contenders = {
        "zhcls.runtime": classifier.predict_proba,
        "transformers tokenizer + ONNX Runtime": by_hand(args.export, args.threads),
    }
    # Call by call on the same batches: dynamic int8 quantizes with the range of the whole batch, so both
    # paths must see the same batch partners for their answers to be comparable.
    sample = [text for batch in batches["batch32"] for text in batch]
    agreement = float(
        np.mean(
            [
                (
                    contenders["zhcls.runtime"](batch).argmax(1)
                    == contenders["transformers tokenizer + ONNX Runtime"](batch).argmax(1)
                ).mean()
                for batch in batches["batch32"]
            ]
        )
    )
    warm = {workload: interleaved_latency(contenders, calls) for workload, calls in batches.items()}
    by_length = length_batching(args.export, args.threads, batches["batch32"])

    cpu = cpu_info()
    flags = ", ".join(name for name, present in cpu["flags"].items() if present)
    export_name = args.export.relative_to(ROOT) if args.export.is_relative_to(ROOT) else args.export
    lines = [
        "# Runtime: cold start, memory and speed of `zhcls.runtime` against the hand-written path",
        "",
        "Reproduce: `python benchmarks/runtime.py`. "
        f"Export: `{export_name}`; CPU: {cpu['model']} ({flags}), {args.threads} threads.",
        "",
        f"## Cold start (fresh interpreter: import + load + first prediction; median of {args.cold_runs})",
        "",
        "| path | seconds | peak RSS MB | torch/transformers imported |",
        "| --- | --- | --- | --- |",
    ]
    for name, c in cold.items():
        lines.append(f"| {name} | {c['median_s']:.2f} | {c['peak_rss_mb']:.0f} | {c['heavy_modules'] or 'no'} |")
    lines += [
        "",
        f"## Warm latency ({args.data} test texts at real lengths, tokenization included, interleaved; p50 (p90) ms)",
        "",
        "| path | batch 1 ms | batch 32 ms | texts/s (batch 32) |",
        "| --- | --- | --- | --- |",
    ]
    for name in contenders:
        b1, b32 = warm["batch1"][name], warm["batch32"][name]
        lines.append(
            f"| {name} | {b1['p50_ms']:.2f} ({b1['p90_ms']:.2f}) | {b32['p50_ms']:.1f} ({b32['p90_ms']:.1f}) | "
            f"{b32['texts_per_s']:.0f} |"
        )
    ours, theirs = warm["batch1"]["zhcls.runtime"], warm["batch1"]["transformers tokenizer + ONNX Runtime"]
    ours32, theirs32 = warm["batch32"]["zhcls.runtime"], warm["batch32"]["transformers tokenizer + ONNX Runtime"]
    lines += [
        "",
        f"Speed of the runtime against the hand-written path (ratio of medians, above 1: the runtime is faster): "
        f"{theirs['p50_ms'] / ours['p50_ms']:.2f}× at batch 1, {theirs32['p50_ms'] / ours32['p50_ms']:.2f}× at "
        f"batch 32. Label agreement between the two paths on {len(sample)} texts: {agreement:.4f}.",
        "",
    ]
    truncation = Manifest.read(args.export).truncation
    if truncation != "head":
        lines[-1:-1] = [
            f"The model was trained reading {truncation} of long texts, as the runtime reads them (its manifest);",
            "the hand-written path cuts at the head (`truncation=True`), so the two can differ on texts longer",
            "than the window.",
            "",
        ]
    before = by_length["one padded call per batch"]["p50_ms"]
    lines += [
        f"## Batching by length (the runtime at batch 32, the same {len(batches['batch32'])} batches, interleaved)",
        "",
        "The runtime sorts a call's texts by length; the batch is then split where padding the short texts to",
        f"a long one would cost more than another model call (`call_overhead_tokens`, default {CALL_OVERHEAD_TOKENS}).",
        "",
        "| batching | batch 32 ms | texts/s | speed-up |",
        "| --- | --- | --- | --- |",
    ]
    for name, result in by_length.items():
        lines.append(
            f"| {name} | {result['p50_ms']:.1f} ({result['p90_ms']:.1f}) | {result['texts_per_s']:.0f} | "
            f"{before / result['p50_ms']:.2f}× |"
        )
    lines.append("")
    payload = {
        "cpu": cpu,
        "threads": args.threads,
        "export": str(export_name),
        "cold_start": cold,
        "warm": warm,
        "agreement": agreement,
        "length_batching": {"overheads": OVERHEADS, "batch32": by_length},
    }
    write_results("runtime", lines, payload)


if __name__ == "__main__":
    main()
