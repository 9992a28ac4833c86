"""TensorRT engines from the exported ONNX graph (NVIDIA's Python API; untested on our CPU-only machines)."""

from __future__ import annotations

import logging
from pathlib import Path

from zhcls.errors import UserError, require

log = logging.getLogger(__name__)

# Optimization profile: (min, opt, max) batch size and sequence length.
BATCH = (1, 8, 64)


def build_engine(onnx_path: Path, engine_path: Path, precision: str, max_length: int) -> dict:
    """Serialize an engine with one optimization profile over batch 1..64 and length 1..max_length.

    `precision` fp16 builds FP16 kernels from the float graph; int8 needs a QDQ graph (`--int8 static`),
    whose scales TensorRT uses as they are (explicit quantization).
    """
    trt = require("tensorrt", "trt")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 2 << 30)
    config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    lengths = (1, min(128, max_length), max_length)
    for index in range(network.num_inputs):
        name = network.get_input(index).name
        profile.set_shape(name, (BATCH[0], lengths[0]), (BATCH[1], lengths[1]), (BATCH[2], lengths[2]))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(f"TensorRT could not build an engine from {onnx_path} (see its log above)")
    engine_path.write_bytes(bytes(serialized))
    log.info("wrote %s (TensorRT %s, %s)", engine_path, trt.__version__, precision)
    return {
        "file": engine_path.name,
        "precision": precision,
        "tensorrt": trt.__version__,
        "profile": {"batch": list(BATCH), "length": list(lengths)},
    }
