"""`zhcls models` and `zhcls prune-vocab`: the built-in pretrained encoders, and a vocabulary cut to a task's."""

from __future__ import annotations

from pathlib import Path

import click

from zhcls.cli.app import cli
from zhcls.cli.options import check_outputs, corpus_options
from zhcls.errors import require


@cli.command()
def models() -> None:
    """List the built-in pretrained encoders: the hub checkpoint online, the bundled copy offline."""
    from zhcls.pretrained.builtin import describe_builtins

    click.echo(describe_builtins())


@cli.command("prune-vocab")
@click.argument("model")
@corpus_options
@click.option(
    "--keep-top",
    default=0,
    type=click.IntRange(min=0),
    help="Also keep this many of the tokenizer's own best pieces (its commonest), for text beyond the corpus.",
)
@click.option(
    "--layers",
    default=None,
    type=click.IntRange(min=1),
    help="Also keep only the bottom N transformer layers (the cheapest to drop are the top ones). Default: all.",
)
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
def prune_vocab(
    model: str, corpora: tuple[str, ...], exclude: tuple[str, ...], keep_top: int, layers: int | None, output: Path
) -> None:
    """Keep only the vocabulary a corpus uses: MODEL (a built-in name, hub id or directory) with its tokenizer and
    embedding rows cut to the pieces of the texts (a data set contributes its training split)."""
    check_outputs(output="dir")
    require("torch", "train")
    from zhcls.data.corpus import read_corpus
    from zhcls.prune.vocab import prune_vocabulary

    report = prune_vocabulary(model, read_corpus(corpora, exclude), output, keep_top, layers)
    click.echo(f"{output}: {report.summary()}")
