"""`zhcls train`, `zhcls eval` and `zhcls baseline`: a fine-tuned teacher, its scores, and the classic baselines."""

from __future__ import annotations

from pathlib import Path

import click

from zhcls.cli.app import cli
from zhcls.cli.options import (
    COUNT,
    MAX_LENGTH,
    check_outputs,
    data_options,
    data_spec,
    given,
    loop_options,
    loop_settings,
    overwrite_option,
    run_flags,
    truncation_option,
    write_metrics,
)
from zhcls.errors import require


@cli.command()
@click.option(
    "--model",
    default=None,
    help="Pretrained encoder: a built-in name (zhcls models), a hub id (bert-base-chinese) or a directory.",
)
@click.option("--preset", default=None, help="Start from random weights of a named shape (tiny, mini, small, ...).")
@click.option("--tokenizer", default=None, help="Tokenizer directory or hub id (default: the model's).")
@click.option(
    "--pooling",
    default=None,
    type=click.Choice(["cls", "mean"]),
    help="Classification head: cls (BERT's pooler over the first token) or mean (the average of all tokens, for "
    "encoders trained that way such as multilingual-e5-small). Default: the checkpoint's own (cls for BERT).",
)
@data_options
@loop_options(lr=5e-5)
@truncation_option
def train(**kwargs) -> None:
    """Fine-tune a BERT-family encoder for text classification."""
    check_outputs(output="dir")
    require("torch", "train")
    from zhcls.train.finetune import TrainConfig, summary, train_classifier

    spec, loop, flags = data_spec(kwargs), loop_settings(kwargs), run_flags(kwargs)
    config = TrainConfig(data=spec, loop=loop, **given(kwargs))
    metrics = train_classifier(config, **flags)
    if metrics:
        click.echo(summary(config.output, metrics))


@cli.command("eval")
@click.argument("model_dir", type=click.Path(path_type=Path))
@data_options
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]))
@click.option("--max-length", default=None, type=MAX_LENGTH, help="Default: the length the model was trained with.")
@click.option("--batch-size", default=64, type=COUNT)
@click.option("--json", "json_path", default=None, help="Also write the metrics to this JSON file.")
@overwrite_option
def eval_(
    model_dir: Path,
    split: str,
    max_length: int | None,
    batch_size: int,
    json_path: str | None,
    overwrite: bool,
    **kwargs,
) -> None:
    """Accuracy, macro-F1, per-class scores and confusion matrix of a model on a data split.

    Without --data, the data and split the model was trained on are used.
    """
    check_outputs(json_path="file")
    require("torch", "train")
    from zhcls.train.evaluate import evaluate_model, recorded_data, summary

    spec = data_spec(kwargs, fallback=recorded_data(model_dir, must_exist=True))
    metrics = evaluate_model(model_dir, spec, split, max_length, batch_size)
    write_metrics(metrics, json_path)
    click.echo(summary(model_dir, metrics))


@cli.command()
@data_options
@click.option(
    "--kind",
    default="tfidf",
    type=click.Choice(["tfidf", "fasttext"]),
    help="tfidf: TF-IDF + logistic regression, C chosen on dev; fasttext: fastText supervised, autotuned on dev "
    "or its tutorial recipe (epoch 25, lr 1.0, word bigrams), whichever dev prefers.",
)
@click.option("--autotune-seconds", default=120, type=COUNT, help="fastText: time its autotune may spend on dev.")
@click.option(
    "--max-size",
    default=None,
    help="fastText: the largest model autotune may pick, such as 2M (quantized); default: no limit (often 1 GB+).",
)
@click.option("--output", default=None, type=click.Path(path_type=Path), help="Directory for the model and metrics.")
@click.option("--json", "json_path", default=None, help="Also write the metrics to this JSON file.")
@overwrite_option
def baseline(
    kind: str,
    autotune_seconds: int,
    max_size: str | None,
    output: Path | None,
    json_path: str | None,
    overwrite: bool,
    **kwargs,
) -> None:
    """A classic baseline every neural model must beat (TF-IDF character 1-3-grams + jieba words, or fastText)."""
    check_outputs(output="dir", json_path="file")
    require("sklearn", "train")
    from zhcls.baselines import fit_baseline, summary
    from zhcls.data import load_splits

    splits = load_splits(data_spec(kwargs))
    metrics = fit_baseline(kind, splits, output, autotune_seconds=autotune_seconds, max_size=max_size)
    write_metrics(metrics, json_path)
    click.echo(summary(metrics))
