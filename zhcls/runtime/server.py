"""`zhcls serve`: a small HTTP JSON service around one `Classifier`, for edge boxes (standard library only).

    POST /predict  {"texts": ["...", ...]} or {"text": "..."}, optional "top_k"  →  {"predictions": [...]}
    GET  /health   →  {"status": "ok", "labels": [...], "precision": ...}   (HEAD /health: the headers alone)

With `web_root` (`zhcls serve --web`) every other GET is a static file: `/model/...` from the export
directory, anything else from `web_root` (the examples/web page and its node_modules), sent
cross-origin isolated so that ONNX Runtime Web may use threads.

Concurrent requests are micro-batched: one worker thread gathers the texts of every request that
arrives within `max_wait_ms` (up to `max_batch` texts) and runs them as one batch, which is where
throughput comes from on a small CPU.

Every answer, errors included, is JSON. A bad request gets a 4xx with a one-line reason: a body that is
not UTF-8 JSON, nested too deeply or holding a number too long to read, or of the wrong shape (400); no
Content-Length (411), an invalid one or a body that ends before it (400), one over `max_request_bytes` or
more than `max_texts` texts (413); a method a path does not take (405, with an Allow header).

Limits that keep a slow or hostile client from tying the server up:
- Each connection is a thread, and at most `max_connections` are open at once. A new connection beyond
  that takes the place of the one that has waited longest for a request head (an idle keep-alive client,
  or one slow to send its head), which is closed. When every connection is busy with a request, the new
  one waits in the kernel's listen queue (it is not refused) until one closes; as a request must arrive
  within `read_timeout_s`, that wait is bounded.
- A connection may sit idle for `read_timeout_s` between requests, and a request, once its first byte has
  come, must arrive whole (line, headers, body) within `read_timeout_s`; otherwise the connection is
  closed (a late body gets a 408 first). Each write of an answer must make progress within the same time.
- SIGTERM (or SIGINT) stops accepting, closes at once the connections waiting for a request head (idle
  keep-alive ones included), lets requests already under way finish (their answers say
  `Connection: close`) for up to `drain_s`, closes whatever is left, and returns.
A client that goes away mid-answer is logged at debug level, never with a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import mimetypes
import os
import queue
import re
import shutil
import signal
import socket
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from zhcls.runtime.classifier import Classifier, ranked_predictions

log = logging.getLogger(__name__)

# What a client that goes away looks like to the thread answering it.
DISCONNECTED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass(frozen=True)
class ServeSettings:
    """How `serve` listens, batches and limits its clients (see the module's docstring)."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 64
    max_wait_ms: float = 5.0
    max_texts: int = 64
    max_request_bytes: int = 1 << 20
    web_root: str | None = None
    max_connections: int = 64
    read_timeout_s: float = 10.0
    drain_s: float = 10.0

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.port <= 65535, f"port must be from 0 to 65535 (0: any free port), got {self.port}"),
            (self.max_batch >= 1, f"max_batch must be positive, got {self.max_batch}"),
            (self.max_wait_ms >= 0, f"max_wait_ms must be zero or more, got {self.max_wait_ms}"),
            (self.max_texts >= 1, f"max_texts must be positive, got {self.max_texts}"),
            (self.max_request_bytes >= 1, f"max_request_bytes must be positive, got {self.max_request_bytes}"),
            (self.max_connections >= 1, f"max_connections must be positive, got {self.max_connections}"),
            (self.read_timeout_s > 0, f"read_timeout_s must be positive, got {self.read_timeout_s}"),
            (self.drain_s >= 0, f"drain_s must be zero or more, got {self.drain_s}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


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
CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
# After answering a request whose body was left unread, the server reads and drops what the client still
# sends for up to LINGER_S (and LINGER_BYTES, and while it pauses no longer than LINGER_PAUSE_S) before
# closing, so that the client sees the answer rather than a reset connection.
LINGER_S, LINGER_BYTES, LINGER_PAUSE_S = 2.0, 4 << 20, 0.25


def static_file(url_path: str, web_root: Path, model_dir: Path) -> Path | None:
    """The file a static GET names, or None for one outside both folders, missing, or not a usable name."""
    try:
        path = unquote(urlsplit(url_path).path)
    except ValueError:  # e.g. an unbalanced '[' taken for an IPv6 host
        return None
    if "\x00" in path or ".." in path.split("/"):
        return None
    root, relative = (model_dir, path[len(MODEL_PREFIX) :]) if path.startswith(MODEL_PREFIX) else (web_root, path)
    try:
        root = root.resolve()
        target = (root / relative.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            return None
    except (OSError, ValueError):  # a name too long, a loop of links, an odd encoding
        return None
    return target


class BadRequest(Exception):
    """A request answered with `status` and a one-line reason; `close` when its body was left unread."""

    def __init__(self, status: HTTPStatus, reason: str, close: bool = False):
        super().__init__(reason)
        self.status = status
        self.close = close


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


def _one_line(text: str, limit: int = 200) -> str:
    """`text` on one line, cut to `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _parse(body: bytes, settings: ServeSettings) -> tuple[list[str], int | None]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"body is not UTF-8 JSON ({_one_line(exc)})") from None
    except RecursionError:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "body JSON is nested too deeply") from None
    except ValueError as exc:  # Python's limit on the digits of an integer, the one other thing json.loads refuses
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"body JSON cannot be read ({_one_line(exc, 80)})") from None
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


def _shut(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):  # already closed by the client, or not connected any more
        sock.shutdown(how)


class _Reader(io.RawIOBase):
    """A connection's socket read under a deadline: a read after `deadline` (time.monotonic) times out."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read timed out")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Writer(io.BufferedIOBase):
    """A connection's socket written whole, each write allowed `timeout` seconds."""

    def __init__(self, sock: socket.socket, timeout: float):
        self.sock = sock
        self.timeout = timeout

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)
        return len(data)


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them; knows which wait for a request head, so that a
    stop or a newcomer may end them."""

    # The standard library listens with a backlog of 5: a burst of new clients on a busy machine overflows
    # it and the kernel resets their connections (seen with 50 clients while the CPUs were loaded).
    request_queue_size = socket.SOMAXCONN
    # server_close waits for connections itself, at most drain_s; a stuck one never keeps the process alive.
    daemon_threads = True
    block_on_close = False

    def __init__(self, settings: ServeSettings, classifier: Classifier):
        self.settings = settings
        self.labels = classifier.labels
        self.health = {
            "status": "ok",
            "labels": classifier.labels,
            "precision": classifier.manifest.precision,
            "max_length": classifier.max_length,
        }
        self.web_root = Path(settings.web_root) if settings.web_root else None
        self.model_dir = Path(classifier.folder)
        self.stopping = False
        self._slots = threading.BoundedSemaphore(settings.max_connections)
        self._lock = threading.Condition()
        self._open: set[socket.socket] = set()
        # Connections waiting for a request head, and since when; those a stop or a newcomer has ended.
        self._idle: dict[socket.socket, float] = {}
        self._ended: set[socket.socket] = set()
        super().__init__((settings.host, settings.port), _Handler)
        self.batcher = MicroBatcher(classifier, settings.max_batch, settings.max_wait_ms)  # once the port is bound

    def process_request(self, request, client_address) -> None:
        while not self._slots.acquire(blocking=False):  # every slot taken: make room, or wait for some
            self._end_longest_idle()
            if self._slots.acquire(timeout=0.1):
                break
            if self.stopping:
                self.shutdown_request(request)
                return
        with self._lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: nothing else will give the slot back
            self._forget(request)
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request) -> None:
        with self._lock:
            self._open.discard(request)
            self._idle.pop(request, None)
            self._ended.discard(request)
            self._lock.notify_all()
        self._slots.release()

    def enter_idle(self, sock: socket.socket) -> bool:
        """Mark a connection as waiting for its next request head; False when the server is stopping."""
        with self._lock:
            if self.stopping:
                return False
            self._idle[sock] = time.monotonic()
            return True

    def leave_idle(self, sock: socket.socket) -> bool:
        """Mark a connection's request head as read; False if a stop or a newcomer has ended the connection."""
        with self._lock:
            return self._idle.pop(sock, None) is not None

    def _end(self, sock: socket.socket) -> None:
        del self._idle[sock]
        self._ended.add(sock)
        _shut(sock, socket.SHUT_RD)  # its pending read returns end-of-file

    def _end_longest_idle(self) -> None:
        """Make room for a new connection: end the one that has waited longest for a request head, unless one
        ended for that reason is still closing."""
        with self._lock:
            if self._idle and not self._ended:
                self._end(min(self._idle, key=self._idle.__getitem__))

    def begin_stopping(self) -> None:
        """Refuse new requests and end every connection still waiting for a request head."""
        with self._lock:
            self.stopping = True
            for sock in list(self._idle):
                self._end(sock)

    def shutdown(self) -> None:
        self.begin_stopping()
        super().shutdown()

    def server_close(self) -> None:
        """Stop listening, then give the connections still open up to `drain_s` to finish."""
        super().server_close()
        self.drain(self.settings.drain_s)

    def drain(self, seconds: float) -> bool:
        """Wait up to `seconds` for every connection to close, then close the rest; True if none was cut."""
        self.begin_stopping()
        deadline = time.monotonic() + seconds
        with self._lock:
            while self._open and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            if not self._open:
                return True
            log.warning("%d connection(s) still busy after %g s; closing them", len(self._open), seconds)
            for sock in self._open:
                _shut(sock, socket.SHUT_RDWR)
            self._lock.wait_for(lambda: not self._open, timeout=1.0)
        return False

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (*DISCONNECTED, TimeoutError)):
            log.debug("%s: connection ended (%s)", client_address[0], error)
        else:
            log.exception("unexpected error on a connection from %s", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    """One connection: its requests read under the server's deadlines, every answer JSON (or a static file)."""

    protocol_version = "HTTP/1.1"
    server_version = "zhcls"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        self.connection = self.request
        # Headers and body go out in two writes; Nagle's algorithm would hold the second for an ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._reader = _Reader(self.connection)
        self.rfile = io.BufferedReader(self._reader, 1 << 16)
        self.wfile = _Writer(self.connection, self.server.settings.read_timeout_s)
        self._linger = False

    def finish(self) -> None:
        if self._linger:  # read and drop what the client still sends, then close
            _shut(self.connection, socket.SHUT_WR)
            end, dropped = time.monotonic() + LINGER_S, 0
            try:
                while dropped < LINGER_BYTES:
                    self._reader.deadline = min(end, time.monotonic() + LINGER_PAUSE_S)  # a stalled client: done
                    if not (chunk := self.rfile.read1(1 << 16)):
                        break
                    dropped += len(chunk)
            except OSError:  # timed out or reset: either way, done
                pass
        self.rfile.close()
        self.wfile.close()

    def log_message(self, format: str, *args) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def handle(self) -> None:
        try:
            super().handle()
        except DISCONNECTED as exc:
            log.debug("%s: client went away (%s)", self.address_string(), exc)
        except OSError as exc:
            log.warning("%s: connection error (%s)", self.address_string(), exc)

    def handle_one_request(self) -> None:
        self.close_connection = True  # until parse_request reads a keep-alive request
        self.command, self.request_version, self.requestline = "", self.default_request_version, ""
        self.headers = None  # not the last request's
        self._body_read = False
        try:
            if not self._read_head():
                return
            if self.server.stopping:
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, "the server is shutting down", close=True)
                return
            self._answer()
            self.wfile.flush()
        except TimeoutError as exc:
            log.debug("%s: %s; closing the connection", self.address_string(), exc)
            self.close_connection = True

    def _read_head(self) -> bool:
        """Wait for the next request and read its line and headers; False when there is none to answer.

        Until its head is read the connection counts as idle: a stop, or a new connection when every slot is
        taken, may end it (what came of the head is dropped).
        """
        if not self.server.enter_idle(self.connection):
            return False
        try:
            complete = self._read_request_head()
        finally:
            ended = not self.server.leave_idle(self.connection)
        return complete and not ended

    def _read_request_head(self) -> bool:
        """The next request's line and headers, parsed; False if none came whole (or it was answered)."""
        self._reader.deadline = time.monotonic() + self.server.settings.read_timeout_s
        if not self.rfile.peek(1):  # the client closed the connection
            return False
        self._reader.deadline = time.monotonic() + self.server.settings.read_timeout_s
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.request_version = "HTTP/1.1"
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, "request line over 65536 bytes")
            return False
        if not self.raw_requestline.endswith(b"\n"):  # the client stopped mid-line
            return False
        return self.parse_request()  # False: it has answered

    def _answer(self) -> None:
        self._responded = False
        try:
            route = urlsplit(self.path).path
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, f"cannot read the path {self.path!r}")
            return
        allowed = {"/predict": "POST", "/health": "GET, HEAD"}.get(route, "GET, HEAD" if self.server.web_root else None)
        try:
            if allowed is None:
                self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path}; use POST /predict or GET /health")
            elif self.command not in allowed.split(", "):
                self._error(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{self.command} is not allowed on {route}; use {allowed}",
                    headers={"Allow": allowed},
                )
            elif route == "/predict":
                self._predict()
            elif route == "/health":
                self._send(HTTPStatus.OK, self.server.health)
            else:
                self._send_file()
        except OSError:  # the connection's own trouble, not the request's: handle() logs it in one line
            raise
        except Exception:  # a bug: logged with its traceback, and the client still gets an answer
            log.exception("%s: %s failed", self.address_string(), _one_line(self.requestline))
            self.close_connection = True
            if not self._responded:
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error", close=True)

    def _declares_body(self) -> bool:
        headers = getattr(self, "headers", None)
        if headers is None:
            return True
        return bool(headers.get("Transfer-Encoding")) or headers.get("Content-Length", "0").strip() != "0"

    def _send(self, status: HTTPStatus, payload: dict, headers: dict | None = None, close: bool = False) -> None:
        self._responded = True
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._end_headers(close)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _end_headers(self, close: bool = False) -> None:
        """End the headers, saying `Connection: close` when the connection will not take another request."""
        if not self._body_read and self._declares_body():
            close = self._linger = True  # the unread body must not be taken for the next request
        if close or self.server.stopping:
            self.send_header("Connection", "close")
        self.end_headers()

    def _error(self, status: HTTPStatus, reason: str, headers: dict | None = None, close: bool = False) -> None:
        self._send(status, {"error": _one_line(reason)}, headers, close)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's errors (a bad request line or headers), as JSON."""
        self.log_error("code %d, message %s", code, message)
        if self.request_version == "HTTP/0.9" and len(self.requestline.split()) != 2:
            self.request_version = "HTTP/1.1"  # not a bare `GET path` line: the answer needs its status line
        try:
            reason = message or HTTPStatus(code).phrase
        except ValueError:
            reason = f"error {code}"
        self._error(code, reason, close=True)

    def _read_body(self) -> bytes:
        """The request body, exactly Content-Length bytes of it."""
        if self.headers.get("Transfer-Encoding"):
            raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length; chunked bodies are not taken")
        values = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not values:
            raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        value = values.pop()
        if values or not CONTENT_LENGTH.fullmatch(value):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length must be one non-negative integer")
        length = int(value)
        if length > self.server.settings.max_request_bytes:
            raise BadRequest(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes; at most {self.server.settings.max_request_bytes}",
            )
        chunks, received = [], 0
        try:
            while received < length:
                chunk = self.rfile.read1(min(length - received, 1 << 16))
                if not chunk:
                    raise BadRequest(
                        HTTPStatus.BAD_REQUEST,
                        f"body ended after {received} of {length} bytes (Content-Length)",
                    )
                chunks.append(chunk)
                received += len(chunk)
        except TimeoutError:
            raise BadRequest(
                HTTPStatus.REQUEST_TIMEOUT,
                f"body not received within {self.server.settings.read_timeout_s:g} s ({received} of {length} bytes)",
                close=True,
            ) from None
        self._body_read = True
        return b"".join(chunks)

    def _predict(self) -> None:
        try:
            texts, top_k = _parse(self._read_body(), self.server.settings)
        except BadRequest as exc:
            self._error(exc.status, str(exc), close=exc.close)
            return
        try:
            probabilities = self.server.batcher.submit(texts).result()
        except Exception:
            log.exception("prediction failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "prediction failed")
            return
        predictions = ranked_predictions(probabilities, self.server.labels, top_k)
        self._send(HTTPStatus.OK, {"predictions": predictions})

    def _send_file(self) -> None:
        target = static_file(self.path, self.server.web_root, self.server.model_dir)
        try:
            source = target.open("rb") if target is not None else None
        except OSError:
            source = None
        if source is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such file {self.path}")
            return
        with source:
            content_type = CONTENT_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
            self._responded = True
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type or "application/octet-stream")
            self.send_header("Content-Length", str(os.fstat(source.fileno()).st_size))
            self.send_header("Cache-Control", "no-cache")
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
            self._end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(source, self.wfile)


def make_server(classifier: Classifier, settings: ServeSettings) -> tuple[ThreadingHTTPServer, MicroBatcher]:
    """A bound server (port 0 picks a free one) and its batcher; `serve_forever` is the caller's to run."""
    server = _Server(settings, classifier)
    return server, server.batcher


def serve(classifier: Classifier, settings: ServeSettings, *, ready=None) -> None:
    """Serve until SIGTERM or SIGINT, then close idle connections, finish the requests in flight and return."""
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
        server.server_close()  # closes idle connections, waits up to drain_s for the busy ones
        batcher.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
