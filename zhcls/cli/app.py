"""The `zhcls` group: logging to stderr, the version, and the entry point that maps user errors to exit code 2."""

from __future__ import annotations

import logging
import os
import sys

import click

from zhcls import __version__
from zhcls.errors import UserError
from zhcls.runtime.manifest import ManifestError


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def _setup_logging(verbose: bool, quiet: bool) -> None:
    from zhcls.progress import library_bars_follow_zhcls

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "debug" if verbose else "error")
    library_bars_follow_zhcls()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    root = logging.getLogger("zhcls")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    root.propagate = False
    for noisy in ("jieba", "transformers", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="zhcls")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only.")
def cli(verbose: bool, quiet: bool) -> None:
    """Fine-tune, distill, quantize and run Chinese BERT text classifiers."""
    _setup_logging(verbose, quiet)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        code = cli.main(prog_name="zhcls", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted; `zhcls train` continues such a run with --resume", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # a flag unknown, missing or out of its range: one line, as every user error
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{where}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (UserError, ManifestError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
