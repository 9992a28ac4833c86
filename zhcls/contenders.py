"""Contenders: anything that classifies texts, loaded from its directory behind one `predict_logits(texts)` call.

`zhcls bench` times them side by side; `zhcls distill --extra-teacher` mixes their probabilities into the soft
labels. A contender is written `[LABEL=][KIND:]PATH`; without a KIND the directory's contents decide. Loading
imports only what that kind needs, so an ONNX contender measured alone never pays for torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zhcls.errors import UserError
from zhcls.runtime.manifest import Manifest

KINDS = {
    "onnx": "an export directory (zhcls export), ONNX Runtime on the CPU",
    "onnx-cuda": "an export directory on ONNX Runtime's CUDA provider",
    "onnx-tensorrt": "an export directory on ONNX Runtime's TensorRT provider",
    "torch": "a Hugging Face classifier directory (zhcls train/distill), PyTorch fp32 on the CPU",
    "torch-cuda": "a Hugging Face classifier directory, PyTorch bf16 autocast + torch.compile on a CUDA GPU",
    "tfidf": "a `zhcls baseline` directory (TF-IDF + logistic regression)",
    "fasttext": "a `zhcls baseline --kind fasttext` directory",
    "reference": "a random-weight BERT of a preset shape (reference:base is 12×768), PyTorch fp32, for speed",
    "reference-cuda": "the same speed reference in bf16 on a CUDA GPU",
}


# The file each stage writes that tells its directories apart, by the kind that runs them (first match wins).
MARKERS = {"onnx": "zhcls.json", "tfidf": "tfidf.json", "fasttext": "fasttext.bin", "torch": "config.json"}


class Unavailable(Exception):
    """A contender that cannot run on this machine (no GPU, a library missing); the report lists the reason."""


@dataclass(frozen=True)
class ContenderSpec:
    label: str
    kind: str
    target: str

    @classmethod
    def parse(cls, text: str) -> ContenderSpec:
        label, sep, rest = text.partition("=")
        if not sep or "/" in label:
            label, rest = "", text
        kind, sep, target = rest.partition(":")
        if not sep or kind not in KINDS:
            kind, target = None, rest
        is_reference = bool(kind) and kind.startswith("reference")
        if not is_reference and not Path(target).exists():
            raise UserError(f"contender '{text}': {target} does not exist")
        marker = MARKERS.get(kind.split("-")[0]) if kind and not is_reference else None
        if marker and not (Path(target) / marker).is_file():
            raise UserError(f"contender '{text}': {target} has no {marker}, so it is not {KINDS[kind]}")
        kind = kind or detect_kind(target)
        return cls(label or default_label(kind, target), kind, target)


def detect_kind(path: str) -> str:
    """The kind a directory holds, from the files each stage writes."""
    folder = Path(path)
    for kind, marker in MARKERS.items():
        if (folder / marker).exists():
            return kind
    raise UserError(
        f"contender '{path}': not an export, model or baseline directory; write KIND:PATH with KIND one of "
        + ", ".join(KINDS)
    )


def default_label(kind: str, target: str) -> str:
    """The directory's name and what runs it, e.g. `student (ONNX int8)`."""
    if kind.startswith("reference"):
        precision = "bf16, CUDA" if kind.endswith("cuda") else "fp32"
        return f"BERT {target} shape, PyTorch {precision} (speed reference)"
    folder = Path(target)
    name = folder.name if folder.name not in ("", ".") else str(folder)
    if kind.startswith("onnx"):
        provider = {"onnx": "", "onnx-cuda": ", CUDA", "onnx-tensorrt": ", TensorRT"}[kind]
        return f"{name} (ONNX {Manifest.read(folder).precision}{provider})"
    runner = {"torch": "PyTorch fp32", "torch-cuda": "PyTorch bf16, CUDA", "tfidf": "TF-IDF", "fasttext": "fastText"}
    return f"{name} ({runner[kind]})"


@dataclass
class LoadedContender:
    """A contender ready to time: its labels (columns of `predict_logits`) and what the report shows about it."""

    labels: list[str]
    predict_logits: Callable[[list[str]], np.ndarray]
    size_bytes: int
    parameters: int | None = None
    source_sha256: str = ""
    precision: str = "fp32"
    has_accuracy: bool = True
    details: dict = field(default_factory=dict)
    # The threads its calls ran on (see `fixed_threads`); the report shows them beside its timings.
    threads: dict = field(default_factory=dict)


def fixed_threads(count: int, spinning: bool | None = None) -> dict:
    """A thread setting that every call runs with, in the form of `Classifier.thread_setting()` (which may pick
    one thread for calls below `large_from_tokens` padded tokens); `spinning` None: the library's own default."""
    return {"small_calls": count, "large_calls": count, "large_from_tokens": None, "spinning": spinning}


def _files_size(folder: Path, patterns: tuple[str, ...]) -> int:
    return sum(path.stat().st_size for pattern in patterns for path in folder.glob(pattern))


def load_contender(
    spec: ContenderSpec, *, threads: int, num_labels: int, tokenizer_from: str | None
) -> LoadedContender:
    """Open a contender for timing; raises Unavailable when this machine cannot run it."""
    loader = {
        "onnx": _load_onnx,
        "onnx-cuda": _load_onnx,
        "onnx-tensorrt": _load_onnx,
        "torch": _load_torch,
        "torch-cuda": _load_torch,
        "tfidf": _load_tfidf,
        "fasttext": _load_fasttext,
        "reference": _load_reference,
        "reference-cuda": _load_reference,
    }[spec.kind]
    return loader(spec, threads=threads, num_labels=num_labels, tokenizer_from=tokenizer_from)


def _load_onnx(spec: ContenderSpec, *, threads: int, **_) -> LoadedContender:
    from zhcls.runtime import Classifier

    device = {"onnx": "cpu", "onnx-cuda": "cuda", "onnx-tensorrt": "tensorrt"}[spec.kind]
    if device != "cpu":
        import onnxruntime as ort

        wanted = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[device]
        if wanted not in ort.get_available_providers():
            raise Unavailable(f"{wanted} is not in this onnxruntime (install onnxruntime-gpu on a GPU machine)")
    # As an app runs it on the CPU: each call picks one thread or up to `threads`. No busy-waiting workers: several
    # sessions take turns on the same cores during interleaved timing.
    if device == "cpu":
        classifier = Classifier.load(spec.target, large_threads=threads, spin=False)
    else:
        classifier = Classifier.load(spec.target, device=device, threads=threads, spin=False)
    manifest = classifier.manifest
    if classifier.length_multiple:
        meet_every_shape(classifier.predict_logits, classifier.max_length, classifier.length_multiple)
    return LoadedContender(
        labels=classifier.labels,
        predict_logits=classifier.predict_logits,
        size_bytes=_files_size(Path(spec.target), ("*.onnx", "*.onnx.data", "*.onnx_data")),
        source_sha256=manifest.source_model_sha256,
        precision=manifest.precision,
        threads=classifier.thread_setting(),
        details={
            "quantization": manifest.quantization,
            "fusion": bool(manifest.fusion),
            "device": device,
            **_length_buckets(device),
        },
    )


# The batch sizes timed: a GPU contender meets each of its length buckets at both while loading.
GPU_BATCH_SIZES = (1, 32)


def _torch_runner(
    model, tokenizer, inputs, device: str, multiple_of: int | None = None
) -> Callable[[list[str]], np.ndarray]:
    """Texts to logits with a PyTorch model; on a GPU (or with `multiple_of`) in length buckets met at once."""
    import torch

    from zhcls.models import encode_texts, pad_batch
    from zhcls.runtime.batching import bucket_width, gpu_length_multiple

    multiple_of = multiple_of or gpu_length_multiple(device)

    def precision():
        return torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else contextlib.nullcontext()

    def predict_logits(texts: list[str]) -> np.ndarray:
        encoded = encode_texts(tokenizer, texts, inputs)
        batch = pad_batch(tokenizer, encoded, bucket_width(max(map(len, encoded)), multiple_of, inputs.max_length))
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.inference_mode(), precision():
            logits = model(**batch).logits
        return logits.float().cpu().numpy()

    if multiple_of:
        meet_every_shape(predict_logits, inputs.max_length, multiple_of)
    return predict_logits


def _length_buckets(device: str) -> dict:
    from zhcls.runtime.batching import gpu_length_multiple

    multiple = gpu_length_multiple(device)
    return {"padded_to_multiple_of": multiple} if multiple else {}


def meet_every_shape(
    predict_logits: Callable[[list[str]], np.ndarray],
    max_length: int,
    multiple_of: int,
    batch_sizes: tuple[int, ...] = GPU_BATCH_SIZES,
) -> None:
    """One call at every padded length up to `max_length` and every timed batch size, so that the GPU's setup
    for a new shape lands in the load time, not in a timed call."""
    for length in range(multiple_of, max_length + multiple_of, multiple_of):
        text = "好" * (min(length, max_length) - 2)  # one token a CJK character, plus [CLS] and [SEP]
        for size in batch_sizes:
            predict_logits([text] * size)


def _torch_device(spec: ContenderSpec, threads: int) -> str:
    from zhcls.errors import require

    torch = require("torch", "train")
    torch.set_num_threads(threads)
    if spec.kind.endswith("-cuda"):
        if not torch.cuda.is_available():
            raise Unavailable("no CUDA GPU visible to torch")
        return "cuda"
    return "cpu"


def _load_torch(spec: ContenderSpec, *, threads: int, **_) -> LoadedContender:
    from zhcls.models import InputSettings, load_classifier, load_tokenizer, model_labels, weights_sha256

    device = _torch_device(spec, threads)
    folder = Path(spec.target)
    model = load_classifier(folder).to(device)
    details = {"device": device, **_length_buckets(device)}
    tokenizer, inputs = load_tokenizer(folder), InputSettings.recorded(folder)
    if device == "cuda":
        predict_logits = compiled_runner(model, tokenizer, inputs, device, details)
    else:
        predict_logits = _torch_runner(model, tokenizer, inputs, device)
    return LoadedContender(
        labels=model_labels(model),
        predict_logits=predict_logits,
        size_bytes=_files_size(folder, ("*.safetensors", "*.bin")),
        parameters=sum(p.numel() for p in model.parameters()),
        source_sha256=weights_sha256(folder),
        precision="bf16" if device == "cuda" else "fp32",
        threads=fixed_threads(threads),
        details=details,
    )


def compiled_runner(model, tokenizer, inputs, device: str, details: dict) -> Callable[[list[str]], np.ndarray]:
    """The model under torch.compile, compiled now by a first call; the eager model when the compiler fails.

    Compiling here puts its cost in the load time rather than in a timed call, and a machine whose compiler
    cannot build kernels (no C compiler for Triton, an unsupported op) still gets timed, with the reason shown.
    """
    import torch

    # Real texts vary in length: dynamic shapes avoid a recompilation per length.
    try:
        compiled = _torch_runner(torch.compile(model, dynamic=True), tokenizer, inputs, device)
        compiled(["好", "好好"])
    except Exception as exc:  # any compiler failure; the eager model below is the same function
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        details["compiled"] = f"no, eager: {first_line[:200]}"
        return _torch_runner(model, tokenizer, inputs, device)
    details["compiled"] = "torch.compile(dynamic=True)"
    return compiled


def _load_reference(spec: ContenderSpec, *, threads: int, num_labels: int, tokenizer_from: str | None, **_):
    from zhcls.models import PRESETS, InputSettings, build_classifier, load_tokenizer

    if spec.target not in PRESETS:
        raise UserError(f"reference:{spec.target}: unknown shape; choose one of {', '.join(PRESETS)}")
    if tokenizer_from is None:
        raise Unavailable("a reference needs a tokenizer: add a model or export contender to the same run")
    device = _torch_device(spec, threads)
    tokenizer = load_tokenizer(tokenizer_from)
    labels = [f"label_{i}" for i in range(num_labels)]
    model = build_classifier(labels, preset=spec.target, vocab_size=len(tokenizer)).eval().to(device)
    parameters = sum(p.numel() for p in model.parameters())
    return LoadedContender(
        labels=labels,
        predict_logits=_torch_runner(model, tokenizer, InputSettings(), device),
        size_bytes=parameters * 4,
        parameters=parameters,
        precision="bf16" if device == "cuda" else "fp32",
        has_accuracy=False,
        threads=fixed_threads(threads),
        details={"device": device, "note": "random weights; size is fp32 weights in memory", **_length_buckets(device)},
    )


def _as_logits(predict_proba: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
    """A classic baseline's probabilities as logits (their logs), the one kind of score every contender returns."""
    from zhcls.runtime.classifier import log_probabilities

    def predict_logits(texts: list[str]) -> np.ndarray:
        return log_probabilities(predict_proba(texts))

    return predict_logits


def _load_tfidf(spec: ContenderSpec, **_) -> LoadedContender:
    from zhcls.baselines.tfidf import TfidfBaseline

    folder = Path(spec.target)
    baseline = TfidfBaseline.load(folder)
    return LoadedContender(
        labels=list(baseline.labels),
        predict_logits=_as_logits(baseline.predict_proba),
        size_bytes=_files_size(folder, ("tfidf.*",)),
        threads=fixed_threads(1, spinning=False),  # scikit-learn's sparse products run on one thread
        details={"c": baseline.c},
    )


def _load_fasttext(spec: ContenderSpec, **_) -> LoadedContender:
    from zhcls.errors import MissingExtraError

    try:
        from zhcls.baselines.fasttext import FastTextBaseline

        baseline = FastTextBaseline.load(Path(spec.target))
    except MissingExtraError as exc:
        raise Unavailable(str(exc)) from None
    return LoadedContender(
        labels=baseline.labels,
        predict_logits=_as_logits(baseline.predict_proba),
        size_bytes=_files_size(Path(spec.target), ("fasttext.*",)),
        threads=fixed_threads(1, spinning=False),  # fastText predicts on the calling thread
        details={"hyperparameters": baseline.hyperparameters},
    )
