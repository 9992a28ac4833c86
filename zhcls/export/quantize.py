"""Graph fusion and quantization of an exported ONNX classifier, through ONNX Runtime's own tools."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zhcls.errors import UserError
from zhcls.runtime.cpu import has_vnni

log = logging.getLogger(__name__)

FUSED_OPS = (
    "EmbedLayerNormalization",
    "Attention",
    "SkipLayerNormalization",
    "BiasGelu",
    "FastGelu",
    "Gelu",
    "LayerNormalization",
)
# Only MinMax: ONNX Runtime's histogram calibrators (entropy, percentile) fail on the attention-mask
# tensors of exported BERT graphs (float-min values no histogram can bin).
CALIBRATION = ("minmax",)
# int8 presets as data: which weight range and activation scheme each CPU family wants.
INT8_PRESETS = {
    # Full 8-bit weights: exact on CPUs whose int8 dot product has no 16-bit intermediate (VNNI, AMX, ARM).
    "avx512_vnni": {"reduce_range": False},
    # 7-bit weights: u8×s8 pairs cannot saturate AVX2's vpmaddubsw, at a small precision cost.
    "avx2": {"reduce_range": True},
    # Safe wherever the model may be deployed.
    "portable": {"reduce_range": True},
}


@dataclass(frozen=True)
class QuantizeSettings:
    """How to turn the fp32 graph into int8."""

    mode: str = "dynamic"  # dynamic | static | auto (zhcls.export.select: the fastest graph that passes parity)
    preset: str = "auto"  # auto | avx512_vnni | avx2 | portable
    per_channel: bool = True
    calibration: str = "minmax"
    calibration_size: int = 200
    keep_float: tuple[str, ...] = ()  # regular expressions over node names left in float

    def __post_init__(self) -> None:
        if self.mode not in ("dynamic", "static", "auto"):
            raise UserError("--int8 must be dynamic, static or auto")
        if self.preset != "auto" and self.preset not in INT8_PRESETS:
            raise UserError(f"--int8-preset must be auto or one of {', '.join(INT8_PRESETS)}")
        if self.mode == "auto" and self.preset != "auto":
            raise UserError("--int8 auto tries this CPU's preset and the portable one itself: leave out --int8-preset")
        if self.calibration not in CALIBRATION:
            raise UserError(f"--calibration must be one of {', '.join(CALIBRATION)}")
        for pattern in self.keep_float:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise UserError(f"--keep-float '{pattern}' is not a valid regular expression ({exc})") from None

    def resolved_preset(self) -> str:
        """'auto' is the preset of the CPU this runs on."""
        if self.preset != "auto":
            return self.preset
        return "avx512_vnni" if has_vnni() else "avx2"


def fuse(source: Path, target: Path, num_heads: int, hidden_size: int, model_type: str = "bert") -> dict[str, int]:
    """ONNX Runtime's transformer fusions (attention, skip/embed layer norm, bias-GELU); returns fused op counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(source), model_type=model_type, num_heads=num_heads, hidden_size=hidden_size, opt_level=1
    )
    stats = optimized.get_fused_operator_statistics()
    optimized.save_model_to_file(str(target))
    return {op: int(stats.get(op, 0)) for op in FUSED_OPS if stats.get(op)}


def to_fp16(source: Path, target: Path) -> None:
    """Float16 weights and compute with float32 inputs and outputs (for GPUs)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(source)))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(target))


def _excluded_nodes(path: Path, patterns: Sequence[str]) -> list[str]:
    import onnx

    if not patterns:
        return []
    names = [node.name for node in onnx.load(str(path), load_external_data=False).graph.node]
    excluded = [n for n in names if any(re.search(p, n) for p in patterns)]
    if not excluded:
        raise UserError(f"--keep-float {', '.join(patterns)} matches no node of the graph")
    return excluded


class _Calibration:
    """Feeds for static calibration: tokenized training texts, one at a time."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def quantize(
    source: Path, target: Path, settings: QuantizeSettings, calibration_feeds: list[dict[str, np.ndarray]] | None = None
) -> dict:
    """Write an int8 model; returns how it was quantized (for the manifest)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    preset = settings.resolved_preset()
    reduce_range = INT8_PRESETS[preset]["reduce_range"]
    excluded = _excluded_nodes(source, settings.keep_float)
    # Fused contrib ops (Attention, SkipLayerNormalization) have no ONNX shape inference; their outputs are float.
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True}
    if settings.mode == "dynamic":
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=settings.per_channel,
            reduce_range=reduce_range,
            nodes_to_exclude=excluded,
            extra_options=extra,
        )
        scheme = "dynamic-u8s8"
    else:
        if not calibration_feeds:
            raise UserError("--int8 static needs calibration texts (the training split)")
        method = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[settings.calibration]
        quantize_static(
            str(source),
            str(target),
            _Calibration(calibration_feeds),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=settings.per_channel,
            reduce_range=reduce_range,
            calibrate_method=method,
            nodes_to_exclude=excluded,
            extra_options={**extra, "ActivationSymmetric": True, "WeightSymmetric": True},
        )
        scheme = "static-qdq-s8s8"
    return {
        "scheme": scheme,
        "preset": preset,
        "reduce_range": reduce_range,
        "per_channel": settings.per_channel,
        "calibration": settings.calibration if settings.mode == "static" else None,
        "calibration_texts": len(calibration_feeds or []) if settings.mode == "static" else 0,
        "kept_float": excluded,
    }
