"""The desktop example drives the runtime through a real Tk window where a display exists."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "desktop_tk.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("desktop_tk", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def display(monkeypatch):
    """The session's display, or a virtual one (Xvfb) started for this test."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if not shutil.which("Xvfb"):
        pytest.skip("no display and no Xvfb (apt-get install xvfb) to open a Tk window in")
    number = f":{90 + os.getpid() % 100}"
    server = subprocess.Popen(["Xvfb", number, "-nolisten", "tcp"], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    monkeypatch.setenv("DISPLAY", number)
    try:
        yield number
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_example_classifies_what_is_typed(exported_classifier, display):
    tk = pytest.importorskip("tkinter", reason="this Python has no Tk")
    from zhcls.runtime import Classifier

    example = _load_example()
    classifier = Classifier.load(exported_classifier, threads=1)
    root = tk.Tk()
    try:
        window = example.ClassifierWindow(root, classifier)
        window.text.insert("1.0", "房间很干净，很满意")
        line = window.classify()
    finally:
        root.destroy()
    (expected,) = classifier.predict(["房间很干净，很满意"])
    assert line.startswith(f"{expected['label']}  ({expected['score']:.1%})")
    assert window.result.get() == line


def test_the_example_explains_its_usage():
    pytest.importorskip("tkinter", reason="this Python has no Tk")
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "usage: python examples/desktop_tk.py EXPORT_DIR" in result.stderr
