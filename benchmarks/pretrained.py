"""Write benchmarks/results/gpu_e2e.{md,json} from the runs of benchmarks/gpu_e2e.sh (and foundation.py).

    python benchmarks/pretrained.py [--work runs] [--name gpu_e2e]

Reads runs/pretrained (pretraining and the teachers fine-tuned from it) and runs/foundation (the TF-IDF
baselines and the teachers trained from zero), so every row shares one split: stratified 80/10/10, split
seed 0, duplicates removed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import ROOT, add_report_name, write_results

DATASETS = ("chnsenticorp", "online-shopping-10")


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _machine(metrics: dict) -> str:
    machine = metrics["machine"]
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    return f"{machine['processor']}{gpu}, torch {machine['torch']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs")
    add_report_name(parser, "gpu_e2e")
    args = parser.parse_args()
    pretrained, foundation = args.work / "pretrained", args.work / "foundation"

    names = ("mlm", "mlm-reviews", "mlm-reviews-512")
    runs = {name: _read(pretrained / name / "metrics.json") for name in names}
    blocks = {name: (_read(pretrained / name / "pretrain_config.json") or {}).get("max_length") for name in names}
    lines = [
        "# GPU end to end: pretraining a teacher here, then fine-tuning it",
        "",
        "Reproduce: `FULL=1 ZHCLS_DATA_DIR=../shared/datasets bash benchmarks/gpu_e2e.sh "
        "../shared/corpus/msra_news_sentences.txt`",
        "on one CUDA GPU (the full recipe; narrowed runs as the script's header and the run's log say), then",
        "`python benchmarks/foundation.py` (TF-IDF, from-zero teachers) and this script.",
        "Every corpus had every dev and test text of both data sets removed before use (`--exclude`).",
        "",
        "## Pretraining (jieba whole-word MLM, 4×256 BERT, bf16, masked-only head, packed blocks)",
        "",
        "Held-out masked accuracy is measured on held-out blocks of the run's own length: a 512-token block gives",
        "each masked word more context than a 128-token one, so that column compares runs of one length only.",
        "",
        "| run | corpus | lines (dev/test texts dropped) | characters | block | budget | tokens seen | tokens/s "
        "| held-out masked acc. |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in runs.items():
        if m is None:
            continue
        corpus = m["corpus"]
        sources = ", ".join(Path(s).name for s in corpus["sources"])
        lines.append(
            f"| {name} ({m['model']}) | {sources} | {corpus['lines']:,} ({corpus['excluded']:,}) | "
            f"{corpus['characters']:,} | {blocks[name] or '?'} | {m['train_minutes']:.1f} min | "
            f"{m['tokens_seen'] / 1e6:.1f} M | "
            f"{m['tokens_per_s']:,.0f} | {m['heldout_best']['masked_accuracy']:.4f} |"
        )
    lines += [
        "",
        "## Teachers on the same split (test accuracy / macro-F1; dev accuracy chose every checkpoint)",
        "",
        "| data set | model | dev acc. | test acc. | test macro-F1 | fine-tune time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    payload: dict = {"pretraining": runs, "teachers": {}}
    machines = {_machine(m) for m in runs.values() if m}
    for dataset in DATASETS:
        rows = {
            "TF-IDF char 1-3 + jieba words, LR": _read(foundation / dataset / "baseline" / "metrics.json"),
            "BERT 4×256 from zero (foundation.py)": _read(foundation / dataset / "teacher" / "metrics.json"),
            "BERT 4×256, general MLM (mlm)": _read(pretrained / dataset / "teacher-general" / "metrics.json"),
            "BERT 4×256, general + review MLM (mlm-reviews)": _read(pretrained / dataset / "teacher" / "metrics.json"),
            "BERT 4×256, + 512-token review MLM (mlm-reviews-512), whole reviews (512 tokens, head+tail)": _read(
                pretrained / dataset / "teacher-512" / "metrics.json"
            ),
        }
        payload["teachers"][dataset] = rows
        for label, m in rows.items():
            if m is None:
                continue
            seconds = m.get("train_seconds", m.get("fit_seconds", 0))
            lines.append(
                f"| {dataset} | {label} | {m['dev']['accuracy']:.4f} | {m['test']['accuracy']:.4f} | "
                f"{m['test']['macro_f1']:.4f} | {seconds / 60:.1f} min |"
            )
            if "torch" in m.get("machine", {}):  # the TF-IDF baseline's machine is named below
                machines.add(_machine(m))
    lines += ["", *(f"Machine: {text}." for text in sorted(machines)), "TF-IDF ran on this project's 2-core CPU."]
    write_results(args.name, lines, payload)


if __name__ == "__main__":
    main()
