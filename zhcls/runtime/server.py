"""`zhcls serve`: a small HTTP JSON service around one `Classifier`, for edge boxes (standard library only).

    POST /predict  {"texts": ["...", ...]} or {"text": "..."}, optional "top_k"  →  {"predictions": [...]}
    GET  /health   →  {"status": "ok", "labels": [...], "precision": ...}

With `web_root` (`zhcls serve --web`) every other GET is a static file: `/model/...` from the export
directory, anything else from `web_root` (the examples/web page and its node_modules), sent
cross-origin isolated so that ONNX Runtime Web may use threads.

Concurrent requests are micro-batched: one worker thread gathers the texts of every request that
arrives within `max_wait_ms` (up to `max_batch` texts) and runs them as one batch, which is where
throughput comes from on a small CPU. Bodies over `max_request_bytes`, more than `max_texts` texts,
bad JSON or a wrong shape get a 4xx answer with a one-line reason. SIGTERM stops accepting, finishes
the requests in flight, and exits.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import queue
import shutil
import signal
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from zhcls.runtime.classifier import Classifier, ranked_predictions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 64
    max_wait_ms: float = 5.0
    max_texts: int = 64
    max_request_bytes: int = 1 << 20
    web_root: str | None = None


MODEL_PREFIX = "/model/"
# Module scripts and wasm are refused by browsers under a wrong type, and platform MIME tables vary.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
}
# SharedArrayBuffer, and with it wasm threads, exists only on a cross-origin isolated page.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


def static_file(url_path: str, web_root: Path, model_dir: Path) -> Path | None:
    """The file a static GET names, or None for one outside both folders or missing."""
    path = unquote(urlsplit(url_path).path)
    root, relative = (model_dir, path[len(MODEL_PREFIX) :]) if path.startswith(MODEL_PREFIX) else (web_root, path)
    root = root.resolve()
    target = (root / relative.lstrip("/")).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, reason: str):
        super().__init__(reason)
        self.status = status


class MicroBatcher:
    """One thread that runs the texts of concurrent requests together; each request waits on its own Future."""

    def __init__(self, classifier: Classifier, max_batch: int, max_wait_ms: float):
        self.classifier = classifier
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="zhcls-batcher", daemon=True)
        self._thread.start()

    def submit(self, texts: list[str]) -> Future:
        future: Future = Future()
        self._queue.put((texts, future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        self._queue.put(None)
        self._thread.join()

    def _gather(self, first) -> tuple[list, bool]:
        pending, size, closing = [first], len(first[0]), False
        while size < self.max_batch:
            try:
                item = self._queue.get(timeout=self.max_wait)
            except queue.Empty:
                break
            if item is None:
                closing = True
                break
            pending.append(item)
            size += len(item[0])
        return pending, closing

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            pending, closing = self._gather(first)
            texts = [text for request, _ in pending for text in request]
            try:
                probabilities = self.classifier.predict_proba(texts)
            except Exception as exc:  # a failure is the requests' answer, never the worker's end
                for _, future in pending:
                    future.set_exception(exc)
            else:
                start = 0
                for request, future in pending:
                    future.set_result(probabilities[start : start + len(request)])
                    start += len(request)
            if closing:
                return


def _parse(body: bytes, settings: ServeSettings) -> tuple[list[str], int | None]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"body is not UTF-8 JSON ({exc})") from None
    if not isinstance(payload, dict) or ("texts" in payload) == ("text" in payload):
        raise BadRequest(HTTPStatus.BAD_REQUEST, 'send {"texts": [...]} or {"text": "..."}')
    texts = payload["texts"] if "texts" in payload else [payload["text"]]
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise BadRequest(HTTPStatus.BAD_REQUEST, '"texts" must be a list of strings ("text" a string)')
    if len(texts) > settings.max_texts:
        raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{len(texts)} texts; at most {settings.max_texts}")
    top_k = payload.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise BadRequest(HTTPStatus.BAD_REQUEST, '"top_k" must be a positive integer')
    return texts, top_k


class _Server(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: a burst of new clients on a busy machine overflows
    # it and the kernel resets their connections (seen with 50 clients while the CPUs were loaded).
    request_queue_size = socket.SOMAXCONN


def make_server(classifier: Classifier, settings: ServeSettings) -> tuple[ThreadingHTTPServer, MicroBatcher]:
    """A bound server (port 0 picks a free one) and its batcher; `serve_forever` is the caller's to run."""
    batcher = MicroBatcher(classifier, settings.max_batch, settings.max_wait_ms)
    web_root = Path(settings.web_root) if settings.web_root else None
    model_dir = Path(classifier.folder)
    health = {
        "status": "ok",
        "labels": classifier.labels,
        "precision": classifier.manifest.precision,
        "max_length": classifier.max_length,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "zhcls"

        def log_message(self, format: str, *args) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: HTTPStatus, payload: dict) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: HTTPStatus, reason: str) -> None:
            self._send(status, {"error": reason})

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(HTTPStatus.OK, health)
            elif web_root is not None:
                self._send_file()
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path}; use POST /predict or GET /health")

        def _send_file(self) -> None:
            target = static_file(self.path, web_root, model_dir)
            if target is None:
                self._error(HTTPStatus.NOT_FOUND, f"no such file {self.path}")
                return
            content_type = CONTENT_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type or "application/octet-stream")
            self.send_header("Content-Length", str(target.stat().st_size))
            self.send_header("Cache-Control", "no-cache")
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            with target.open("rb") as source:
                shutil.copyfileobj(source, self.wfile)

        def do_POST(self) -> None:
            if self.path != "/predict":
                self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path}; use POST /predict")
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.close_connection = True
                self._error(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
                return
            if length > settings.max_request_bytes or length < 0:
                self.close_connection = True  # the unread body must not be taken for the next request
                self._error(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes; at most {settings.max_request_bytes}"
                )
                return
            try:
                texts, top_k = _parse(self.rfile.read(length), settings)
            except BadRequest as exc:
                self._error(exc.status, str(exc))
                return
            try:
                probabilities = batcher.submit(texts).result()
            except Exception:
                log.exception("prediction failed")
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "prediction failed")
                return
            predictions = ranked_predictions(probabilities, classifier.labels, top_k)
            self._send(HTTPStatus.OK, {"predictions": predictions})

    server = _Server((settings.host, settings.port), Handler)
    server.daemon_threads = False  # shutdown waits for requests in flight (block_on_close)
    return server, batcher


def serve(classifier: Classifier, settings: ServeSettings, *, ready=None) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests in flight and return."""
    server, batcher = make_server(classifier, settings)

    def stop(signum, _frame) -> None:
        log.info("signal %d: finishing requests in flight", signum)
        # shutdown() blocks until serve_forever returns, so it must not run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready is not None:
            ready(server.server_address)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()  # joins the request threads still running
        batcher.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
