"""The one training loop that train, pretrain and distill share.

One process, one GPU, or many processes through `accelerate launch` / `torchrun` (DDP) run the same
code: the data order is a pure function of (seed, epoch), every optimizer step consumes one global
batch that the processes split between them, and a checkpoint holds everything needed to continue
exactly where a killed run stopped.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zhcls.atomic import RunDir, replace_dir, write_json
from zhcls.errors import UserError
from zhcls.progress import progress

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "no", "bf16", "fp16")


# Epochs for a run that only its --minutes budget should end.
UNTIL_BUDGET_EPOCHS = 100_000


@dataclass(frozen=True)
class LoopSettings:
    """Optimization and bookkeeping settings of a training run."""

    epochs: int = 3
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    seed: int = 42
    checkpoint_every: int = 200
    patience: int = 2
    precision: str = "auto"
    log_every: int = 20
    minutes: float | None = None  # a budget of training-step time; warmup and decay are tied to it
    min_steps: int = 0  # with `minutes`: steps the run makes even when its budget is spent before them

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.grad_accum >= 1, "--grad-accum must be at least 1"),
            (self.batch_size >= self.grad_accum, "--batch-size must be at least --grad-accum"),
            (self.lr > 0, "--lr must be positive"),
            (self.weight_decay >= 0, "--weight-decay must be 0 or more"),
            (0 <= self.warmup_ratio < 1, "--warmup-ratio must be in [0, 1)"),
            (self.checkpoint_every >= 0, "--checkpoint-every must be 0 (epoch ends only) or more"),
            (self.patience >= 0, "--patience must be 0 (no early stopping) or more"),
            (self.seed >= 0, "--seed must be 0 or more"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (self.minutes is None or self.minutes > 0, "--minutes must be positive"),
            (self.min_steps >= 0, "--min-steps must be 0 or more"),
            (not self.min_steps or self.minutes, "--min-steps needs --minutes (it is a floor under a time budget)"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)


@dataclass
class LoopState:
    """Where a run stands; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    best_metric: float | None = None
    best_step: int = 0
    best_epoch: int = 0
    bad_epochs: int = 0
    examples_seen: int = 0
    train_seconds: float = 0.0
    stopped_early: bool = False


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, min_size: int = 1) -> list[list[int]]:
    """Global batches of one epoch: shuffled, then grouped by length within chunks of 64 batches.

    A pure function of its arguments, so a resumed or multi-process run sees the same order. A last
    batch smaller than `min_size` (fewer examples than processes × accumulation) joins the one before.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    chunk = batch_size * 64
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        group = order[start : start + chunk]
        group = group[np.argsort(-lengths[group], kind="stable")]
        batches.extend(group[i : i + batch_size].tolist() for i in range(0, len(group), batch_size))
    if len(batches) > 1 and len(batches[-1]) < min_size:
        batches[-2].extend(batches.pop())
    return [batches[i] for i in rng.permutation(len(batches))]


def resolve_precision(precision: str) -> str:
    """'auto' means bf16 on a GPU that supports it, full precision elsewhere."""
    if precision == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    if precision == "fp16" and not torch.cuda.is_available():
        raise UserError("--precision fp16 needs a CUDA GPU; use bf16 or no on a CPU")
    return precision


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Parameter groups for AdamW: no weight decay on biases and normalization weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _save_checkpoint(
    run: RunDir, accelerator: Any, model: Any, optimizer: Any, scheduler: Any, state: LoopState
) -> None:
    from safetensors.torch import save_model

    staged = run.work / "checkpoint.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        save_model(accelerator.unwrap_model(model), str(staged / "model.safetensors"))
        torch.save(optimizer.state_dict(), staged / "optimizer.pt")
        torch.save(scheduler.state_dict(), staged / "scheduler.pt")
        if accelerator.scaler is not None:
            torch.save(accelerator.scaler.state_dict(), staged / "scaler.pt")
    accelerator.wait_for_everyone()
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    torch.save(rng, staged / f"rng_{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(staged / "state.json", {**asdict(state), "num_processes": accelerator.num_processes})
        replace_dir(staged, run.work / "checkpoint")
    accelerator.wait_for_everyone()


def _load_checkpoint(run: RunDir, accelerator: Any, model: Any, optimizer: Any, scheduler: Any) -> LoopState:
    from safetensors.torch import load_model

    folder = run.checkpoint
    saved = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    if saved.pop("num_processes") != accelerator.num_processes:
        raise UserError(f"{folder} was written by a run with a different number of processes; resume with the same")
    load_model(accelerator.unwrap_model(model), str(folder / "model.safetensors"))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    if accelerator.scaler is not None and (folder / "scaler.pt").exists():
        accelerator.scaler.load_state_dict(torch.load(folder / "scaler.pt", weights_only=True))
    rng = torch.load(folder / f"rng_{accelerator.process_index}.pt", weights_only=True)
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    return LoopState(**saved)


def start_run(run: RunDir, *, resume: bool) -> None:
    """Create (or, resuming, keep) the run's work area on the main process; the others wait for it."""
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    if state.is_main_process:
        run.prepare(resume=resume)
    state.wait_for_everyone()


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a resumed run restarts from."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


@dataclass(frozen=True)
class LinearSchedule:
    """Linear warmup then linear decay to zero, over steps or over a time budget, whichever runs out first;
    a time budget lasts at least `min_steps` steps."""

    warmup_ratio: float
    total_steps: int
    minutes: float | None = None
    min_steps: int = 0

    def progress(self, state: LoopState) -> float:
        """How far the run is, from 0 to 1."""
        done = state.step / max(self.total_steps, 1)
        if self.minutes:
            by_budget = state.train_seconds / (60 * self.minutes)
            if self.min_steps:
                by_budget = min(by_budget, state.step / self.min_steps)
            done = max(done, by_budget)
        return min(done, 1.0)

    def factor(self, state: LoopState) -> float:
        """The learning-rate multiplier at this point of the run."""
        done = self.progress(state)
        if done < self.warmup_ratio:
            return done / self.warmup_ratio
        return max(0.0, (1 - done) / (1 - self.warmup_ratio))

    def out_of_time(self, state: LoopState) -> bool:
        """Whether a time budget is set and spent, its step floor included."""
        return bool(self.minutes) and state.train_seconds >= 60 * self.minutes and state.step >= self.min_steps


@dataclass
class FitResult:
    """The final state of a run and the process layout it ran with."""

    state: LoopState
    num_processes: int
    precision: str
    is_main_process: bool


def fit(
    model: torch.nn.Module,
    *,
    lengths: Sequence[int],
    collate: Callable[[list[int], int], dict[str, torch.Tensor]],
    loss_fn: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    evaluate: Callable[[torch.nn.Module], dict[str, float]] | None,
    metric: str,
    save_best: Callable[[torch.nn.Module, Path], None],
    settings: LoopSettings,
    run: RunDir,
    resume: bool = False,
    desc: str = "train",
) -> FitResult:
    """Train `model` on examples 0..len(lengths)-1, keeping the best model by dev `metric` in `run.best`.

    `collate(indices, epoch)` builds a batch. With `settings.minutes`, the run also stops when its
    training-step time reaches the budget, with the learning rate decayed to zero by then.
    The caller has called `start_run(run, resume)` first.
    """
    from accelerate import Accelerator

    precision = resolve_precision(settings.precision)
    accelerator = Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())
    world, rank = accelerator.num_processes, accelerator.process_index
    if settings.batch_size < world * settings.grad_accum:
        raise UserError(f"--batch-size {settings.batch_size} is smaller than processes × --grad-accum")
    steps_per_epoch = len(epoch_batches(lengths, settings.batch_size, settings.seed, 0, world * settings.grad_accum))
    total_steps = steps_per_epoch * settings.epochs
    optimizer = torch.optim.AdamW(decay_groups(model, settings.weight_decay), lr=settings.lr)
    state = LoopState()
    schedule = LinearSchedule(settings.warmup_ratio, total_steps, settings.minutes, settings.min_steps)
    past_budget = False
    # The closure reads `state` when called, so it follows the state a resumed run loads below.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: schedule.factor(state))
    # The scheduler stays unprepared: accelerate would step it once per process.
    model, optimizer = accelerator.prepare(model, optimizer)

    if resume:
        state = _load_checkpoint(run, accelerator, model, optimizer, scheduler)
        if accelerator.is_main_process:
            _trim_log(run.log, state.step)
        log.info("resuming at step %d (epoch %d, batch %d)", state.step, state.epoch + 1, state.batch)
    else:
        torch.manual_seed(settings.seed + rank)  # dropout masks: distinct per process, fixed per run

    def write_log(event: dict) -> None:
        if accelerator.is_main_process:
            with run.log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(event, ensure_ascii=False) + "\n")

    main = accelerator.is_main_process
    # A run only its --minutes end has no step count to show progress against.
    shown_total = None if settings.minutes and settings.epochs >= UNTIL_BUDGET_EPOCHS else total_steps
    bar = progress(total=shown_total, initial=state.step, desc=desc, unit="step", enabled=main)
    window_loss, window_examples, window_start = 0.0, 0, time.perf_counter()
    for epoch in range(state.epoch, settings.epochs):
        if state.stopped_early:
            break
        batches = epoch_batches(lengths, settings.batch_size, settings.seed, epoch, world * settings.grad_accum)
        model.train()
        for index in range(state.batch, len(batches)):
            started = time.perf_counter()
            global_batch = batches[index]
            step_loss = 0.0
            for part in range(settings.grad_accum):
                local = global_batch[part :: settings.grad_accum][rank::world]
                last = part == settings.grad_accum - 1
                with nullcontext() if last else accelerator.no_sync(model):
                    batch = {k: v.to(accelerator.device) for k, v in collate(local, epoch).items()}
                    loss = loss_fn(model, batch) / settings.grad_accum
                    accelerator.backward(loss)
                step_loss += loss.item()
            if not math.isfinite(step_loss):
                raise UserError(
                    f"{desc}: the loss is {step_loss} at step {state.step + 1} (epoch {epoch + 1}); training diverged "
                    f"and nothing was published: lower --lr (now {settings.lr:g}) or check the data"
                )
            if settings.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            state.step += 1
            state.batch = index + 1
            state.examples_seen += len(global_batch)
            step_seconds = time.perf_counter() - started
            if settings.minutes and world > 1:
                # One clock for all processes: the time-tied learning rate and the stop must agree.
                step_seconds = accelerator.reduce(torch.tensor(step_seconds, device=accelerator.device), "max").item()
            state.train_seconds += step_seconds
            scheduler.step()  # after the counters: the schedule reads them
            window_loss += step_loss
            window_examples += len(global_batch)
            bar.update(1)
            out_of_time = schedule.out_of_time(state)
            if settings.min_steps and not past_budget and state.train_seconds >= 60 * settings.minutes:
                past_budget = True
                if main and state.step < settings.min_steps:
                    log.warning(
                        "%s: the %g-minute budget is spent at step %d; going on to step %d (a busy machine makes "
                        "fewer steps a minute, and too few leave a model at chance)",
                        desc,
                        settings.minutes,
                        state.step,
                        settings.min_steps,
                    )
            if state.step % settings.log_every == 0 or index + 1 == len(batches) or out_of_time:
                elapsed = time.perf_counter() - window_start
                steps_in_window = state.step % settings.log_every or settings.log_every
                event = {
                    "event": "train",
                    "step": state.step,
                    "epoch": epoch + 1,
                    "loss": window_loss / steps_in_window,
                    "lr": scheduler.get_last_lr()[0],
                    "examples_per_s": window_examples / max(elapsed, 1e-9),
                }
                bar.set_postfix(loss=f"{event['loss']:.4f}", ex_s=f"{event['examples_per_s']:.1f}", refresh=False)
                write_log(event)
                window_loss, window_examples, window_start = 0.0, 0, time.perf_counter()
            if out_of_time:
                state.stopped_early = True
                break
            if settings.checkpoint_every and state.step % settings.checkpoint_every == 0 and index + 1 < len(batches):
                _save_checkpoint(run, accelerator, model, optimizer, scheduler, state)

        unwrapped = accelerator.unwrap_model(model)
        # Every process evaluates the whole dev set, so all take the same early-stopping decision.
        # Without an evaluation the latest epoch counts as the best.
        scores = evaluate(unwrapped) if evaluate is not None else {}
        model.train()
        value = scores.get(metric, float(epoch))
        improved = state.best_metric is None or value > state.best_metric
        if improved:
            state.best_metric, state.best_step, state.best_epoch, state.bad_epochs = value, state.step, epoch + 1, 0
            if main:
                staged = run.work / "best.tmp"
                shutil.rmtree(staged, ignore_errors=True)
                save_best(unwrapped, staged)
                replace_dir(staged, run.best)
        else:
            state.bad_epochs += 1
        state.epoch, state.batch = epoch + 1, 0
        patience_ran_out = bool(settings.patience) and state.bad_epochs >= settings.patience
        state.stopped_early = state.stopped_early or patience_ran_out
        write_log({"event": "eval", "step": state.step, "epoch": epoch + 1, **scores, "best": improved})
        if evaluate is not None:
            log.info("epoch %d: dev %s %.4f%s", epoch + 1, metric, value, " (best)" if improved else "")
        else:
            log.info("epoch %d done (no dev evaluation in this stage)", epoch + 1)
        _save_checkpoint(run, accelerator, model, optimizer, scheduler, state)
    bar.close()
    accelerator.wait_for_everyone()
    return FitResult(state, world, precision, main)
