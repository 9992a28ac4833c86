"""`zhcls serve`: every request of a concurrent load answered correctly, bad ones refused with a JSON 4xx and a
reason, static paths kept inside their folders, SIGTERM honoured."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import synthetic_rows

from zhcls.runtime import Classifier
from zhcls.runtime.server import ServeSettings, make_server, static_file

CLIENTS, REQUESTS = 50, 5000


@contextlib.contextmanager
def _running(classifier: Classifier, settings: ServeSettings):
    """A server on a free loopback port, serving from a thread until the block ends; yields the port."""
    httpd, batcher = make_server(classifier, settings)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        batcher.close()


@pytest.fixture(scope="module")
def classifier(exported_fp32):
    return Classifier.load(exported_fp32, threads=1)


@pytest.fixture(scope="module")
def server(classifier):
    settings = ServeSettings(port=0, max_texts=8, max_request_bytes=4096, max_batch=32, max_wait_ms=2)
    with _running(classifier, settings) as port:
        yield classifier, port


@pytest.fixture(scope="module")
def roomy_server(classifier):
    """The default limits (1 MB bodies): room for bodies the JSON reader itself refuses."""
    with _running(classifier, ServeSettings(port=0)) as port:
        yield port


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read().decode("utf-8"))
    finally:
        connection.close()


def _post(port: int, payload) -> tuple[int, dict]:
    return _request(port, "POST", "/predict", json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def test_health_names_the_labels(server):
    classifier, port = server
    status, body = _request(port, "GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["labels"] == classifier.labels


def test_fifty_concurrent_clients_get_every_answer_right(server):
    classifier, port = server
    texts = [text for text, _ in synthetic_rows(400, seed=11)]
    # Each request carries 1-3 texts; expected answers come from the classifier alone, one text at a time.
    requests = [texts[i % 400 : i % 400 + 1 + i % 3] for i in range(REQUESTS)]
    expected = {text: classifier.predict_proba([text])[0] for text in texts}

    def client(index: int) -> int:
        wrong = 0
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # one keep-alive connection each
        try:
            for request in requests[index::CLIENTS]:
                connection.request("POST", "/predict", body=json.dumps({"texts": request}).encode())
                response = connection.getresponse()
                answer = json.loads(response.read())
                if response.status != 200 or len(answer["predictions"]) != len(request):
                    wrong += 1
                    continue
                for text, prediction in zip(request, answer["predictions"], strict=True):
                    best = int(expected[text].argmax())
                    score = float(expected[text][best])
                    wrong += prediction["label"] != classifier.labels[best] or abs(prediction["score"] - score) > 1e-5
        finally:
            connection.close()
        return wrong

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert sum(pool.map(client, range(CLIENTS))) == 0


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not UTF-8 JSON"),
        (b"\xff\xfe", 400, "not UTF-8 JSON"),
        (b"[1, 2]", 400, "send"),
        (b'{"texts": "one string"}', 400, "list of strings"),
        (b'{"texts": ["ok", 3]}', 400, "list of strings"),
        (b'{"texts": ["a"], "text": "b"}', 400, "send"),
        (b'{"text": "ok", "top_k": 0}', 400, "top_k"),
        (json.dumps({"texts": ["好"] * 9}).encode(), 413, "at most 8"),
        (json.dumps({"text": "好" * 3000}).encode(), 413, "at most 4096"),
    ],
)
def test_malformed_and_oversized_requests_get_a_4xx_with_a_reason(server, body, status, reason):
    _, port = server
    got, answer = _request(port, "POST", "/predict", body)
    assert got == status and reason in answer["error"]


def _raw(port: int, data: bytes, *, half_close: bool = True) -> tuple[int, dict, bytes]:
    """Send `data` as it is on a fresh connection; the status, headers and body of the one answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _post_raw(port: int, body: bytes, length: str | None = None, **options) -> tuple[int, dict, bytes]:
    length_header = b"" if length == "" else f"Content-Length: {len(body) if length is None else length}\r\n".encode()
    return _raw(port, b"POST /predict HTTP/1.1\r\nHost: x\r\n" + length_header + b"\r\n" + body, **options)


def test_unknown_paths_are_404(server):
    _, port = server
    assert _request(port, "GET", "/nope")[0] == 404
    assert _request(port, "DELETE", "/nope")[0] == 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("POST", "/health", "GET, HEAD"), ("PUT", "/health", "GET, HEAD"), ("GET", "/predict", "POST"),
     ("DELETE", "/predict", "POST"), ("OPTIONS", "/predict", "POST"), ("BREW", "/predict", "POST")],
)  # fmt: skip
def test_other_methods_get_a_json_405_with_allow(server, method, path, allow):
    _, port = server
    status, headers, body = _raw(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    assert status == 405 and headers["allow"] == allow and headers["content-type"].startswith("application/json")
    assert method in json.loads(body)["error"]


def test_head_health_sends_the_headers_alone(server):
    _, port = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("HEAD", "/health")
        response = connection.getresponse()
        assert response.status == 200 and response.read() == b""
        assert int(response.getheader("Content-Length")) > 0
        connection.request("GET", "/health")  # the same connection goes on
        assert json.loads(connection.getresponse().read())["status"] == "ok"
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b'{"texts": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (b'{"text": "x", "top_k": ' + b"7" * 5000 + b"}", "cannot be read"),
        (b"1" * 5000, "cannot be read"),
        (b'{"text": "x"}\n\n{"text": "y"}', "not UTF-8 JSON"),
    ],
)
def test_bodies_python_cannot_read_get_a_400(roomy_server, body, reason):
    status, answer = _request(roomy_server, "POST", "/predict", body)
    assert status == 400 and reason in answer["error"] and "\n" not in answer["error"]


def test_the_connection_goes_on_after_a_refused_body(roomy_server):
    port = roomy_server
    good = json.dumps({"text": "好"}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for body, status in ((b"[" * 50_000, 400), (good, 200), (b"{bad", 400), (good, 200)):
            connection.request("POST", "/predict", body=body)
            response = connection.getresponse()
            assert response.status == status and response.getheader("Connection") != "close"
            response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("length", "body", "status", "reason"),
    [
        ("40", b'{"text": "x"}', 400, "body ended after 13 of 40 bytes"),
        ("", b"", 411, "Content-Length header is required"),
        ("-5", b"", 400, "Content-Length must be"),
        ("1_3", b'{"text": "x"}', 400, "Content-Length must be"),
        ("0x0d", b'{"text": "x"}', 400, "Content-Length must be"),
        ("13, 14", b'{"text": "x"}', 400, "Content-Length must be"),
        ("9" * 40, b"", 400, "Content-Length must be"),
        ("5000", b"{}", 413, "at most 4096"),
        ("0", b"", 400, "not UTF-8 JSON"),
    ],
)
def test_content_length_is_enforced(server, length, body, status, reason):
    _, port = server
    got, _headers, answer = _post_raw(port, body, length)
    assert got == status and reason in json.loads(answer)["error"]


def test_two_different_content_lengths_are_refused(server):
    _, port = server
    request = b"POST /predict HTTP/1.1\r\nContent-Length: 13\r\nContent-Length: 12\r\n\r\n" + b'{"text": "x"}'
    status, headers, answer = _raw(port, request)
    assert status == 400 and headers["connection"] == "close" and "one non-negative" in json.loads(answer)["error"]


def test_chunked_bodies_are_refused(server):
    _, port = server
    request = b"POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n" + b'{"text": "x"}' + b"\r\n0\r\n\r\n"
    status, headers, answer = _raw(port, request)
    assert status == 411 and headers["connection"] == "close" and "chunked" in json.loads(answer)["error"]


def test_a_refusal_before_the_body_is_read_closes_the_connection(server):
    _, port = server
    # Without the close, the 20 unread bytes would be taken for the start of the next request.
    status, headers, _ = _raw(
        port, b"POST /nope HTTP/1.1\r\nContent-Length: 20\r\n\r\n" + b"GET /health HTTP/1.1", half_close=False
    )
    assert status == 404 and headers["connection"] == "close"


def test_garbage_request_lines_and_headers_get_json(server):
    _, port = server
    status, headers, body = _raw(port, b"GET /health HTTP/7.0\r\n\r\n")
    assert status == 505 and "error" in json.loads(body)
    status, headers, body = _raw(port, b"GET /health HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")
    assert status == 431 and headers["content-type"].startswith("application/json")
    status, headers, body = _raw(port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")
    assert status == 414 and "error" in json.loads(body)


def test_serve_settings_are_checked():
    with pytest.raises(ValueError, match="port must be from 0 to 65535"):
        ServeSettings(port=70000)
    for name in ("max_batch", "max_texts", "max_request_bytes", "max_connections", "read_timeout_s"):
        with pytest.raises(ValueError, match=name):
            ServeSettings(**{name: 0})
    for name in ("max_wait_ms", "drain_s"):
        with pytest.raises(ValueError, match=name):
            ServeSettings(**{name: -1})


@pytest.fixture(scope="module")
def web_server(classifier, tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    (root / "index.html").write_text("<!doctype html><title>page</title>", encoding="utf-8")
    (root / "main.mjs").write_text("export {};\n", encoding="utf-8")
    with _running(classifier, ServeSettings(port=0, web_root=str(root))) as port:
        yield port


@pytest.mark.parametrize(
    "path",
    [
        "/%00/etc/passwd",
        "/model/%00",
        "/index.html%00.js",
        "/model/../../../../etc/passwd",
        "/../etc/passwd",
        "/model/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/%ff%fe",
        "/%c0%ae%c0%ae/etc/passwd",
        "/%ED%A0%80",
        "/" + "a" * 5000,
        "/" + "a/" * 2000,
        "/[",
        "http://[::1/",
        "*",
    ],
)
def test_static_paths_never_escape_nor_crash(web_server, path):
    status, _headers, body = _raw(web_server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1"))
    assert status in (400, 404) and "error" in json.loads(body)


def test_static_files_and_head(web_server):
    status, headers, body = _raw(web_server, b"GET / HTTP/1.1\r\n\r\n")
    assert (
        status == 200 and b"<title>page</title>" in body and headers["cross-origin-embedder-policy"] == "require-corp"
    )
    status, headers, body = _raw(web_server, b"HEAD /main.mjs HTTP/1.1\r\n\r\n")
    assert status == 200 and body == b"" and headers["content-type"].startswith("text/javascript")
    assert int(headers["content-length"]) == len("export {};\n")
    status, headers, body = _raw(web_server, b"GET /model/zhcls.json HTTP/1.1\r\n\r\n")
    assert status == 200 and "labels" in json.loads(body)
    status, headers, _ = _raw(web_server, b"DELETE /index.html HTTP/1.1\r\n\r\n")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_static_file_refuses_unusable_names(tmp_path):
    (tmp_path / "index.html").write_text("x", encoding="utf-8")
    assert static_file("/", tmp_path, tmp_path) == (tmp_path / "index.html").resolve()
    for path in ("/%00", "/a%00b", "/../x", "/" + "b" * 5000, "/[", "/x/%00/"):
        assert static_file(path, tmp_path, tmp_path) is None, path


def test_a_single_text_and_top_k(server):
    classifier, port = server
    status, body = _post(port, {"text": "房间很干净", "top_k": 2})
    assert status == 200 and len(body["predictions"]) == 1
    assert sorted(entry["label"] for entry in body["predictions"][0]) == sorted(classifier.labels)


def test_sigterm_stops_the_server_cleanly(exported_fp32):
    process = subprocess.Popen(
        [sys.executable, "-m", "zhcls", "serve", str(exported_fp32), "--port", "0", "--threads", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        assert "serving" in line, line
        port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
        assert _post(port, {"text": "好"})[0] == 200
        os.kill(process.pid, signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - started < 10
        assert "stopped" in process.stderr.read()
    finally:
        process.kill()
