"""`zhcls vocab` and `zhcls pretrain`: a vocabulary and a masked-language model from unlabeled text."""

from __future__ import annotations

from pathlib import Path

import click

from zhcls.cli.app import cli
from zhcls.cli.options import (
    COUNT,
    NUMBER,
    check_outputs,
    corpus_options,
    loop_options,
    loop_values,
    overwrite_option,
    run_flags,
)
from zhcls.errors import require


@cli.command()
@corpus_options
@click.option("--vocab-size", default=8000, type=int, help="Target vocabulary size.")
@click.option("--min-frequency", default=2, type=COUNT, help="Drop pieces seen fewer times.")
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Tokenizer directory to write.")
@overwrite_option
def vocab(
    corpora: tuple[str, ...],
    exclude: tuple[str, ...],
    vocab_size: int,
    min_frequency: int,
    output: Path,
    overwrite: bool,
) -> None:
    """Train a WordPiece vocabulary (one token per CJK character) for a model trained from zero."""
    check_outputs(output="dir")
    require("transformers", "train")
    from zhcls.data.corpus import read_corpus
    from zhcls.pretrain.vocab import train_vocab

    train_vocab(read_corpus(corpora, exclude), vocab_size, output, min_frequency=min_frequency)
    click.echo(str(output))


@cli.command()
@corpus_options
@click.option("--preset", default=None, help="Start from random weights of a named shape (tiny, mini, small, ...).")
@click.option("--tokenizer", default=None, help="Tokenizer directory (zhcls vocab) for --preset.")
@click.option("--model", default=None, help="Continue pretraining this checkpoint (hub id or directory) on your text.")
@click.option(
    "--objective",
    default="mlm",
    type=click.Choice(["mlm", "electra"]),
    help="mlm: masked-language model; electra: generator + replaced-token-detection discriminator (saved).",
)
@click.option("--rtd-weight", default=50.0, type=NUMBER, help="ELECTRA: weight λ of the discriminator loss.")
@click.option("--wwm/--no-wwm", default=True, help="Mask whole jieba words, or single characters.")
@click.option("--mask-rate", default=0.15, type=NUMBER, help="Share of words (characters with --no-wwm) masked.")
@click.option("--heldout-fraction", default=0.02, type=NUMBER, help="Share of packed blocks held out for evaluation.")
@click.option(
    "--pack-only",
    is_flag=True,
    help="Pack the corpus into the run's work area and stop; the same command with --resume trains on it "
    "(pack on any CPU, train on a GPU).",
)
@loop_options(lr=1e-3)
def pretrain(**kwargs) -> None:
    """Pretrain a masked-language model on unlabeled Chinese text (from zero or from a checkpoint).

    With --minutes and no --epochs, the time budget alone ends the run. --resume continues an interrupted
    run, or one that --pack-only prepared.
    """
    check_outputs(output="dir")
    require("torch", "train")
    from zhcls.pretrain.masking import MaskingSettings
    from zhcls.pretrain.mlm import PretrainConfig, pretrain, pretraining_loop, summary

    epochs_given = click.get_current_context().get_parameter_source("epochs") != click.core.ParameterSource.DEFAULT
    loop = loop_values(kwargs)
    loop["epochs"] = loop["epochs"] if epochs_given else None
    masking = MaskingSettings(rate=kwargs.pop("mask_rate"), whole_word=kwargs.pop("wwm"))
    flags, pack_only = run_flags(kwargs), kwargs.pop("pack_only")
    config = PretrainConfig(masking=masking, loop=pretraining_loop(**loop), **kwargs)
    metrics = pretrain(config, pack_only=pack_only, **flags)
    if metrics:
        click.echo(summary(config.output, metrics))
