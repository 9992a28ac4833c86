"""Torch-free inference: tokenizer + ONNX Runtime session + batching.

Nothing in this package imports torch, transformers or another zhcls subpackage.

    from zhcls.runtime import Classifier
    clf = Classifier.load("runs/export")   # small calls on one thread, large ones on every usable core
    clf.predict(["房间很干净，服务也好"])   # [{'label': 'positive', 'score': 0.97}]
"""

from zhcls.runtime.classifier import Classifier
from zhcls.runtime.manifest import Manifest, ManifestError

__all__ = ["Classifier", "Manifest", "ManifestError"]
