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

from zhcls.models import PRESETS as PRESETS_SHAPE

# Teacher recipes from random initialization (no pretrained weights are reachable here). Each candidate
# shape is trained; the one with the best dev accuracy becomes `teacher` (test accuracy is never looked at).
TEACHER = {
    "chnsenticorp": "--epochs 8 --lr 5e-4 --batch-size 32 --patience 3 --max-length 128".split(),
    "online-shopping-10": (
        "--epochs 3 --lr 5e-4 --batch-size 64 --patience 2 --max-length 128 --checkpoint-every 100".split()
    ),
}
CANDIDATES = ("mini", "small")


def run_dataset(name: str, work: Path, presets: tuple[str, ...] = CANDIDATES, baseline: bool = True) -> dict:
    """Baseline, vocabulary and teacher candidates for one data set; returns their metrics."""
    base = work / name
    base.mkdir(parents=True, exist_ok=True)
    if baseline and not (base / "baseline" / "metrics.json").exists():
        zhcls("baseline", "--data", name, "--output", str(base / "baseline"))
    if not (base / "vocab" / "tokenizer.json").exists():
        zhcls("vocab", "--corpus", name, "--vocab-size", "8000", "--output", str(base / "vocab"))
    candidates = {
        preset: produce(
            base / f"teacher-{preset}",
            *("train", "--data", name, "--tokenizer", base / "vocab", "--preset", preset, *TEACHER[name]),
        )
        for preset in presets
    }
    best = max(candidates, key=lambda preset: candidates[preset]["dev"]["accuracy"])
    link = base / "teacher"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(f"teacher-{best}")
    result = {"teacher": {**candidates[best], "preset": best}, "candidates": candidates}
    if baseline:
        result["baseline"] = json.loads((base / "baseline" / "metrics.json").read_text(encoding="utf-8"))
    return result


def write_report(results: dict) -> None:
    """benchmarks/results/foundation.md and .json from the collected metrics."""
    lines = [
        "# Foundation: TF-IDF baseline and a teacher trained from zero",
        "",
        "Reproduce: `python benchmarks/foundation.py`. Split: stratified 80/10/10, split seed 0, exact duplicates",
        "removed; model selection on dev only. Teachers are BERT encoders from random initialization (no",
        "pretrained Chinese checkpoint is reachable on these machines) with a WordPiece vocabulary trained on the",
        f"training split; each shape in {', '.join(CANDIDATES)} is trained, the best on dev becomes the teacher (★).",
        "",
        "| data set | train / dev / test | model | params | dev acc. | test accuracy | test macro-F1 | train time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    machines = []
    for name, result in results.items():
        sizes = result["teacher"]["data"]["sizes"]
        split = f"{sizes['train']} / {sizes['dev']} / {sizes['test']}"
        b = result["baseline"]
        lines.append(
            f"| {name} | {split} | TF-IDF char 1-3 + jieba 1-2, LR (C={b['c']}) | – | {b['dev']['accuracy']:.4f} | "
            f"{b['test']['accuracy']:.4f} | {b['test']['macro_f1']:.4f} | {b['fit_seconds']:.0f} s |"
        )
        for preset, t in result["candidates"].items():
            shape = "×".join(str(PRESETS_SHAPE[preset][k]) for k in ("num_hidden_layers", "hidden_size"))
            star = " ★" if preset == result["teacher"]["preset"] else ""
            lines.append(
                f"| {name} | {split} | BERT {shape} from zero{star}, {t['precision']}, epoch {t['best_epoch']} of "
                f"{t['epochs_run']} | {t['parameters'] / 1e6:.1f} M | {t['dev']['accuracy']:.4f} | "
                f"{t['test']['accuracy']:.4f} | {t['test']['macro_f1']:.4f} | {t['train_seconds'] / 60:.1f} min |"
            )
            machines.append(t["machine"])
    described = {_describe(m) for m in machines if m}
    baseline_machines = {_describe(r["baseline"]["machine"]) for r in results.values() if "machine" in r["baseline"]}
    lines += ["", *(f"Teachers' machine: {text}" for text in sorted(described))]
    lines += [
        f"TF-IDF's machine: {text}"
        for text in sorted(baseline_machines) or ["not recorded (a baseline run older than the machine field)"]
    ]
    write_results("foundation", lines, results)


def _describe(machine: dict) -> str:
    gpu = f", GPU {machine['gpu']}" if machine.get("gpu") else ""
    torch = f", torch {machine['torch']}" if machine.get("torch") else ""
    return f"{machine['processor']}, {machine['threads']} threads{gpu}{torch}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "foundation")
    parser.add_argument("--datasets", nargs="+", default=list(TEACHER))
    parser.add_argument("--presets", nargs="+", default=list(CANDIDATES), help="teacher shapes to try")
    parser.add_argument("--teachers-only", action="store_true", help="train teachers, skip baseline and report")
    args = parser.parse_args()
    results = {
        name: run_dataset(name, args.work, tuple(args.presets), baseline=not args.teachers_only)
        for name in args.datasets
    }
    if not args.teachers_only:
        write_report(results)


if __name__ == "__main__":
    main()
