"""Reproduce benchmarks/results/reliability-serve.{md,json}: what `zhcls serve` does with clients that misbehave.

    python benchmarks/reliability_serve.py EXPORT_DIR [--stalled 100] [--patience 60]

Runs `zhcls serve EXPORT_DIR --port 0 --threads 1` with its default limits, talks to it over loopback, and
records what a client sees and what the server holds:
- stalled requests: --stalled connections, half with a request head cut short, half with a body cut short;
  the peak of threads and open descriptors the server holds for them, how long until it has closed them
  all, and how long a GET /health sent meanwhile waits for its answer;
- bodies and requests Python or HTTP cannot take: the status and content type of each answer (or that the
  connection was dropped without one);
- clients that reset their connection before, during or after their answer, then whether the server's log
  holds a traceback;
- SIGTERM with an idle keep-alive client connected: how long until the process exits (killed after
  --patience seconds).
The behaviour does not depend on the model: any export directory will do (the tests' tiny one included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import write_results

from zhcls.runtime import Manifest
from zhcls.runtime.cpu import cpu_info

# Requests cut short: the head (no blank line yet), or the body (fewer bytes than its Content-Length).
CUT_HEAD = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-"
CUT_BODY = b"POST /predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b'{"text": "'


def _post(body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return b"POST /predict HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % size + body


MALFORMED = {
    "JSON array 50,000 deep": _post(b"[" * 50_000 + b"]" * 50_000),
    "5,000-digit integer": _post(b'{"text": "x", "top_k": ' + b"9" * 5000 + b"}"),
    "body shorter than its Content-Length": _post(b'{"text": "x"}', length=40),
    "no Content-Length": b"POST /predict HTTP/1.1\r\n\r\n",
    "Content-Length: 1_3": b'POST /predict HTTP/1.1\r\nContent-Length: 1_3\r\n\r\n{"text": "x"}',
    "chunked body": b"POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "PUT /predict": b"PUT /predict HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "HEAD /health": b"HEAD /health HTTP/1.1\r\n\r\n",
    "GET /%00/etc/passwd": b"GET /%00/etc/passwd HTTP/1.1\r\n\r\n",
    "HTTP/7.0 request line": b"GET /health HTTP/7.0\r\n\r\n",
}


class Server:
    """`zhcls serve` in a child process, its log gathered by a thread."""

    def __init__(self, export: Path):
        command = [sys.executable, "-m", "zhcls", "serve", str(export), "--port", "0", "--threads", "1"]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, errors="replace")
        self.log: list[str] = []
        self._address = threading.Event()
        self.port = 0
        threading.Thread(target=self._gather, daemon=True).start()
        if not self._address.wait(120) or not self.port:
            self.process.kill()
            raise SystemExit("zhcls serve did not start:\n" + "".join(self.log))

    def _gather(self) -> None:
        for line in self.process.stderr:
            self.log.append(line)
            if found := re.search(r"http://127\.0\.0\.1:(\d+)", line):
                self.port = int(found.group(1))
                self._address.set()
        self._address.set()

    def held(self) -> tuple[int, int]:
        """Threads and open descriptors of the server process now."""
        proc = Path(f"/proc/{self.process.pid}")
        return len(os.listdir(proc / "task")), len(os.listdir(proc / "fd"))

    def connect(self, data: bytes = b"") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        sock.sendall(data)
        return sock


def answer_of(sock: socket.socket) -> bytes:
    """What the server sends on `sock` until it closes it (b'' for a close without a word, or a reset); raises
    TimeoutError if the server neither sends nor closes within the socket's timeout."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def health_seconds(server: Server, timeout: float = 60.0) -> float | None:
    """Seconds a GET /health waits for its 200, None if it gets something else or nothing within `timeout`."""
    started = time.monotonic()
    with server.connect(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n") as sock:
        sock.settimeout(timeout)
        try:
            reply = answer_of(sock)
        except TimeoutError:
            return None
    return time.monotonic() - started if reply.startswith(b"HTTP/1.1 200 ") else None


def stalled_requests(server: Server, count: int, patience: float) -> dict:
    """Peak threads and descriptors held for `count` stalled requests, and when the server let go of them all."""
    idle = server.held()
    started = time.monotonic()
    socks = [server.connect(CUT_HEAD if i % 2 else CUT_BODY) for i in range(count)]
    closed_at: dict[int, float] = {}
    peak = list(idle)

    def watch(index: int, sock: socket.socket) -> None:
        sock.settimeout(patience)
        with contextlib.suppress(TimeoutError):  # still open: not counted as closed
            answer_of(sock)
            closed_at[index] = time.monotonic() - started

    watchers = [threading.Thread(target=watch, args=item, daemon=True) for item in enumerate(socks)]
    for watcher in watchers:
        watcher.start()
    time.sleep(0.5)
    health: list[float | None] = []
    asking = threading.Thread(target=lambda: health.append(health_seconds(server, patience)), daemon=True)
    asking.start()
    while len(closed_at) < count and time.monotonic() - started < patience:
        peak = [max(now, most) for now, most in zip(server.held(), peak, strict=True)]
        time.sleep(0.25)
    for watcher in [*watchers, asking]:  # each one ends by `patience` at the latest, its read timing out
        watcher.join()
    for sock in socks:
        sock.close()
    return {
        "connections": count,
        "idle_threads": idle[0],
        "idle_descriptors": idle[1],
        "peak_threads": peak[0],
        "peak_descriptors": peak[1],
        "closed_by_server": len(closed_at),
        "all_closed_after_s": max(closed_at.values()) if len(closed_at) == count else None,
        "health_meanwhile_s": health[0] if health else None,
    }


def malformed(server: Server) -> dict:
    """For each request of MALFORMED: the status and content type of the answer, or 'dropped'."""
    results = {}
    for name, request in MALFORMED.items():
        with server.connect(request) as sock:
            sock.shutdown(socket.SHUT_WR)  # all of it has been sent
            reply = answer_of(sock)
        head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        status = re.match(r"HTTP/1\.[01] (\d{3})", head)
        content_type = re.search(r"(?im)^content-type:\s*([^;\r\n]+)", head)
        results[name] = {
            "status": int(status.group(1)) if status else "no status line" if reply else "dropped",
            "content_type": content_type.group(1) if content_type else None,
        }
    return results


def disconnects(server: Server, rounds: int = 20) -> dict:
    """Clients that reset their connection at every stage of a request; then the tracebacks in the log."""
    body = json.dumps({"texts": ["好" * 200] * 64, "top_k": 2}).encode()
    linger = struct.pack("ii", 1, 0)  # close with a reset
    for _ in range(rounds):
        for data in (_post(body), _post(body) * 3, CUT_HEAD, CUT_BODY, b"GET /health HTTP/1.1\r\n\r\n"):
            sock = server.connect(data)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            sock.close()
    time.sleep(1.0)
    return {
        "connections_reset": rounds * 5,
        "health_after": health_seconds(server) is not None,
        "tracebacks_in_log": sum("Traceback" in line for line in server.log),
    }


def sigterm_with_idle_client(server: Server, patience: float) -> dict:
    """Seconds from SIGTERM to exit with one idle keep-alive client connected; SIGKILL after `patience`."""
    with server.connect(b"GET /health HTTP/1.1\r\n\r\n") as sock:
        sock.recv(65536)  # answered; the connection stays open and idle
        started = time.monotonic()
        server.process.terminate()
        try:
            code = server.process.wait(patience)
            killed = False
        except subprocess.TimeoutExpired:
            server.process.kill()
            code, killed = server.process.wait(10), True
    return {"exit_after_s": time.monotonic() - started, "exit_code": code, "needed_sigkill": killed}


def report(export: Path, results: dict, args: argparse.Namespace) -> list[str]:
    stalled, quit_ = results["stalled"], results["sigterm"]
    manifest = Manifest.read(export)
    closed = stalled["all_closed_after_s"]
    lines = [
        "# `zhcls serve` with clients that misbehave",
        "",
        f"Reproduce: `python benchmarks/reliability_serve.py {export} --stalled {args.stalled}"
        f" --patience {args.patience:g}`. The server runs as `zhcls serve EXPORT --port 0 --threads 1`, default"
        " limits; every client is on loopback.",
        "",
        "| probe | measured |",
        "| --- | --- |",
        f"| {stalled['connections']} stalled requests (half a head, half a body cut short): threads, descriptors"
        f" held at the peak (idle) | {stalled['peak_threads']} ({stalled['idle_threads']}),"
        f" {stalled['peak_descriptors']} ({stalled['idle_descriptors']}) |",
        "| ... all closed by the server after | "
        + (f"{closed:.1f} s" if closed is not None else f"not all within {args.patience:g} s")
        + " |",
        "| ... a GET /health sent meanwhile answered after | "
        + (f"{stalled['health_meanwhile_s']:.2f} s" if stalled["health_meanwhile_s"] is not None else "no 200")
        + " |",
    ]
    for name, answer in results["malformed"].items():
        lines.append(f"| {name} | {answer['status']} {answer['content_type'] or ''} |")
    gone = results["disconnects"]
    lines += [
        f"| {gone['connections_reset']} connections reset at every stage of a request: tracebacks in the log,"
        f" /health after | {gone['tracebacks_in_log']}, {'200' if gone['health_after'] else 'no answer'} |",
        "| SIGTERM with an idle keep-alive client: exit after | "
        + f"{quit_['exit_after_s']:.1f} s, code {quit_['exit_code']}"
        + (" (needed SIGKILL)" if quit_["needed_sigkill"] else "")
        + " |",
        "",
        f"Machine: {results['cpu']['model']}, Python {platform.python_version()}; export {export.name}"
        f" ({manifest.precision}, max_length {manifest.max_length},"
        f" {(export / manifest.model_file).stat().st_size / 1e6:.1f} MB model).",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path, help="an export directory (zhcls export)")
    parser.add_argument("--stalled", type=int, default=100, help="stalled connections opened at once (serve takes 64)")
    parser.add_argument("--patience", type=float, default=60.0, help="seconds to wait for a close or an exit")
    parser.add_argument("--name", default="reliability-serve", help="report name under benchmarks/results")
    args = parser.parse_args()
    server = Server(args.export)
    try:
        results = {
            "stalled": stalled_requests(server, args.stalled, args.patience),
            "malformed": malformed(server),
            "disconnects": disconnects(server),
            "sigterm": sigterm_with_idle_client(server, args.patience),
        }
    finally:
        if server.process.poll() is None:
            server.process.kill()
    results["cpu"] = {key: value for key, value in cpu_info().items() if key != "flags"}
    results["server_log_tail"] = server.log[-20:]
    lines = report(args.export, results, args)
    write_results(args.name, lines, results)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
