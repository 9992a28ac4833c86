"""`zhcls serve`: every request of a concurrent load answered correctly, bad ones refused with 4xx, SIGTERM honoured."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import synthetic_rows

from zhcls.runtime import Classifier
from zhcls.runtime.server import ServeSettings, make_server

CLIENTS, REQUESTS = 50, 5000


@pytest.fixture(scope="module")
def server(exported_fp32):
    classifier = Classifier.load(exported_fp32, threads=1)
    settings = ServeSettings(port=0, max_texts=8, max_request_bytes=4096, max_batch=32, max_wait_ms=2)
    httpd, batcher = make_server(classifier, settings)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield classifier, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    batcher.close()


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


def test_unknown_paths_are_404(server):
    _, port = server
    assert _request(port, "GET", "/nope")[0] == 404
    assert _request(port, "POST", "/health", b"{}")[0] == 404


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
