"""Reproduce benchmarks/results/web.{md,json}: the int8 student in a browser page beside the Python runtime.

    ZHCLS_DATA_DIR=../shared/datasets python benchmarks/web.py [--export DIR] [--texts 300] [--threads 2]

Without --export, the best student on dev (benchmarks/distill.py's) is exported with
`zhcls export STUDENT --int8 --web` into runs/web/. Needs examples/web after
`ONNXRUNTIME_NODE_INSTALL=skip npm ci`, playwright (Python) and a system Chromium.

examples/web runs in headless Chromium on ONNX Runtime Web (wasm) with the stated threads; `zhcls.runtime`
runs the same ONNX files with the same threads. Batch 1, test texts at their real lengths, every contender
called once per text in turn, latency including tokenization (in the page: performance.now() around the
page's own classify call). Download size: what the page fetched from its server until the model was loaded.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import ROOT, write_results, zhcls
from export import require_best_student

from zhcls.data import DataSpec, load_splits
from zhcls.runtime import Classifier, Manifest
from zhcls.runtime.cpu import cpu_info
from zhcls.runtime.server import ServeSettings, make_server, static_file

PAGE = ROOT / "examples" / "web"
CHROMIUM = "/usr/bin/chromium"
DTYPES = {"q8": "int8", "fp32": "fp32"}


def fp32_view(export: Path, workdir: Path) -> Path:
    """An export directory holding the web layout's fp32 graph, for `zhcls.runtime` to load."""
    manifest = Manifest.read(export)
    view = workdir / "fp32"
    view.mkdir()
    (view / "model.onnx").symlink_to(export / manifest.extras["web"]["files"]["fp32"])
    (view / manifest.tokenizer_file).symlink_to(export / manifest.tokenizer_file)
    replace(manifest, precision="fp32", quantization={}, extras={}).write(view)
    return view


def open_page(context, port: int, dtype: str, threads: int, export: Path) -> tuple[object, dict]:
    """The page loaded with `dtype`, and what loading it cost: bytes fetched (raw and gzipped), load ms."""
    page = context.new_page()
    origin = f"http://127.0.0.1:{port}"
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(f"{origin}/?dtype={dtype}&threads={threads}")
    page.wait_for_selector("#status[data-ready]", timeout=120_000)
    if page.get_attribute("#status", "data-ready") != "true":
        raise SystemExit(page.text_content("#status"))
    elsewhere = [url for url in fetched if not url.startswith((origin, "blob:", "data:"))]
    if elsewhere:
        raise SystemExit(f"the page fetched from outside its server: {elsewhere}")
    files = {}
    for url in fetched:
        path = static_file(url.removeprefix(origin), PAGE, export) if url.startswith(origin) else None
        if path is not None:
            files[url.removeprefix(origin)] = path
    sizes = {name: path.stat().st_size for name, path in files.items()}
    gzipped = sum(len(gzip.compress(path.read_bytes(), 6)) for path in files.values())
    info = page.evaluate("() => ({loadMs: window.zhcls.loadMs, threads: window.zhcls.threads})")
    return page, {"files": sizes, "bytes": sum(sizes.values()), "gzip_bytes": gzipped, **info}


def summary(values: list[float]) -> dict:
    return {"p50": statistics.median(values), "p90": float(np.percentile(values, 90)), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=None, help="a zhcls export --web directory")
    parser.add_argument("--data", default="chnsenticorp")
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if args.export is None:
        student = require_best_student(args.data, ROOT / "runs")
        args.export = ROOT / "runs" / "web" / args.data / student.name
        if not (args.export / "zhcls.json").exists():
            zhcls("export", student, "--output", args.export, "--int8", "--web")

    texts = load_splits(DataSpec(args.data)).test.texts[: args.texts]
    warmup = load_splits(DataSpec(args.data)).train.texts[: args.warmup]
    manifest = Manifest.read(args.export)
    server, batcher = make_server(Classifier.load(args.export, threads=1), ServeSettings(port=0, web_root=str(PAGE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    workdir = Path(tempfile.mkdtemp())
    python = {
        "int8": Classifier.load(args.export, threads=args.threads, batch_size=1),
        "fp32": Classifier.load(fp32_view(args.export, workdir), threads=args.threads, batch_size=1),
    }
    latency: dict[str, list[float]] = {}
    answers: dict[str, list[dict]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            pages, loads = {}, {}
            for dtype in DTYPES:  # a context each: nothing one page cached serves the other
                context = browser.new_context()
                pages[dtype], loads[dtype] = open_page(context, port, dtype, args.threads, args.export)
            contenders = {f"browser {dtype}": dtype for dtype in DTYPES} | {f"python {p}": p for p in python}

            def call(name: str, text: str) -> tuple[dict, float]:
                if name.startswith("browser"):
                    result = pages[contenders[name]].evaluate("text => window.zhcls.classify(text)", text)
                    return {"label": result["label"], "score": result["score"]}, result["ms"]
                started = time.perf_counter()
                result = python[contenders[name]].predict([text])[0]
                return result, 1000 * (time.perf_counter() - started)

            for text in warmup:
                for name in contenders:
                    call(name, text)
            for text in texts:
                for name in contenders:
                    result, ms = call(name, text)
                    latency.setdefault(name, []).append(ms)
                    answers.setdefault(name, []).append(result)
            chromium_version = browser.version
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        batcher.close()
        shutil.rmtree(workdir)

    parity = {}
    for dtype, precision in DTYPES.items():
        got, want = answers[f"browser {dtype}"], answers[f"python {precision}"]
        parity[dtype] = {
            "label_agreement": float(np.mean([g["label"] == w["label"] for g, w in zip(got, want, strict=True)])),
            "max_abs_score_diff": max(abs(g["score"] - w["score"]) for g, w in zip(got, want, strict=True)),
        }
    cpu = cpu_info()
    import onnxruntime

    payload = {
        "export": str(args.export.relative_to(ROOT) if args.export.is_relative_to(ROOT) else args.export),
        "cpu": cpu["model"],
        "cpu_flags": cpu["flags"],
        "threads": args.threads,
        "chromium": chromium_version,
        "onnxruntime_python": onnxruntime.__version__,
        "texts": len(texts),
        "latency_ms": {name: summary(values) for name, values in latency.items()},
        "page_load": loads,
        "parity": parity,
        "quantization": manifest.quantization,
    }
    write_results("web", report(payload), payload)


def report(payload: dict) -> list[str]:
    cpu_flags = ", ".join(flag for flag, present in payload["cpu_flags"].items() if present)
    loads = payload["page_load"]
    lines = [
        "# Web: the int8 student in a browser page beside the Python runtime",
        "",
        f"Reproduce: `python benchmarks/web.py --threads {payload['threads']} --texts {payload['texts']}` "
        "(examples/web after "
        "`ONNXRUNTIME_NODE_INSTALL=skip npm ci`): it exports the best student on dev with "
        "`zhcls export STUDENT --int8 --web`.",
        f"Machine: {payload['cpu']} ({cpu_flags}); {payload['threads']} thread(s) everywhere: ONNX Runtime Web's "
        f"wasm threads (the page reports {loads['q8']['threads']}) and `zhcls.runtime`'s intra-op threads.",
        f"Browser: headless Chromium {payload['chromium']}, examples/web served by `zhcls serve --web` on "
        f"127.0.0.1; Python: onnxruntime {payload['onnxruntime_python']}.",
        f"Export: {payload['export']} (int8: {payload['quantization'].get('scheme')}, reduce_range "
        f"{payload['quantization'].get('reduce_range')}).",
        f"Batch 1 over {payload['texts']} chnsenticorp test texts at their real lengths, contenders called in turn",
        "text by text, latency including tokenization; p50 (p90) ms.",
        "",
        "| contender | batch 1 ms | label agreement with Python | max abs score diff |",
        "| --- | --- | --- | --- |",
    ]
    for name, stats in payload["latency_ms"].items():
        dtype = name.split()[1]
        agreement = score = "–"
        if name.startswith("browser"):
            agreement = f"{payload['parity'][dtype]['label_agreement']:.4f}"
            score = f"{payload['parity'][dtype]['max_abs_score_diff']:.2g}"
        runtime = "Chromium, wasm" if name.startswith("browser") else "zhcls.runtime"
        label = {"q8": "int8", "fp32": "fp32"}.get(dtype, dtype)
        lines.append(f"| {label} ({runtime}) | {stats['p50']:.2f} ({stats['p90']:.2f}) | {agreement} | {score} |")
    lines += [
        "",
        "## What the page downloads",
        "",
        "Everything fetched from its own server until the model is ready (no other host is contacted); gzip is",
        "what a server compressing its responses would send (`zhcls serve` does not compress).",
        "",
        "| page | files | MB | MB gzipped | model load ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for dtype, load in loads.items():
        lines.append(
            f"| ?dtype={dtype} | {len(load['files'])} | {load['bytes'] / 1e6:.1f} | {load['gzip_bytes'] / 1e6:.1f} "
            f"| {load['loadMs']:.0f} |"
        )
    lines += ["", "Largest files (?dtype=q8):", ""]
    for name, size in sorted(loads["q8"]["files"].items(), key=lambda item: -item[1])[:4]:
        lines.append(f"- `{name}`: {size / 1e6:.2f} MB")
    return lines


if __name__ == "__main__":
    main()
