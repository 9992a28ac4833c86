"""`zhcls serve` against clients that stall, flood, disconnect or send what Python cannot read, over loopback.

Each server runs in its own process (as `zhcls serve` does), logging at debug level to a pipe that the test
reads: whatever a client does, the server answers or closes in bounded time and its log holds no traceback.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

RUNNER = """
import json, logging, sys
from zhcls.runtime import Classifier
from zhcls.runtime.server import ServeSettings, serve

logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
settings = ServeSettings(host="127.0.0.1", port=0, **json.loads(sys.argv[2]))
ready = lambda address: print(f"listening on port {address[1]}", file=sys.stderr, flush=True)
serve(Classifier.load(sys.argv[1], threads=1), settings, ready=ready)
print("stopped", file=sys.stderr, flush=True)
"""
HEAD_PART = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-"  # a request head cut short
BODY_PART = b"POST /predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b'{"text": "'  # a body cut short


class Served:
    """A `serve` process and the lines of its log, read by a thread as they come."""

    def __init__(self, export_dir: Path, **settings):
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(export_dir), json.dumps(settings)],
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        self.lines: list[str] = []
        self._terminated: float | None = None
        self._port: list[int] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(60) or not self._port:
            self.process.kill()
            raise AssertionError("the server did not start:\n" + self.log)
        self.port = self._port[0]

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            if line.startswith("listening on port "):
                self._port.append(int(line.split()[-1]))
                self._ready.set()
        self._ready.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def threads(self) -> int | None:
        """How many threads the server process has now (None where /proc is missing)."""
        tasks = Path(f"/proc/{self.process.pid}/task")
        return len(list(tasks.iterdir())) if tasks.is_dir() else None

    def terminate(self) -> None:
        """Send SIGTERM."""
        self._terminated = time.monotonic()
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM (unless sent already), then the seconds from it to the exit (killed and failed past `timeout`)."""
        if self._terminated is None:
            self.terminate()
        try:
            assert self.process.wait(timeout) == 0, self.log
        finally:
            self.close()
        return time.monotonic() - self._terminated

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(10)

    def assert_quiet(self) -> None:
        assert "Traceback" not in self.log and "ERROR" not in self.log, self.log


@pytest.fixture
def serving(exported_fp32):
    """Start servers with `serving(**settings)`; every one is stopped (or killed) at the end of the test."""
    started: list[Served] = []

    def start(**settings) -> Served:
        started.append(Served(exported_fp32, **settings))
        return started[-1]

    yield start
    for served in started:
        served.close()


def _connect(port: int, sent: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    if sent:
        sock.sendall(sent)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _health(port: int, timeout: float = 30) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_half_sent_requests_time_out_and_never_hold_more_than_the_connection_limit(serving):
    served = serving(read_timeout_s=1.0, max_connections=4, drain_s=2.0)
    assert _health(served.port) == 200
    before = served.threads()
    stalled = [_connect(served.port, HEAD_PART if i % 2 else BODY_PART) for i in range(30)]
    try:
        time.sleep(0.5)
        during = served.threads()
        if before is not None:
            assert during <= before + 4 + 1, (before, during)  # one thread per open connection, at most 4
        answered = _health(served.port, timeout=60)  # waits for a free slot, which comes within a timeout
        assert answered == 200
        replies = [_read_all(sock) for sock in stalled]  # each one closed by the server
    finally:
        for sock in stalled:
            sock.close()
    # A body cut short gets a 408 once its time is up, unless its connection was ended, head unread, to make
    # room for a newer one; a head never finished gets no answer.
    assert all(reply == b"" or reply.startswith(b"HTTP/1.1 408 ") for reply in replies[0::2])
    assert all(reply == b"" for reply in replies[1::2])
    with _connect(served.port, BODY_PART) as alone:
        reply = _read_all(alone)
    assert reply.startswith(b"HTTP/1.1 408 ") and b"body not received within 1 s (10 of 100 bytes)" in reply
    assert _health(served.port) == 200
    deadline = time.monotonic() + 20  # every thread of a closed connection ends
    while before is not None and served.threads() > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert before is None or served.threads() <= before
    assert served.stop() < 10
    served.assert_quiet()


def test_sigterm_closes_idle_connections_finishes_the_request_under_way_and_exits(serving):
    served = serving(read_timeout_s=120.0, drain_s=60.0)  # neither timeout may be what ends these connections
    keep_alive = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    keep_alive.request("POST", "/predict", body=json.dumps({"text": "房间很干净"}).encode())
    response = keep_alive.getresponse()
    assert response.status == 200 and response.getheader("Connection") != "close"
    response.read()
    silent = _connect(served.port)  # connected, never a byte sent
    half = _connect(served.port, HEAD_PART)  # a request head cut short
    body = json.dumps({"text": "好"}).encode()
    under_way = _connect(served.port, b"POST /predict HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
    time.sleep(0.5)
    try:
        served.terminate()
        time.sleep(0.5)
        under_way.sendall(body[5:])
        reply = _read_all(under_way)
        assert reply.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in reply and b"predictions" in reply
        assert served.stop() < 10
        assert keep_alive.sock is not None and _read_all(keep_alive.sock) == b""  # closed by the server
        assert _read_all(silent) == b""
        cut = _read_all(half)  # nothing, or a 503 for the part of the request that came
        assert cut == b"" or cut.startswith(b"HTTP/1.1 503 "), cut
    finally:
        for sock in (keep_alive, silent, half, under_way):
            sock.close()
    assert "stopped" in served.log and "still busy" not in served.log
    served.assert_quiet()


def test_a_new_connection_takes_the_place_of_the_longest_idle_one(serving):
    served = serving(read_timeout_s=120.0, max_connections=2)  # no timeout frees a slot during the test
    idle, slow = _connect(served.port), _connect(served.port, HEAD_PART)
    later = None
    try:
        time.sleep(0.5)
        started = time.monotonic()
        assert _health(served.port) == 200
        assert time.monotonic() - started < 10
        assert _read_all(idle) == b""  # the longest idle, closed to make room
        later = _connect(served.port)  # takes the slot the answered request left
        time.sleep(0.5)
        assert _health(served.port) == 200
        assert _read_all(slow) == b""  # slow with its head, and now the longest waiting
    finally:
        for sock in (idle, slow, later):
            if sock is not None:
                sock.close()
    served.stop()
    served.assert_quiet()


def test_requests_python_cannot_read_get_a_json_400(serving):
    served = serving()
    cases = [
        (b"[" * 50_000 + b"]" * 50_000, 400, "nested too deeply"),
        (b'{"text": "x", "top_k": ' + b"9" * 5000 + b"}", 400, "cannot be read"),
        (b'{"texts": [' + b"1" * 5000 + b"]}", 400, "cannot be read"),
    ]
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        for body, status, reason in cases:
            connection.request("POST", "/predict", body=body)
            response = connection.getresponse()
            answer = json.loads(response.read())
            assert response.status == status and reason in answer["error"], answer
    finally:
        connection.close()
    short = _connect(served.port, b'POST /predict HTTP/1.1\r\nContent-Length: 50\r\n\r\n{"text": "x"}')
    short.shutdown(socket.SHUT_WR)
    reply = _read_all(short)
    short.close()
    assert reply.startswith(b"HTTP/1.1 400 ") and b"body ended after 13 of 50 bytes" in reply
    wrong = _connect(served.port, b"PATCH /predict HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
    reply = _read_all(wrong)
    wrong.close()
    assert reply.startswith(b"HTTP/1.1 405 ") and b"Allow: POST" in reply and b"application/json" in reply
    served.stop()
    served.assert_quiet()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset rather than a polite FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_clients_that_go_away_leave_no_traceback(serving):
    served = serving(read_timeout_s=2.0)
    big = json.dumps({"texts": ["好" * 200] * 64, "top_k": 2}).encode()
    request = f"POST /predict HTTP/1.1\r\nContent-Length: {len(big)}\r\n\r\n".encode() + big
    for _ in range(10):
        _reset(_connect(served.port, request))  # gone before the answer is written
        _reset(_connect(served.port, request * 3))  # pipelined, gone mid-way
        _reset(_connect(served.port, HEAD_PART))  # gone mid-head
        _reset(_connect(served.port, BODY_PART))  # gone mid-body
        _connect(served.port).close()  # connected and gone
        sock = _connect(served.port, b"GET /health HTTP/1.1\r\n\r\n")
        sock.recv(10)  # the answer has started
        _reset(sock)
    assert _health(served.port) == 200
    time.sleep(1.0)  # answers to the vanished clients have been written (or failed) by now
    served.stop()
    served.assert_quiet()
