"""`zhcls predict` and `zhcls serve`: an export directory classifying texts from the command line or over HTTP."""

from __future__ import annotations

from pathlib import Path

import click

from zhcls.cli.app import cli
from zhcls.cli.options import COUNT, NUMBER, check_outputs, overwrite_option
from zhcls.runtime.classifier import ONE_THREAD_TOKENS
from zhcls.runtime.truncation import TRUNCATION

THREADS_HELP = (
    f"ONNX Runtime threads of every call (default: one under {ONE_THREAD_TOKENS} padded tokens a call, the usable "
    "cores above)."
)


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--input", "input_path", default=None, help="A .txt/.csv/.tsv/.jsonl file, or - for stdin.")
@click.option("--text-col", default=None, help="Text column of a CSV/JSONL input.")
@click.option("--output", default=None, type=click.Path(path_type=Path), help="JSONL output (default: stdout).")
@click.option("--top-k", default=1, type=COUNT, help="Labels per text.")
@click.option("--batch-size", default=32, type=COUNT)
@click.option("--threads", default=None, type=COUNT, help=THREADS_HELP)
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda", "tensorrt"]))
@click.option(
    "--truncation",
    default=None,
    type=click.Choice(TRUNCATION),
    help="Which tokens of a long text to keep (default: the model's own, from training).",
)
@overwrite_option
def predict(model_dir: Path, texts: tuple[str, ...], overwrite: bool, **kwargs) -> None:
    """Classify texts with an export directory: arguments, or a file streamed to JSONL."""
    from zhcls.serving import predict_texts

    check_outputs(output="file")
    predict_texts(model_dir, texts, echo=click.echo, **kwargs)


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, type=int, help="Port to listen on (0: any free port).")
@click.option("--threads", default=None, type=COUNT, help=THREADS_HELP)
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda", "tensorrt"]))
@click.option("--max-batch", default=64, type=int, help="Most texts run together by the micro-batcher.")
@click.option("--max-wait-ms", default=5.0, type=NUMBER, help="How long the micro-batcher waits for more requests.")
@click.option("--max-texts", default=64, type=int, help="Most texts in one request (more: 413).")
@click.option("--max-request-bytes", default=1 << 20, type=int, help="Largest request body (more: 413).")
@click.option(
    "--max-connections",
    default=64,
    type=int,
    help="Most connections open at once; beyond it, the one waiting longest for a request is closed.",
)
@click.option(
    "--read-timeout",
    "read_timeout_s",
    default=10.0,
    type=NUMBER,
    help="Seconds a connection may sit idle, and a request may take to arrive whole.",
)
@click.option(
    "--drain", "drain_s", default=10.0, type=NUMBER, help="Seconds requests under way may take to finish after SIGTERM."
)
@click.option("--web", is_flag=True, help="Also serve examples/web's in-browser page with this model.")
@click.option(
    "--web-root",
    default=None,
    type=click.Path(path_type=Path),
    help="The page's folder, after `npm ci` there (default: examples/web of this checkout).",
)
def serve(model_dir: Path, web_root: Path | None, **kwargs) -> None:
    """Serve an export directory over HTTP: POST /predict {"texts": [...]}, GET /health; SIGTERM stops it."""
    from zhcls.serving import serve_export

    serve_export(model_dir, web_root_dir=web_root, echo=lambda line: click.echo(line, err=True), **kwargs)
