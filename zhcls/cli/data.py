"""`zhcls datasets` and `zhcls split`: the built-in data sets, and a data set's split checked or written."""

from __future__ import annotations

from pathlib import Path

import click

from zhcls.cli.app import cli
from zhcls.cli.options import check_outputs, data_options, data_spec, overwrite_option


@cli.command()
def datasets() -> None:
    """List the built-in data sets."""
    from zhcls.data import REGISTRY

    for name, entry in REGISTRY.items():
        click.echo(f"{name:<28} {entry.description}")


@cli.command()
@data_options
@click.option(
    "--output", default=None, type=click.Path(path_type=Path), help="Write train/dev/test.jsonl and split.json here."
)
@overwrite_option
def split(output: Path | None, overwrite: bool, **kwargs) -> None:
    """Check a data set and show (or write) its deterministic train/dev/test split."""
    from zhcls.data import describe_splits, load_splits, write_splits

    check_outputs(output="dir")

    splits = load_splits(data_spec(kwargs))
    click.echo(describe_splits(splits))
    if output is not None:
        write_splits(splits, output)
        click.echo(str(output))
