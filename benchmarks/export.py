"""Reproduce benchmarks/results/export.{md,json}: what each export step buys on this CPU, against Optimum.

    python benchmarks/export.py [--datasets chnsenticorp online-shopping-10] [--threads 2]

For each data set, the teacher (runs/pretrained/NAME/teacher, from benchmarks/gpu_e2e.sh) and the best
distilled student on dev (runs/distill/NAME/v*, from benchmarks/distill.py) are exported with `zhcls export`
as fp32, fused fp32, dynamic int8 (fused and not) and static int8 (QDQ), beside Optimum's own
`ORTQuantizer` dynamic-int8 preset for this CPU applied to the same fp32 graph. Every artifact runs through
the same runtime (`zhcls.runtime.Classifier`: same tokenizer, batching and threads), so the graphs alone
differ. Latency: test texts at their real lengths, tokenization included, batch 1 and batch 32, contenders
interleaved call by call; medians reported. Finished exports are reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
from _common import ROOT, students_folder, write_results, zhcls

from zhcls.bench.timing import interleaved_latency
from zhcls.data import DataSpec, load_splits
from zhcls.evaluation import classification_metrics
from zhcls.runtime import Classifier
from zhcls.runtime.cpu import cpu_info, has_vnni
from zhcls.runtime.manifest import Manifest

VARIANTS = {
    "fp32": ["--no-fuse"],
    "fp32 fused": [],
    "int8 dynamic, fused (zhcls)": ["--int8"],
    "int8 dynamic (zhcls)": ["--int8", "--no-fuse"],
    "int8 static QDQ (zhcls)": ["--int8", "static"],
}
OPTIMUM = "int8 dynamic (Optimum ORTQuantizer)"
OURS_INT8 = "int8 dynamic, fused (zhcls)"


def student_runs(name: str, work: Path, teacher_name: str = "teacher") -> list[Path]:
    """The finished students (distilled or plainly trained) of that teacher, from benchmarks/distill.py."""
    folder = students_folder(work, name, teacher_name)
    return sorted(d for d in folder.glob("[!.]*") if (d / "metrics.json").exists()) if folder.exists() else []


def dev_scores(run: Path) -> tuple[float, float]:
    """A model's dev accuracy and macro-F1, from its metrics.json."""
    dev = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["dev"]
    return dev["accuracy"], dev["macro_f1"]


def best_student(name: str, work: Path, teacher_name: str = "teacher") -> Path | None:
    """The student of that teacher with the best dev accuracy, ties broken by dev macro-F1."""
    runs = student_runs(name, work, teacher_name)
    return max(runs, key=dev_scores) if runs else None


def require_best_student(name: str, work: Path) -> Path:
    """`best_student`, or a stop telling how to make one."""
    student = best_student(name, work)
    if student is None:
        raise SystemExit(f"no distilled student of {name}: run benchmarks/distill.py first, or pass --export")
    return student


def exports_folder(model: Path, work: Path, name: str) -> Path:
    """Where one model's exports go: work/export/NAME/<its path under work>."""
    try:
        tag = "-".join(model.resolve().relative_to(work.resolve()).parts)
    except ValueError:
        tag = "-".join(model.parts[-2:])
    return work / "export" / name / tag


def export_variant(model: Path, work: Path, name: str, label: str) -> Path | None:
    """One of the VARIANTS of a model, exported unless it already is; None when the parity gate refuses it (its
    `.rejected` folder stays beside, and is not tried again)."""
    folder = exports_folder(model, work, name) / label.split(" (")[0].replace(" ", "-").replace(",", "")
    rejected = folder.with_name(folder.name + ".rejected")
    if not (folder / "zhcls.json").exists() and not rejected.exists():
        shutil.rmtree(folder, ignore_errors=True)
        try:
            zhcls("export", model, "--output", folder, *VARIANTS[label])
        except subprocess.CalledProcessError:
            if not rejected.exists():
                raise
    return folder if (folder / "zhcls.json").exists() else None


def export_all(model: Path, work: Path, name: str, wanted: tuple[str, ...] = tuple(VARIANTS)) -> dict[str, Path]:
    """The `wanted` variants of one model and Optimum's, exported unless they already are (export_variant), under
    exports_folder. A variant the parity gate refuses is left out."""
    folders = {}
    for label in dict.fromkeys(("fp32", *wanted)):  # Optimum quantizes the plain fp32 graph
        if (folder := export_variant(model, work, name, label)) is not None:
            folders[label] = folder
    folders[OPTIMUM] = optimum_int8(folders["fp32"], exports_folder(model, work, name) / "int8-optimum")
    return {label: folder for label, folder in folders.items() if label in (*wanted, OPTIMUM)}


def optimum_int8(fp32_export: Path, folder: Path) -> Path:
    """Optimum's dynamic-int8 preset for this CPU on the plain fp32 graph, laid out as a zhcls export."""
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if (folder / "zhcls.json").exists():
        return folder
    preset = "avx512_vnni" if has_vnni() else "avx2"
    config = getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=False)
    staged = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(fp32_export, staged)
    quantizer = ORTQuantizer.from_pretrained(fp32_export, file_name="model.onnx")
    quantizer.quantize(save_dir=staged / "optimum", quantization_config=config)
    (staged / "optimum" / "model_quantized.onnx").replace(staged / "model.onnx")
    shutil.rmtree(staged / "optimum")
    manifest = Manifest.read(staged)
    manifest.precision = "int8"
    manifest.quantization = {"scheme": "optimum-ortquantizer-dynamic", "preset": preset, "per_channel": False}
    manifest.fusion, manifest.parity = {}, {}
    manifest.write(staged)
    staged.rename(folder)
    return folder


def measure(folders: dict[str, Path], spec: DataSpec, threads: int, batch1: int, batch32: int, seed: int) -> dict:
    """Accuracy on the test split, size, load time and interleaved latency of every artifact."""
    import time

    splits = load_splits(spec)
    test = splits.test
    index = {label: i for i, label in enumerate(splits.labels)}
    gold = [index[label] for label in test.labels]
    rng = np.random.default_rng(seed)
    one = [[test.texts[i]] for i in rng.choice(len(test), size=min(batch1, len(test)), replace=False)]
    many = [[test.texts[i] for i in rng.choice(len(test), size=32, replace=False)] for _ in range(batch32)]

    results, classifiers = {}, {}
    for label, folder in folders.items():
        started = time.perf_counter()
        # No busy-waiting workers: six sessions take turns on the same cores.
        classifier = Classifier.load(folder, threads=threads, spin=False)
        load_seconds = time.perf_counter() - started
        predicted = classifier.predict_logits(test.texts).argmax(-1)
        scores = classification_metrics(gold, predicted, splits.labels)
        classifiers[label] = classifier.predict_logits
        results[label] = {
            "folder": str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder),
            "size_mb": round((folder / "model.onnx").stat().st_size / 2**20, 2),
            "load_s": round(load_seconds, 3),
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "quantization": classifier.manifest.quantization,
            "fusion": classifier.manifest.fusion,
        }
    for key, batches in (("batch1", one), ("batch32", many)):
        for label, timing in interleaved_latency(classifiers, batches).items():
            results[label][key] = timing
    return {"test_size": len(test), "batch1_texts": len(one), "batch32_batches": len(many), "contenders": results}


def write_report(all_results: dict, threads: int) -> None:
    """benchmarks/results/export.md and .json."""
    import onnxruntime

    cpu = cpu_info()
    flags = ", ".join(name for name, present in cpu["flags"].items() if present) or "none of note"
    lines = [
        "# Export: fp32, fusion, int8 (ours) and Optimum's int8 on this CPU",
        "",
        "Reproduce: `python benchmarks/export.py` (after `benchmarks/gpu_e2e.sh` and `benchmarks/distill.py`).",
        f"CPU: {cpu['model']} ({flags}), {threads} threads, onnxruntime {onnxruntime.__version__}.",
        "Every artifact runs through `zhcls.runtime.Classifier` (same tokenizer, batching, threads). Latency",
        "includes tokenization; test texts at their real lengths; contenders interleaved call by call; p50 (p90).",
        "Accuracy: the whole test split (stratified 80/10/10, split seed 0, duplicates removed).",
        "",
    ]
    for name, roles in all_results.items():
        for role, result in roles.items():
            contenders = result["contenders"]
            lines += [
                f"## {name}: {role} ({result['model']})",
                "",
                f"Test texts: {result['test_size']}; batch 1 over {result['batch1_texts']} texts, batch 32 over "
                f"{result['batch32_batches']} batches.",
                "",
                "| artifact | size MB | test accuracy | macro-F1 | batch 1 ms | batch 32 ms | texts/s (b32) |",
                "| --- | --- | --- | --- | --- | --- | --- |",
            ]
            for label, c in contenders.items():
                b1, b32 = c["batch1"], c["batch32"]
                lines.append(
                    f"| {label} | {c['size_mb']:.1f} | {c['accuracy']:.4f} | {c['macro_f1']:.4f} | "
                    f"{b1['p50_ms']:.2f} ({b1['p90_ms']:.2f}) | {b32['p50_ms']:.1f} ({b32['p90_ms']:.1f}) | "
                    f"{b32['texts_per_s']:.0f} |"
                )
            if result.get("refused_by_parity_gate"):
                refused = ", ".join(result["refused_by_parity_gate"])
                lines += ["", f"Refused by the parity gate against PyTorch on dev, so not measured: {refused}."]
            ours = [label for label in contenders if "zhcls" in label]
            best = min(ours, key=lambda label: contenders[label]["batch1"]["p50_ms"])
            optimum = contenders[OPTIMUM]
            lines += [
                "",
                f"Fastest of ours at batch 1: **{best}**, "
                f"{optimum['batch1']['p50_ms'] / contenders[best]['batch1']['p50_ms']:.2f}× Optimum's batch-1 median, "
                f"{optimum['batch32']['p50_ms'] / contenders[best]['batch32']['p50_ms']:.2f}× at batch 32; accuracy "
                f"{contenders[best]['accuracy']:.4f} against Optimum's {optimum['accuracy']:.4f}.",
                "",
            ]
    payload = {"cpu": cpu, "threads": threads, "onnxruntime": onnxruntime.__version__, "results": all_results}
    write_results("export", lines, payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["chnsenticorp", "online-shopping-10"])
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    parser.add_argument("--teachers", type=Path, default=ROOT / "runs" / "pretrained")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch1-texts", type=int, default=300)
    parser.add_argument("--batch32-batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    all_results: dict = {}
    for name in args.datasets:
        models = {"teacher": args.teachers / name / "teacher", "student": best_student(name, args.work)}
        for role, model in models.items():
            if model is None or not (model / "metrics.json").exists():
                print(f"skipping {name} {role}: no model yet")
                continue
            folders = export_all(model, args.work, name)
            result = measure(folders, DataSpec(name), args.threads, args.batch1_texts, args.batch32_batches, args.seed)
            result["model"] = str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model)
            result["refused_by_parity_gate"] = [label for label in VARIANTS if label not in folders]
            all_results.setdefault(name, {})[role] = result
    write_report(all_results, args.threads)


if __name__ == "__main__":
    main()
