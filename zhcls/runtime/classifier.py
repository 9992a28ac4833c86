"""`Classifier`: an export directory's tokenizer and ONNX Runtime session behind `predict`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from zhcls.runtime.batching import CALL_OVERHEAD_TOKENS, bucket_width, gpu_length_multiple, length_batches
from zhcls.runtime.cpu import has_vnni, usable_cores
from zhcls.runtime.manifest import Manifest, ManifestError
from zhcls.runtime.truncation import check_truncation, clip_text, cut_ids

log = logging.getLogger(__name__)

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
# Padded tokens (rows × width) from which a CPU call runs on several threads; smaller calls run on one.
# The 2×128 int8 student at batch 1 (ORT session alone, medians of interleaved calls, AVX2, a second process busy
# on the other core) took 0.62 / 1.07 / 2.36 ms at 32 / 64 / 128 tokens on one thread, 0.62 / 1.15 / 6.15 ms on two
# spinning threads and 0.96 / 2.60 / 5.86 ms on two threads without spinning: a second thread never paid for one
# text. 2048 keeps every batch-1 call (up to 512 tokens) and small batches (16 × 128) on one thread. Where in
# between threads start to pay was not measured: benchmarks/latency.py times the sessions side by side.
ONE_THREAD_TOKENS = 2048


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities of `logits`."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Logits whose softmax is `probabilities`: their logs, with zeros clipped to 1e-12."""
    return np.log(np.clip(probabilities, 1e-12, None))


def _encodable(text: str) -> str:
    """The text with lone surrogates (which Python strings allow and UTF-8 does not) replaced by '?'."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _check_texts(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if texts is None or not isinstance(texts, (list, tuple)):
        raise TypeError(f"texts must be a str or a list of str, not {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return list(texts)


def session_providers(device: str, available: set[str], manifest: Manifest, batch_size: int) -> list:
    """ONNX Runtime's providers for `device`, those this build lacks left out.

    TensorRT gets one optimization profile spanning every batch and length the classifier sends: without it,
    ONNX Runtime builds a new engine (seconds) whenever a call's shape leaves the range seen so far.
    """
    providers: list = [p for p in PROVIDERS[device] if p in available]
    if providers[0] == "TensorrtExecutionProvider":
        shapes = {
            bound: ",".join(f"{name}:{rows}x{width}" for name in manifest.input_names)
            for bound, rows, width in (
                ("min", 1, 1),
                ("opt", 1, manifest.max_length),
                ("max", batch_size, manifest.max_length),
            )
        }
        options = {f"trt_profile_{bound}_shapes": value for bound, value in shapes.items()}
        providers[0] = ("TensorrtExecutionProvider", options)
    return providers


def special_token_ids(manifest: Manifest, tokenizer) -> tuple[int, int, int]:
    """The ids put before and after a text and padded with: the manifest's, or for an export that predates them,
    the ones the tokenizer's own template puts around a text (padding is masked out, so id 0 serves)."""
    if manifest.special_tokens:
        return manifest.special_tokens["cls"], manifest.special_tokens["sep"], manifest.special_tokens["pad"]
    around = tokenizer.encode("", add_special_tokens=True).ids
    if len(around) != 2:
        raise ManifestError(
            f"{manifest.tokenizer_file}: no special_tokens in the manifest and no [first, last] template"
        )
    return around[0], around[1], 0


def check_tokenizer(tokenizer, special_ids: tuple[int, int, int], path: Path) -> None:
    """The tokenizer must know the first and last special tokens the manifest puts around a text (as special tokens)
    and, when its model has one, its unknown token: else a text fails only once it is classified."""
    specials = {index for index, token in tokenizer.get_added_tokens_decoder().items() if token.special}
    for name, index in zip(("cls", "sep"), special_ids, strict=False):
        if index not in specials:
            raise ManifestError(
                f"{path}: no special token with id {index}, the manifest's {name} token; export the model again"
            )
    unknown = getattr(tokenizer.model, "unk_token", None)
    if unknown and tokenizer.token_to_id(unknown) is None:
        raise ManifestError(f"{path}: its unknown token {unknown} is not in its vocabulary; export the model again")


def open_session(model: Path, source: str | bytes, providers: list, threads: int | None, spin: bool):
    """An ONNX Runtime session of the graph `source` (the file's path or its bytes) with `threads` intra-op threads
    (None: ONNX Runtime's default); `spin=False` stops its workers from busy-waiting between calls."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if isinstance(source, bytes):  # a graph with external weights finds them beside its file
        options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(model.parent))
    try:
        return ort.InferenceSession(source, options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        reason = str(exc).strip().splitlines()[0][:300]
        raise ManifestError(f"{model}: cannot load the ONNX model ({reason})") from None


def selection_warning(manifest: Manifest) -> str | None:
    """Why the graph `zhcls export --int8 auto` chose may not be the fastest here: it was timed on a CPU that
    differs from this one in VNNI (which decides how fast int8 runs against fp32); None when nothing differs."""
    flags = manifest.exported_on.get("flags")
    if not manifest.selection or not isinstance(flags, dict):
        return None
    then = bool(flags.get("avx512_vnni") or flags.get("avx_vnni"))
    if then == has_vnni():
        return None
    return (
        f"its graph ({manifest.selection.get('chosen', '?')}) was chosen as the fastest on a CPU "
        f"{'with' if then else 'without'} VNNI and this one has {'none' if then else 'it'}; another candidate may "
        "run faster here (export again with --int8 auto on this kind of CPU)"
    )


class Classifier:
    """A text classifier exported by `zhcls export`; safe to share between threads.

    On the CPU, unless `Classifier.load` is given `threads`, each call picks its threads: one below
    `one_thread_tokens` padded tokens (batch × width), where more threads only add their coordination, and the
    cores this process may use above it, in a second session opened at the first such call.
    """

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        session,
        tokenizer,
        truncation: str,
        batch_size: int,
        length_multiple: int | None = None,
        *,
        threads: int | None = None,
        spin: bool = True,
        large_threads: int | None = None,
        open_large: Callable[[], object] | None = None,
        one_thread_tokens: int = ONE_THREAD_TOKENS,
    ):
        self.folder = folder
        self.manifest = manifest
        self.labels = list(manifest.labels)
        self.max_length = manifest.max_length
        self.truncation = truncation
        self.batch_size = batch_size
        # Padded tokens that one more model call is worth when a batch is split by length (see batching.py).
        self.call_overhead_tokens = CALL_OVERHEAD_TOKENS
        # Calls padded to a multiple of this many tokens (GPU providers: a few shapes instead of every length).
        self.length_multiple = length_multiple
        # `session` runs calls on `threads` threads (None: ONNX Runtime's default): all of them, or with `open_large`
        # those under `one_thread_tokens` padded tokens, the others on the session of `large_threads` threads that
        # `open_large()` opens at the first of them.
        self._session = session
        self.one_thread_tokens = one_thread_tokens
        self._threads, self._spin, self._large_threads = threads, spin, large_threads if open_large else None
        self._open_large = open_large
        self._large_session = None
        self._large_lock = threading.Lock()
        self.last_threads: int | None = None  # the threads of the session that ran the last model call
        self._tokenizer = tokenizer
        self._inputs = [i.name for i in session.get_inputs()]
        self._cls, self._sep, self._pad = special_token_ids(manifest, tokenizer)

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike,
        *,
        device: str = "cpu",
        threads: int | None = None,
        truncation: str | None = None,
        batch_size: int = 32,
        spin: bool = True,
        large_threads: int | None = None,
        one_thread_tokens: int = ONE_THREAD_TOKENS,
    ) -> Classifier:
        """Open an export directory; `device` is cpu, cuda or tensorrt (falling back to CPU with a warning).

        `truncation` (head, tail, head+tail) defaults to the one the model was trained with, from the manifest.
        `threads` runs every call on that many threads. Without it, a CPU call of fewer than `one_thread_tokens`
        padded tokens runs on one thread and a larger one on `large_threads` (default: the cores this process may
        use), in a second session over the same graph opened at the first large call.
        `spin=False` stops ONNX Runtime's worker threads from busy-waiting between calls: slower for one
        session alone, but fair when several sessions take turns on the same cores (benchmarks).
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        manifest = Manifest.read(folder)
        truncation = check_truncation(truncation or manifest.truncation)
        if device not in PROVIDERS:
            raise ValueError(f"device must be one of {', '.join(PROVIDERS)}")
        model_path = folder / manifest.model_file
        if not model_path.exists():
            raise ManifestError(f"{model_path}: missing model file")
        providers = session_providers(device, set(ort.get_available_providers()), manifest, batch_size)
        if providers[0] != PROVIDERS[device][0]:
            log.warning("%s is not available in this onnxruntime; running on %s", PROVIDERS[device][0], providers[0])
        if (
            manifest.quantization.get("scheme") == "dynamic-u8s8"
            and not manifest.quantization.get("reduce_range")
            and not has_vnni()
        ):
            log.warning(
                "%s was quantized for VNNI CPUs; on this CPU its int8 scores may drift (re-export with "
                "--int8-preset portable)",
                folder,
            )
        if warning := selection_warning(manifest):
            log.warning("%s: %s", folder, warning)
        large = large_threads or usable_cores()
        open_large = None
        if device == "cpu" and not threads:
            # Both sessions read the graph from one read of the file (its bytes are let go once both are open).
            graph = model_path.read_bytes()
            session = open_session(model_path, graph, providers, 1, spin)
            if large > 1:
                open_large = partial(open_session, model_path, graph, providers, large, spin)
            threads = 1
        else:
            session = open_session(model_path, str(model_path), providers, threads, spin)
        try:
            tokenizer = Tokenizer.from_file(str(folder / manifest.tokenizer_file))
        except Exception as exc:  # tokenizers raises a bare Exception for a bad file
            raise ManifestError(f"{folder / manifest.tokenizer_file}: cannot load the tokenizer ({exc})") from None
        check_tokenizer(tokenizer, special_token_ids(manifest, tokenizer), folder / manifest.tokenizer_file)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(
            folder,
            manifest,
            session,
            tokenizer,
            truncation,
            batch_size,
            gpu_length_multiple(device),
            threads=threads,
            spin=spin,
            large_threads=large,
            open_large=open_large,
            one_thread_tokens=one_thread_tokens,
        )

    def thread_setting(self) -> dict:
        """The threads calls run on: below `large_from_tokens` padded tokens `small_calls`, from it `large_calls`
        (None: ONNX Runtime's default), and whether workers busy-wait between calls."""
        large = self._large_threads or self._threads
        return {
            "small_calls": self._threads,
            "large_calls": large,
            "large_from_tokens": self.one_thread_tokens if self._large_threads else None,
            "spinning": self._spin and large != 1,
        }

    def _session_for(self, padded_tokens: int):
        """The session a call of `padded_tokens` runs on, and its threads (the large one opened at first use)."""
        if self._large_threads is None or padded_tokens < self.one_thread_tokens:
            return self._session, self._threads
        if self._large_session is None:
            with self._large_lock:
                if self._large_session is None:
                    self._large_session = self._open_large()
                    self._open_large = None  # and with it the graph's bytes
        return self._large_session, self._large_threads

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids between the model's first and last special tokens, cut to max_length by the truncation policy."""
        budget = self.max_length - 2
        clipped = [clip_text(text, self.max_length, self.truncation) for text in texts]
        try:
            encodings = self._tokenizer.encode_batch(clipped, add_special_tokens=False)
        except TypeError:  # a lone surrogate somewhere; repairing only then keeps the common path free
            encodings = self._tokenizer.encode_batch([_encodable(t) for t in clipped], add_special_tokens=False)
        out = []
        for encoding in encodings:
            ids = cut_ids(encoding.ids, budget, self.truncation)
            out.append([self._cls, *ids, self._sep])
        return out

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        width = bucket_width(max(len(ids) for ids in batch), self.length_multiple, self.max_length)
        input_ids = np.full((len(batch), width), self._pad, dtype=np.int64)
        attention = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention[row, : len(ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": np.zeros_like(input_ids)}
        session, self.last_threads = self._session_for(input_ids.size)
        return session.run(None, {name: feed[name] for name in self._inputs})[0].astype(np.float32)

    def predict_logits(self, texts: str | Sequence[str]) -> np.ndarray:
        """Raw logits, one row per text; texts are sorted by length and run in batches of at most `batch_size`,
        each padded to its own longest, cut where padding would cost more than another call."""
        texts = _check_texts(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        encoded = self.encode(texts)
        lengths = np.array([len(ids) for ids in encoded])
        order = np.argsort(lengths, kind="stable")
        for start, end in length_batches(lengths[order].tolist(), self.batch_size, self.call_overhead_tokens):
            chunk = order[start:end]
            out[chunk] = self._run([encoded[i] for i in chunk])
        return out

    def predict_proba(self, texts: str | Sequence[str]) -> np.ndarray:
        """Class probabilities, columns in `labels` order."""
        return softmax(self.predict_logits(texts))

    def predict(self, texts: str | Sequence[str], top_k: int | None = None) -> list:
        """{'label', 'score'} per text, or a list of the `top_k` best of them per text."""
        return ranked_predictions(self.predict_proba(texts), self.labels, top_k)


def ranked_predictions(probabilities: np.ndarray, labels: Sequence[str], top_k: int | None = None) -> list:
    """{'label', 'score'} of the best class per row, or a list of the `top_k` best per row."""
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, : top_k or 1]
    results = [
        [{"label": labels[j], "score": float(row[j])} for j in best]
        for row, best in zip(probabilities, ranked, strict=True)
    ]
    return results if top_k else [r[0] for r in results]
