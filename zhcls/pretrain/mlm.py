"""Masked-language-model pretraining from zero or from a checkpoint (`zhcls pretrain`).

Tokens per second decide what a CPU can learn in an hour, so the step does only what the objective
needs: lines packed into full blocks (no padding), the prediction head applied to the masked positions
only, dropout off while pretraining, and a learning-rate schedule tied to a time budget.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zhcls.atomic import RunDir, write_json
from zhcls.data.corpus import CorpusStats, read_corpus
from zhcls.errors import UserError
from zhcls.models import masked_lm_logits
from zhcls.pretrain.masking import Blocks, MaskingSettings, mask_block, pack_blocks, replacement_vocabulary
from zhcls.runtime.truncation import DEFAULT_MAX_LENGTH
from zhcls.train.loop import UNTIL_BUDGET_EPOCHS, LoopSettings, fit, start_run

log = logging.getLogger(__name__)

FINE_TUNING_DROPOUT = 0.1  # what the saved config carries, for `zhcls train`
OBJECTIVES = {"mlm": "masked_accuracy", "electra": "rtd_accuracy"}  # objective -> held-out metric kept best


@dataclass(frozen=True)
class PretrainConfig:
    """What to pretrain, on which text, and where the result goes."""

    output: Path
    corpora: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    objective: str = "mlm"
    preset: str | None = None
    tokenizer: str | None = None
    model: str | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    masking: MaskingSettings = field(default_factory=MaskingSettings)
    heldout_fraction: float = 0.02
    rtd_weight: float = 50.0
    loop: LoopSettings = field(default_factory=LoopSettings)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise UserError(f"--objective must be one of {', '.join(OBJECTIVES)}")
        if self.objective == "electra" and self.model is not None:
            raise UserError("--objective electra starts from a preset; continue a checkpoint with --objective mlm")
        if self.rtd_weight <= 0:
            raise UserError("--rtd-weight must be positive")
        if (self.model is None) == (self.preset is None):
            raise UserError("give exactly one of --model (continue a checkpoint) or --preset (random init)")
        if self.preset is not None and self.tokenizer is None:
            raise UserError("--preset starts from random weights and needs --tokenizer DIR (make one with zhcls vocab)")
        if not 8 <= self.max_length <= 512:
            raise UserError("--max-length must be between 8 and 512")
        if not 0 < self.heldout_fraction < 0.5:
            raise UserError("--heldout-fraction must be between 0 and 0.5")

    def to_dict(self) -> dict:
        """A JSON-ready record of the resolved configuration."""
        record = asdict(self)
        record["output"] = str(self.output)
        return record


def pretraining_loop(epochs: int | None = None, **settings: Any) -> LoopSettings:
    """The loop of a pretraining run: no early stopping (held-out scores only pick the best checkpoint); without
    `epochs`, a `minutes` budget alone ends the run (LoopSettings' epochs without one)."""
    if epochs is None:
        epochs = UNTIL_BUDGET_EPOCHS if settings.get("minutes") else LoopSettings.epochs
    return LoopSettings(**{**settings, "epochs": epochs, "patience": 0})


class MaskedLMObjective(torch.nn.Module):
    """Cross-entropy of a masked-language model at its masked positions (see `masked_lm_logits`).

    A wrapper module so that DDP sees one forward call.
    """

    def __init__(self, model: Any):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The mean loss over the masked positions of the batch."""
        labels = batch["labels"]
        chosen = labels != -100
        inputs = {key: batch[key] for key in ("input_ids", "attention_mask")}
        return F.cross_entropy(masked_lm_logits(self.model, inputs, chosen).float(), labels[chosen])

    def scores(self, batches: list[dict[str, torch.Tensor]]) -> dict:
        """Held-out masked-token loss and accuracy."""
        return heldout_scores(self.model, batches)


def build_masked_lm(config: PretrainConfig, tokenizer: Any) -> Any:
    """A masked-language model from a preset (random weights, dropout off) or a checkpoint."""
    from transformers import AutoModelForMaskedLM, BertForMaskedLM

    from zhcls.models import load_error, preset_config, weights_options
    from zhcls.pretrained.builtin import resolve_builtin

    if config.preset is not None:
        shape = preset_config(config.preset, len(tokenizer), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        shape.pad_token_id = tokenizer.pad_token_id
        return BertForMaskedLM(shape)
    try:
        name = resolve_builtin(config.model)
        model = AutoModelForMaskedLM.from_pretrained(name, **weights_options(name))
    except (OSError, ValueError) as exc:
        raise load_error("masked-language model", config.model, exc) from None
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if hasattr(model.config, name):
            setattr(model.config, name, 0.0)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def load_blocks(config: PretrainConfig, tokenizer: Any, cache: Path) -> tuple[Blocks, dict]:
    """The corpus packed into blocks, built once and cached in the run's work area (resume reuses it)."""
    if cache.exists():
        saved = np.load(cache)
        stats = json.loads(str(saved["stats"]))
        blocks = Blocks(saved["input_ids"], saved["word_ids"])
        # A packed corpus travels between machines (--pack-only): refuse one made for another run's shape.
        length, top_id = blocks.input_ids.shape[1], int(blocks.input_ids.max(initial=0))
        if length != config.max_length or top_id >= len(tokenizer):
            raise UserError(
                f"{cache} holds {length}-token blocks with ids up to {top_id}, not {config.max_length}-token blocks "
                f"of this {len(tokenizer)}-token vocabulary: pass --overwrite to pack the corpus again"
            )
        return blocks, stats
    stats = CorpusStats()
    texts = read_corpus(config.corpora, config.exclude, stats)
    blocks = pack_blocks(texts, tokenizer, config.max_length, config.masking.whole_word)
    record = stats.to_dict()
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, input_ids=blocks.input_ids, word_ids=blocks.word_ids, stats=json.dumps(record))
    tmp.replace(cache)
    log.info(
        "corpus: %d lines, %d characters, %d blocks of %d tokens",
        stats.lines,
        stats.characters,
        len(blocks),
        config.max_length,
    )
    return blocks, record


def pretrain(config: PretrainConfig, *, resume: bool = False, overwrite: bool = False, pack_only: bool = False) -> dict:
    """Pretrain, keep the checkpoint with the best held-out masked accuracy, publish the model directory.

    With `pack_only`, stop once the corpus is packed into the work area: packing is CPU work (jieba) that a
    rented GPU would sit idle through, so it can be done beforehand anywhere and the run resumed there.
    """
    from accelerate import PartialState
    from accelerate.utils import set_seed

    from zhcls.machine import machine_info
    from zhcls.models import load_tokenizer, save_tokenizer

    run = RunDir(config.output)
    run.check(resume=resume, overwrite=overwrite, work_area_resumes=True)  # a packed corpus resumes too
    tokenizer = load_tokenizer(config.tokenizer or config.model)
    if tokenizer.mask_token_id is None:
        raise UserError(f"tokenizer '{config.tokenizer or config.model}' has no [MASK] token")
    start_run(run, resume=resume)
    state = PartialState(cpu=not torch.cuda.is_available())
    cache = run.work / "blocks.npz"
    # The main process builds the cache once; the others wait, then read it.
    if state.is_main_process:
        blocks, corpus_stats = load_blocks(config, tokenizer, cache)
    state.wait_for_everyone()
    if not state.is_main_process:
        blocks, corpus_stats = load_blocks(config, tokenizer, cache)
    if pack_only:
        log.info("packed %d blocks into %s; train on them with the same command and --resume", len(blocks), cache)
        return {}

    heldout_count = max(1, int(len(blocks) * config.heldout_fraction)) if len(blocks) > 1 else 0
    split_rng = np.random.default_rng([config.loop.seed, 1])
    order = split_rng.permutation(len(blocks))
    heldout, train = order[:heldout_count], order[heldout_count:]
    if len(train) == 0:
        raise UserError("the corpus is too small: it fills one block; add text or lower --max-length")
    replacements = replacement_vocabulary(tokenizer)
    seed, mask_id = config.loop.seed, tokenizer.mask_token_id

    def masked_batch(block_indices: np.ndarray, epoch: int, salt: int) -> dict[str, torch.Tensor]:
        inputs, labels = [], []
        for index in block_indices:
            rng = np.random.default_rng([seed, salt, epoch, int(index)])  # fresh every epoch, same on resume
            masked, label = mask_block(
                blocks.input_ids[index], blocks.word_ids[index], config.masking, rng, mask_id, replacements
            )
            inputs.append(masked)
            labels.append(label)
        input_ids = torch.from_numpy(np.stack(inputs).astype(np.int64))
        original = torch.from_numpy(blocks.input_ids[block_indices].astype(np.int64))
        return {
            "input_ids": input_ids,
            "original_ids": original,
            "attention_mask": (original != tokenizer.pad_token_id).long(),
            "labels": torch.from_numpy(np.stack(labels).astype(np.int64)),
        }

    # Held-out blocks keep one fixed set of masks, so that every evaluation scores the same task.
    heldout_batches = [masked_batch(heldout[i : i + 64], 0, 2) for i in range(0, len(heldout), 64)]

    set_seed(seed)
    objective = build_objective(config, tokenizer)
    model = objective.model
    metric = OBJECTIVES[config.objective]

    def evaluate(module: torch.nn.Module) -> dict:
        return module.scores(heldout_batches)

    def save_best(module: torch.nn.Module, folder: Path) -> None:
        module.model.save_pretrained(folder, safe_serialization=True)
        save_tokenizer(tokenizer, folder)

    result = fit(
        objective,
        lengths=[config.max_length] * len(train),
        collate=lambda indices, epoch: masked_batch(train[indices], epoch, 1),
        loss_fn=lambda module, batch: module(batch),
        evaluate=evaluate if heldout_count else None,
        metric=metric,
        save_best=save_best,
        settings=config.loop,
        run=run,
        resume=resume and run.resumable,
        desc="pretrain",
    )
    if not result.is_main_process:
        return {}

    state_ = result.state
    tokens = state_.examples_seen * config.max_length
    metrics = {
        "task": "pretrain",
        "objective": config.objective,
        "whole_word_masking": config.masking.whole_word,
        "mask_rate": config.masking.rate,
        "model": config.model or f"preset:{config.preset}",
        "shape": {k: getattr(model.config, k) for k in ("num_hidden_layers", "hidden_size", "vocab_size")},
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "corpus": {**corpus_stats, "blocks": len(blocks), "train_blocks": len(train), "heldout_blocks": heldout_count},
        "steps": state_.step,
        "epochs_run": state_.epoch,
        "tokens_seen": tokens,
        "train_minutes": round(state_.train_seconds / 60, 2),
        "tokens_per_s": round(tokens / max(state_.train_seconds, 1e-9), 1),
        "stopped_by_budget": bool(config.loop.minutes) and state_.train_seconds >= 60 * config.loop.minutes,
        "precision": result.precision,
        "num_processes": result.num_processes,
        "machine": machine_info(),
        "heldout_final": objective.scores(heldout_batches) if heldout_count else {},
        "heldout_best": _best_evaluation(run.log),
        "best_metric": metric,
    }
    run.publish_best(
        {"pretrain_config.json": config.to_dict(), "metrics.json": metrics},
        amend=lambda staged: _restore_dropout(staged / "config.json"),
    )
    log.info("wrote %s", config.output)
    return metrics


def _best_evaluation(log_path: Path) -> dict:
    """The held-out scores of the kept checkpoint, as logged when it was evaluated."""
    best: dict = {}
    for line in log_path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "eval" and event.get("best"):
            best = {k: v for k, v in event.items() if k not in ("event", "best")}
    return best


def build_objective(config: PretrainConfig, tokenizer: Any) -> torch.nn.Module:
    """The training objective module; its `.model` is what gets saved."""
    if config.objective == "electra":
        from zhcls.models import PRESETS
        from zhcls.pretrain.electra import ElectraObjective, electra_pair

        if config.preset not in PRESETS:
            raise UserError(f"unknown preset '{config.preset}', choose one of {', '.join(PRESETS)}")
        generator, discriminator = electra_pair(PRESETS[config.preset], len(tokenizer), tokenizer.pad_token_id)
        return ElectraObjective(generator, discriminator, config.rtd_weight)
    return MaskedLMObjective(build_masked_lm(config, tokenizer))


def _restore_dropout(config_path: Path) -> None:
    """Pretraining ran without dropout; fine-tuning the saved checkpoint should have it back."""
    record = json.loads(config_path.read_text(encoding="utf-8"))
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if name in record:
            record[name] = FINE_TUNING_DROPOUT
    write_json(config_path, record)


@torch.inference_mode()
def heldout_scores(model: Any, batches: list[dict[str, torch.Tensor]]) -> dict:
    """Masked-token loss and accuracy on fixed held-out masks."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct, count = 0.0, 0, 0
    for batch in batches:
        labels = batch["labels"].to(device)
        chosen = labels != -100
        inputs = {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}
        picked = masked_lm_logits(model, inputs, chosen).float()
        total_loss += F.cross_entropy(picked, labels[chosen], reduction="sum").item()
        correct += int((picked.argmax(-1) == labels[chosen]).sum())
        count += int(chosen.sum())
    model.train(was_training)
    return {
        "masked_loss": total_loss / max(count, 1),
        "masked_accuracy": correct / max(count, 1),
        "masked_tokens": count,
    }


__all__ = ["MaskedLMObjective", "PretrainConfig", "heldout_scores", "pretrain"]


def summary(output: Path, metrics: dict) -> str:
    """Tokens seen, their speed, and the held-out score of the checkpoint kept."""
    metric = metrics["best_metric"]
    return (
        f"{output}: {metrics['tokens_seen']:,} tokens in {metrics['train_minutes']:.1f} min "
        f"({metrics['tokens_per_s']:,.0f} tokens/s); held-out {metric.replace('_', ' ')} "
        f"{metrics['heldout_best'].get(metric, 0):.4f}"
    )
