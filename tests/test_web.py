"""`zhcls export --web` and examples/web: the export loads in transformers.js, offline, in headless Chromium,
and gives the Python runtime's labels and scores."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import run_zhcls, synthetic_rows

from zhcls.runtime import Classifier, Manifest
from zhcls.runtime.server import ServeSettings, make_server

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "examples" / "web"
ARTIFACTS = Path(os.environ.get("ZHCLS_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
SCORE_TOLERANCE = {"fp32": 1e-3, "q8": 1e-2}
LOCAL_HOST = "127.0.0.1"


def _chromium() -> str | None:
    return os.environ.get("ZHCLS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_missing() -> str | None:
    """Why the in-browser test cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if _chromium() is None:
        return "no chromium executable (apt-get install chromium, or set ZHCLS_CHROMIUM)"
    if not (PAGE / "node_modules" / "@huggingface" / "transformers" / "dist" / "transformers.js").exists():
        return "examples/web/node_modules is missing (ONNXRUNTIME_NODE_INSTALL=skip npm ci in examples/web)"
    return None


def _review_texts(n: int) -> list[str]:
    """Real hotel reviews where the data sets are present, else synthetic texts."""
    if os.environ.get("ZHCLS_DATA_DIR"):
        from zhcls.data import DataSpec, load_splits

        return load_splits(DataSpec("chnsenticorp")).test.texts[:n]
    return [text for text, _ in synthetic_rows(n, seed=5)]


@pytest.fixture(scope="module")
def web_exports(tmp_path_factory, trained_classifier) -> dict[str, Path]:
    """The tiny classifier exported with --web: in fp32, and in int8 (which also ships its fp32 graph)."""
    root = tmp_path_factory.mktemp("web")
    run_zhcls("export", trained_classifier, "--output", root / "fp32", "--web")
    run_zhcls("export", trained_classifier, "--output", root / "int8", "--int8", "--web")
    return {"fp32": root / "fp32", "q8": root / "int8"}


@pytest.fixture(scope="module")
def web_export_head_tail(web_exports, tmp_path_factory) -> Path:
    """The fp32 web export as a model trained on head+tail would ship it: its manifest names that policy."""
    folder = tmp_path_factory.mktemp("web-head-tail") / "fp32"
    shutil.copytree(web_exports["fp32"], folder)
    manifest = Manifest.read(folder)
    manifest.truncation = "head+tail"
    manifest.write(folder)
    return folder


def test_web_layout_is_what_transformers_js_loads(web_exports):
    folder = web_exports["q8"]
    manifest = Manifest.read(folder)
    web = manifest.extras["web"]
    assert web["files"] == {"q8": "onnx/model_quantized.onnx", "fp32": "onnx/model.onnx"}
    assert web["default_dtype"] == "q8"
    # The quantized file is the gated graph itself; the fp32 one passed its own gate.
    assert (folder / "onnx" / "model_quantized.onnx").read_bytes() == (folder / "model.onnx").read_bytes()
    assert web["fp32_parity"]["argmax_agreement"] >= 0.999
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert [config["id2label"][str(i)] for i in range(len(manifest.labels))] == manifest.labels
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tokenizer_config["model_max_length"] == manifest.max_length
    assert Manifest.read(web_exports["fp32"]).extras["web"]["files"] == {"fp32": "onnx/model.onnx"}


def test_web_refuses_fp16(run_cli, trained_classifier, tmp_path):
    code, _, err = run_cli("export", trained_classifier, "--output", tmp_path / "out", "--fp16", "--web")
    assert code == 2 and "--web" in err and not (tmp_path / "out").exists()


def test_serve_web_needs_a_web_export(run_cli, exported_classifier):
    code, _, err = run_cli("serve", exported_classifier, "--web")
    assert code == 2 and "export it again with --web" in err


def _serve(folder: Path):
    httpd, batcher = make_server(Classifier.load(folder, threads=1), ServeSettings(port=0, web_root=str(PAGE)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return httpd, batcher


def _get(port: int, path: str) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection(LOCAL_HOST, port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_static_serving_stays_inside_its_folders(web_exports):
    httpd, batcher = _serve(web_exports["q8"])
    port = httpd.server_address[1]
    try:
        status, headers, body = _get(port, "/model/zhcls.json")
        assert status == 200 and json.loads(body)["precision"] == "int8"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        status, headers, _ = _get(port, "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert _get(port, "/main.mjs")[1]["Content-Type"].startswith("text/javascript")
        for escape in ("/model/../../../../etc/passwd", "/../zhcls/cli/app.py", "/model/%2e%2e/%2e%2e/etc/passwd"):
            assert _get(port, escape)[0] == 404, escape
        assert _get(port, "/health")[0] == 200
    finally:
        httpd.shutdown()
        httpd.server_close()
        batcher.close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("blob", "data") or parts.hostname == LOCAL_HOST


def _classify_in_page(browser, folder: Path, dtype: str, texts: list[str]) -> tuple[list[dict], list[str]]:
    """Type each text into the page served with `folder` and read back its label and score; also the
    requests that left 127.0.0.1."""
    httpd, batcher = _serve(folder)
    context = browser.new_context()
    outside: list[str] = []
    context.on("request", lambda request: None if _is_local(request.url) else outside.append(request.url))
    try:
        page = context.new_page()
        page.goto(f"http://{LOCAL_HOST}:{httpd.server_address[1]}/?dtype={dtype}&threads=1")
        page.wait_for_selector("#status[data-ready]", timeout=60_000)
        assert outside == [], f"{dtype}: loading the page reached outside {LOCAL_HOST}: {outside}"
        assert page.get_attribute("#status", "data-ready") == "true", page.text_content("#status")
        results = []
        for calls, text in enumerate(texts, start=1):
            page.fill("#text", text)
            page.click("#classify")
            page.wait_for_selector(f'#result[data-calls="{calls}"]', timeout=30_000)
            results.append(
                {"label": page.text_content("#label"), "score": float(page.get_attribute("#score", "data-value"))}
            )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"web-page-{dtype}.png", full_page=True)
        return results, outside
    finally:
        context.close()
        httpd.shutdown()
        httpd.server_close()
        batcher.close()


@pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")
def test_page_in_headless_chromium_matches_the_python_runtime(web_exports, web_export_head_tail):
    from playwright.sync_api import sync_playwright

    texts = _review_texts(30)
    # Six synthetic texts joined, far over the 32-token window and with class words all along: head and
    # head+tail keep different tokens of them, and the page must cut as the manifest says.
    long_texts = [" ".join(text for text, _ in synthetic_rows(6, seed=seed)) for seed in range(8)]
    head = Classifier.load(web_exports["fp32"], threads=1, batch_size=1).predict_proba(long_texts)
    head_tail = Classifier.load(web_export_head_tail, threads=1, batch_size=1).predict_proba(long_texts)
    assert abs(head - head_tail).max() > 10 * SCORE_TOLERANCE["fp32"]  # else this check could not fail
    runs = [(dtype, folder, texts) for dtype, folder in web_exports.items()]
    runs.append(("fp32", web_export_head_tail, long_texts))
    with sync_playwright() as playwright:
        # Every host name but 127.0.0.1 fails to resolve: the page runs as with the network unplugged.
        browser = playwright.chromium.launch(
            executable_path=_chromium(), args=[f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOCAL_HOST}"]
        )
        try:
            for dtype, folder, texts in runs:
                in_page, outside = _classify_in_page(browser, folder, dtype, texts)
                assert outside == [], f"{dtype}: the page reached outside {LOCAL_HOST}: {outside}"
                # Batch 1 as in the page: dynamic int8 quantizes each batch's activations over its padding too.
                expected = Classifier.load(folder, threads=1, batch_size=1).predict(texts)
                for text, got, want in zip(texts, in_page, expected, strict=True):
                    assert got["label"] == want["label"], f"{dtype}: {text!r}: {got} != {want}"
                    assert abs(got["score"] - want["score"]) <= SCORE_TOLERANCE[dtype], f"{dtype}: {text!r}"
        finally:
            browser.close()
