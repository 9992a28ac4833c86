"""`zhcls bench`: every contender measured in one run, in the same conditions.

Two phases. First each contender runs alone in a fresh process: load time, accuracy and macro-F1 on
the whole test split, and that process's peak resident memory (what an app embedding it would see).
Then all contenders that ran are loaded together and timed interleaved call by call, so machine noise
falls on all alike: batch 1 and batch 32 over the test split's real texts (tokenization included), and
batch 1 at fixed lengths of 32/64/128 tokens. Each contender runs on the threads its users would give it (an
ONNX export as the runtime picks them per call: one for a small call, up to `threads` for a large one, without
busy-waiting workers so that interleaved contenders do not steal each other's cores); the report records them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from zhcls.bench.timing import interleaved_latency
from zhcls.contenders import ContenderSpec, LoadedContender, Unavailable, load_contender
from zhcls.data import DataSpec, load_splits
from zhcls.errors import UserError
from zhcls.evaluation import classification_metrics
from zhcls.runtime.cpu import cpu_info, peak_rss_bytes, usable_cores

LIBRARIES = ("onnxruntime", "torch", "transformers", "optimum", "tokenizers", "numpy", "fasttext-wheel", "fasttext")


@dataclass
class BenchSettings:
    # Threads of a contender's calls (None: every core this process may use); an ONNX contender runs small calls on
    # one, as an app using the runtime does, and records its setting.
    threads: int | None = None
    batch1_texts: int = 200
    batch32_batches: int = 20
    fixed_lengths: tuple[int, ...] = (32, 64, 128)
    fixed_calls: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        self.threads = self.threads or usable_cores()


def _tokenizer_source(specs: list[ContenderSpec]) -> str | None:
    """A tokenizer directory for speed references: the first model or export contender's."""
    return next((s.target for s in specs if s.kind.startswith(("torch", "onnx"))), None)


def _gold_columns(contender: LoadedContender, data_labels: list[str], gold: list[str]) -> list[int] | None:
    """Gold labels as the contender's column indices, or None when its label names differ from the data's."""
    if sorted(contender.labels) != sorted(data_labels):
        return None
    column = {label: i for i, label in enumerate(contender.labels)}
    return [column[label] for label in gold]


def probe(spec: ContenderSpec, texts, gold, data_labels, threads: int, tokenizer_from: str | None) -> dict:
    """Runs in a fresh process: load time, test accuracy and macro-F1, and the process's peak RSS."""
    started = time.perf_counter()
    try:
        contender = load_contender(spec, threads=threads, num_labels=len(data_labels), tokenizer_from=tokenizer_from)
    except Unavailable as exc:
        return {"status": "skipped", "reason": str(exc)}
    load_s = time.perf_counter() - started

    def predicted(some: list[str]) -> np.ndarray:
        return np.concatenate(
            [contender.predict_logits(some[i : i + 32]).argmax(axis=1) for i in range(0, len(some), 32)]
        )

    scores = {"accuracy": None, "macro_f1": None}
    if contender.has_accuracy:
        columns = _gold_columns(contender, data_labels, gold)
        if columns is None:
            return {
                "status": "skipped",
                "reason": f"its labels {contender.labels} differ from the data's {data_labels}",
            }
        predictions = predicted(texts)
        metrics = classification_metrics(columns, predictions, contender.labels)
        scores = {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            # which test texts it got wrong: what pairs of contenders are compared on (report.paired_differences)
            "wrong": np.flatnonzero(predictions != np.asarray(columns)).tolist(),
        }
    else:
        predicted(texts[:64])  # a speed reference only needs a realistic memory peak
    return {
        "status": "ok",
        "load_s": round(load_s, 3),
        "size_mb": round(contender.size_bytes / 2**20, 2),
        "parameters": contender.parameters,
        "precision": contender.precision,
        "threads": contender.threads,
        "source_sha256": contender.source_sha256,
        "details": contender.details,
        **scores,
        "peak_rss_mb": round(peak_rss_bytes() / 2**20, 1),
    }


def _in_fresh_process(function, *args) -> dict:
    # spawn, not fork: a forked child inherits the parent's memory and threads, which would spoil its RSS.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(function, *args).result()
        except Exception as exc:  # a contender that crashes is reported, the others still run
            from zhcls.models import first_line

            return {"status": "failed", "reason": first_line(exc)[:300]}


def fixed_length_text(texts: list[str], tokens: int) -> str:
    """A text of real CJK characters that a character-level vocabulary turns into `tokens` ids with [CLS]/[SEP]."""
    characters = "".join(ch for text in texts for ch in text if "\u4e00" <= ch <= "\u9fff")
    while len(characters) < tokens:
        characters += characters or "好"
    return characters[: tokens - 2]


def machine_record(threads: int) -> dict:
    """CPU model and flags, threads, library versions and the GPU (if torch sees one)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    record = {"cpu": cpu_info(), "threads": threads, "python": platform.python_version(), "libraries": versions}
    if "torch" in sys.modules or "torch" in versions:
        import torch

        if torch.cuda.is_available():
            record["gpu"] = torch.cuda.get_device_name(0)
    return record


@contextlib.contextmanager
def _torch_threads_restored():
    """PyTorch contenders set torch's process-wide thread count; the caller (the demo, a test) gets its own back."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch else None
    try:
        yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(before or usable_cores())


def _workloads(texts: list[str], settings: BenchSettings) -> dict[str, list[list[str]]]:
    """The timed calls: real test texts at batch 1 and 32, and one text per fixed token length."""
    rng = np.random.default_rng(settings.seed)
    workloads = {
        "batch1": [[texts[i]] for i in rng.permutation(len(texts))[: settings.batch1_texts]],
        "batch32": [
            [texts[i] for i in rng.choice(len(texts), size=min(32, len(texts)), replace=False)]
            for _ in range(settings.batch32_batches)
        ],
    }
    for length in settings.fixed_lengths:
        workloads[f"seq{length}"] = [[fixed_length_text(texts, length)]] * settings.fixed_calls
    return workloads


def run_bench(specs: list[ContenderSpec], data: DataSpec, settings: BenchSettings, *, log=print) -> dict:
    """Measure every contender on `data`'s test split; the report's content as a dict."""
    splits = load_splits(data)
    test = splits.test
    texts, gold, labels = list(test.texts), list(test.labels), list(splits.labels)
    tokenizer_from = _tokenizer_source(specs)

    results: dict[str, dict] = {}
    for spec in specs:
        log(f"probing {spec.label} ({spec.kind}) in a fresh process")
        outcome = _in_fresh_process(probe, spec, texts, gold, labels, settings.threads, tokenizer_from)
        results[spec.label] = {"kind": spec.kind, "target": spec.target, **outcome}

    if not any(result["status"] == "ok" for result in results.values()):
        reasons = "; ".join(f"{label}: {result['reason']}" for label, result in results.items())
        raise UserError(f"no contender could run, so nothing was timed ({reasons})")
    with _torch_threads_restored():
        runnable = {}
        for spec in specs:
            if results[spec.label]["status"] == "ok":
                loaded = load_contender(
                    spec, threads=settings.threads, num_labels=len(labels), tokenizer_from=tokenizer_from
                )
                runnable[spec.label] = loaded.predict_logits
        workloads = _workloads(texts, settings)
        for workload, batches in workloads.items():
            log(f"timing {workload}: {len(batches)} calls per contender, interleaved")
            for label, timing in interleaved_latency(runnable, batches).items():
                results[label].setdefault("latency", {})[workload] = timing
    return {
        "data": {**splits.info, "test_size": len(texts), "labels": labels},
        "settings": {
            "threads": settings.threads,
            "batch1_texts": len(workloads["batch1"]),
            "batch32_batches": settings.batch32_batches,
            "fixed_lengths": list(settings.fixed_lengths),
            "fixed_calls": settings.fixed_calls,
            "seed": settings.seed,
        },
        "machine": machine_record(settings.threads),
        "contenders": results,
    }
