"""Reproduce benchmarks/results/latency.{md,json}: where the time of one review goes, per student size and length.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/latency.py [--data chnsenticorp] [--work runs]
        [--export DIR ...] [--fasttext DIR] [--tokens 16,32,64,128] [--calls 300]

For each student size (layers × hidden) the best student on dev of that size under WORK/distill/NAME
(benchmarks/distill.py), exported as our fused dynamic int8 unless it already is, or each --export directory;
for each length in --tokens, one text of real test-split characters that the student's tokenizer reads as exactly
that many tokens, at batch 1:

- the ONNX Runtime session alone, its inputs ready: on 1 thread; on N threads spinning; on N threads not spinning
  (N: the cores this process may use, or --threads);
- the whole `Classifier.predict` of the text, as an app calls it (tokenization, the session the runtime picks for
  the call, probabilities);
- tokenization alone (`Classifier.encode`);
- fastText's predict of the same text (--fasttext DIR, a `zhcls baseline --kind fasttext` directory; by default
  benchmarks/bench.py's capped model of the data set, where it exists).

Everything of one length is timed interleaved call by call (every size and fastText together), medians and p90
reported. Run it on an otherwise idle machine; the report names the CPU, its flags and the threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import ROOT, add_report_name, write_results
from export import OURS_INT8, dev_scores, export_variant, student_runs

from zhcls.bench.run import fixed_length_text
from zhcls.data import DataSpec, load_splits
from zhcls.runtime import Classifier
from zhcls.runtime.classifier import open_session
from zhcls.runtime.cpu import cpu_info, usable_cores
from zhcls.runtime.timing import interleaved_seconds

SESSION_PATHS = ("session, 1 thread", "session, N threads spinning", "session, N threads not spinning")
PATHS = (*SESSION_PATHS, "Classifier.predict", "tokenization")
FASTTEXT = "fastText predict"


def shape(model_dir: Path) -> str:
    """`layers×hidden` of a model or export directory, from its config.json."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return f"{config['num_hidden_layers']}×{config['hidden_size']}"


def students_by_size(name: str, work: Path) -> dict[str, Path]:
    """The student with the best dev scores of each size, smallest first."""
    best: dict[str, Path] = {}
    for run in student_runs(name, work):
        size = shape(run)
        if size not in best or dev_scores(run) > dev_scores(best[size]):
            best[size] = run
    return dict(sorted(best.items(), key=lambda item: tuple(int(n) for n in item[0].split("×"))))


def text_of_tokens(classifier: Classifier, characters: str, tokens: int) -> str:
    """A prefix of `characters` that the classifier reads as exactly `tokens` ids ([CLS] and [SEP] included), or the
    nearest below where none is exact (a tokenizer that joins characters)."""
    text = characters[: tokens - 2]
    while len(text) > 1 and len(classifier.encode([text])[0]) > tokens:
        text = text[:-1]
    while len(text) < len(characters) and len(classifier.encode([text + characters[len(text)]])[0]) <= tokens:
        text += characters[len(text)]
    return text


def session_feed(classifier: Classifier, text: str) -> dict[str, np.ndarray]:
    """The ONNX inputs of `text` alone, as the runtime builds them."""
    ids = np.asarray([classifier.encode([text])[0]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return {name: feed[name] for name in classifier.manifest.input_names}


def paths_of(export: Path, threads: int) -> tuple[Classifier, dict[str, Callable[[str], object]]]:
    """The classifier of an export and the timed paths of one text, by name (the sessions take the text's feed)."""
    classifier = Classifier.load(export)
    model = export / classifier.manifest.model_file
    graph = model.read_bytes()
    providers = ["CPUExecutionProvider"]
    sessions = {
        SESSION_PATHS[0]: open_session(model, graph, providers, 1, True),
        SESSION_PATHS[1]: open_session(model, graph, providers, threads, True),
        SESSION_PATHS[2]: open_session(model, graph, providers, threads, False),
    }
    if threads == 1:  # nothing to tell apart
        sessions = {SESSION_PATHS[0]: sessions[SESSION_PATHS[0]]}
    paths: dict[str, Callable] = {
        path: (lambda feed, session=session: session.run(None, feed)) for path, session in sessions.items()
    }
    paths["Classifier.predict"] = lambda text: classifier.predict([text])
    paths["tokenization"] = lambda text: classifier.encode([text])
    return classifier, paths


def time_length(
    exports: dict[str, Path], fasttext, characters: str, tokens: int, threads: int, calls: int
) -> dict[str, dict]:
    """p50/p90 ms of every path of every size (and fastText's) on one text of `tokens` tokens, interleaved; a size
    whose model takes fewer tokens is left out."""
    callables: dict[str, Callable[[None], object]] = {}
    timed: dict[str, tuple[str, str]] = {}  # the callable's name: the size (FASTTEXT for fastText) and the path
    texts: dict[str, str] = {}
    for size, export in exports.items():
        classifier, paths = paths_of(export, threads)
        if tokens > classifier.max_length:
            continue
        text = texts[size] = text_of_tokens(classifier, characters, tokens)
        feed = session_feed(classifier, text)
        for path, run in paths.items():
            argument = feed if path in SESSION_PATHS else text
            callables[f"{size}: {path}"] = lambda _, run=run, argument=argument: run(argument)
            timed[f"{size}: {path}"] = size, path
    if fasttext is not None:
        text = next(iter(texts.values()), characters[: tokens - 2])
        callables[FASTTEXT] = lambda _: fasttext.predict_proba([text])
        timed[FASTTEXT] = FASTTEXT, FASTTEXT
    results: dict[str, dict] = {size: {"text_characters": len(text)} for size, text in texts.items()}
    if not callables:
        return results
    for name, values in interleaved_seconds(callables, [None] * calls, warmup=20).items():
        size, path = timed[name]
        ms = np.asarray(values) * 1e3
        results.setdefault(size, {})[path] = {
            "p50_ms": round(float(statistics.median(ms)), 4),
            "p90_ms": round(float(np.percentile(ms, 90)), 4),
        }
    return results


def report_lines(payload: dict) -> list[str]:
    """latency.md: the machine, then one table per size (rows: what is timed, columns: tokens)."""
    cpu, tokens = payload["cpu"], payload["tokens"]
    flags = ", ".join(name for name, present in cpu["flags"].items() if present) or "none of note"
    lines = [
        "# Latency of one review: the ONNX session, the whole predict, tokenization and fastText",
        "",
        "Reproduce: `python benchmarks/latency.py`. "
        f"CPU: {cpu['model']} ({cpu['cores']} cores, {payload['usable_cores']} usable; {flags}); "
        f"N = {payload['threads']} threads; onnxruntime {payload['onnxruntime']}.",
        f"Batch 1, one text of real {payload['data']} test characters per length, {payload['calls']} calls per path, "
        "every path of one length interleaved call by call; p50 (p90) ms.",
        "",
    ]
    header = "| path | " + " | ".join(f"{n} tokens" for n in tokens) + " |"
    rule = "| --- " * (len(tokens) + 1) + "|"
    for size, entry in payload["sizes"].items():
        lines += [f"## Student {size} (`{entry['export']}`)", "", header, rule]
        for path in (*PATHS, FASTTEXT):
            cells = []
            for n in tokens:
                timing = payload["by_tokens"][str(n)].get(FASTTEXT if path == FASTTEXT else size, {}).get(path)
                cells.append(f"{timing['p50_ms']:.3f} ({timing['p90_ms']:.3f})" if timing else "—")
            if any(cell != "—" for cell in cells):
                lines.append(f"| {path} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _exports(args: argparse.Namespace) -> dict[str, Path]:
    """The export of each size: the --export directories, or the best student of each size exported."""
    if args.export:
        return {f"{shape(folder)} ({folder.name})": folder for folder in args.export}
    exports = {}
    for size, student in students_by_size(args.data, args.work).items():
        if (folder := export_variant(student, args.work, args.data, OURS_INT8)) is not None:
            exports[size] = folder
    if not exports:
        raise SystemExit(f"no student of {args.data} under {args.work}: run benchmarks/distill.py, or pass --export")
    return exports


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="chnsenticorp", help="whose students, and whose test characters")
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument("--export", type=Path, nargs="+", help="export directories (default: one per student size)")
    parser.add_argument("--fasttext", type=Path, help="a fastText baseline directory (default: bench.py's capped one)")
    parser.add_argument("--tokens", default="16,32,64,128", help="text lengths in tokens, comma-separated")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per path and length")
    parser.add_argument("--threads", type=int, default=None, help="N of the N-thread sessions (default: usable cores)")
    add_report_name(parser, "latency")
    args = parser.parse_args(argv)
    import onnxruntime

    tokens = [int(n) for n in args.tokens.split(",")]
    threads = args.threads or usable_cores()
    exports = _exports(args)
    fasttext_dir = args.fasttext or args.work / "bench" / args.data / "fasttext-2M"
    fasttext = None
    if (fasttext_dir / "fasttext.bin").exists():
        from zhcls.baselines.fasttext import FastTextBaseline

        fasttext = FastTextBaseline.load(fasttext_dir)
    elif args.fasttext:
        raise SystemExit(f"{fasttext_dir}: no fasttext.bin; give a `zhcls baseline --kind fasttext` directory")
    characters = fixed_length_text(load_splits(DataSpec(args.data)).test.texts, 4 * max(tokens))
    payload = {
        "cpu": cpu_info(),
        "usable_cores": usable_cores(),
        "threads": threads,
        "onnxruntime": onnxruntime.__version__,
        "data": args.data,
        "calls": args.calls,
        "tokens": tokens,
        "fasttext": str(fasttext_dir) if fasttext else None,
        "sizes": {size: {"export": str(folder)} for size, folder in exports.items()},
        "by_tokens": {str(n): time_length(exports, fasttext, characters, n, threads, args.calls) for n in tokens},
    }
    write_results(args.name, report_lines(payload), payload)


if __name__ == "__main__":
    main()
