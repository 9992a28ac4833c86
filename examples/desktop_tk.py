"""A minimal desktop app that embeds the zhcls runtime: type a review, see its label, score and latency.

    pip install zhcls            # the runtime needs numpy, onnxruntime and tokenizers only
    python examples/desktop_tk.py runs/demo/export

The model loads once at start-up; each click runs one prediction on the UI thread (a few milliseconds for
an int8 student, so the window never stalls). Tk ships with most Python installers; on Debian/Ubuntu
install `python3-tk`.
"""

from __future__ import annotations

import sys
import time
import tkinter as tk
from tkinter import ttk

from zhcls.runtime import Classifier


def describe(prediction: dict, milliseconds: float) -> str:
    """The line the window shows for one prediction."""
    return f"{prediction['label']}  ({prediction['score']:.1%})   {milliseconds:.1f} ms"


class ClassifierWindow:
    def __init__(self, root: tk.Tk, classifier: Classifier):
        self.classifier = classifier
        root.title(f"zhcls — {classifier.folder.name}")
        frame = ttk.Frame(root, padding=12)
        frame.grid(sticky="nsew")
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)
        self.text = tk.Text(frame, width=60, height=6, wrap="word")
        self.text.grid(row=0, column=0, columnspan=2, sticky="nsew")
        self.button = ttk.Button(frame, text="Classify", command=self.classify)
        self.button.grid(row=1, column=0, sticky="w", pady=8)
        self.result = tk.StringVar(value="labels: " + ", ".join(classifier.labels))
        ttk.Label(frame, textvariable=self.result).grid(row=1, column=1, sticky="w")
        frame.columnconfigure(1, weight=1)
        frame.rowconfigure(0, weight=1)
        root.bind("<Control-Return>", lambda _event: self.classify())

    def classify(self) -> str:
        started = time.perf_counter()
        (prediction,) = self.classifier.predict([self.text.get("1.0", "end").strip()])
        line = describe(prediction, (time.perf_counter() - started) * 1e3)
        self.result.set(line)
        return line


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/desktop_tk.py EXPORT_DIR")
    classifier = Classifier.load(sys.argv[1])
    root = tk.Tk()
    ClassifierWindow(root, classifier)
    root.mainloop()


if __name__ == "__main__":
    main()
