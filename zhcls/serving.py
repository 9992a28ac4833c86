"""What `zhcls predict` and `zhcls serve` do around zhcls.runtime: texts streamed to JSON lines, and the HTTP
server with, on request, the in-browser page of examples/web."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from zhcls.errors import UserError

# The checkout's in-browser page, served by `zhcls serve --web` unless given another folder.
WEB_PAGE = Path(__file__).resolve().parents[1] / "examples" / "web"
CHUNK = 1024  # texts read ahead of the classifier, so a large file streams
# ServeSettings' fields whose `zhcls serve` flag is not the field's name in dashes.
SERVE_FLAGS = {"read_timeout_s": "--read-timeout", "drain_s": "--drain"}


def predict_texts(
    model_dir: Path,
    texts: Iterable[str] = (),
    *,
    input_path: str | None = None,
    text_col: str | None = None,
    output: Path | None = None,
    top_k: int = 1,
    echo: Callable[[str], None] = print,
    **load: object,
) -> None:
    """Classify `texts`, or those of `input_path` (- for stdin), one JSON line per text to `output` or `echo`.

    `load` goes to `Classifier.load` (device, threads, truncation, batch_size). A file is read and written a chunk
    at a time, so its size does not matter.
    """
    from zhcls.data.readers import stream_texts
    from zhcls.progress import progress
    from zhcls.runtime import Classifier

    texts = tuple(texts)
    if bool(texts) == bool(input_path):
        raise UserError("give texts as arguments or --input FILE (- for stdin), not both")
    classifier = Classifier.load(model_dir, **load)
    source = iter(texts) if texts else stream_texts(input_path, text_col)
    sink = output.open("w", encoding="utf-8") if output else None
    try:
        with progress(desc="predict", unit="text", enabled=output is not None) as bar:
            while chunk := list(itertools.islice(source, CHUNK)):
                for text, best in zip(chunk, classifier.predict(chunk, top_k=top_k), strict=True):
                    record = {"text": text, **(best[0] if top_k == 1 else {"top_k": best})}
                    line = json.dumps(record, ensure_ascii=False)
                    if sink:
                        sink.write(line + "\n")
                    else:
                        echo(line)
                bar.update(len(chunk))
    finally:
        if sink:
            sink.close()


def web_root(model_dir: Path, given: Path | None = None) -> Path:
    """The checked folder of the in-browser page for an export laid out with `zhcls export --web`."""
    from zhcls.runtime.manifest import Manifest

    if "web" not in Manifest.read(model_dir).extras:
        raise UserError(f"{model_dir} has no web layout; export it again with --web")
    root = given or WEB_PAGE
    if not (root / "index.html").is_file():
        raise UserError(f"{root}: no index.html; give --web-root, the examples/web folder of a zhcls checkout")
    if not (root / "node_modules" / "@huggingface" / "transformers").is_dir():
        raise UserError(f"{root}: no node_modules; run `ONNXRUNTIME_NODE_INSTALL=skip npm ci` there first")
    return root


def serve_export(
    model_dir: Path,
    *,
    device: str = "cpu",
    threads: int | None = None,
    web: bool = False,
    web_root_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    **settings: object,
) -> None:
    """Serve an export directory over HTTP until SIGTERM; `settings` are ServeSettings' (host, port, limits).

    With `web`, the in-browser page too (from `web_root_dir`, by default the checkout's examples/web).
    """
    from zhcls.runtime import Classifier
    from zhcls.runtime.server import ServeSettings, serve

    if web_root_dir is not None and not web:
        raise UserError("--web-root goes with --web")
    root = str(web_root(model_dir, web_root_dir)) if web else None
    try:
        server_settings = ServeSettings(**settings, web_root=root)
    except ValueError as exc:  # a setting out of its range, said in one line naming its flag
        name, _, rest = str(exc).partition(" ")
        raise UserError(f"{SERVE_FLAGS.get(name, '--' + name.replace('_', '-'))} {rest}") from None
    classifier = Classifier.load(model_dir, device=device, threads=threads)

    def ready(address) -> None:
        url = f"http://{address[0]}:{address[1]}"
        echo(f"serving {model_dir} on {url} (POST /predict, GET /health)")
        if web:
            echo(f"the page: {url}/")

    try:
        serve(classifier, server_settings, ready=ready)
    except OSError as exc:
        raise UserError(
            f"cannot listen on {server_settings.host}:{server_settings.port}: {exc.strerror or exc}"
        ) from None
    echo("stopped")
