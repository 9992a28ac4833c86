"""A Triton Inference Server model repository (onnxruntime backend) next to the export."""

from __future__ import annotations

import shutil
from pathlib import Path

from zhcls.runtime.manifest import Manifest

MODEL_NAME = "zhcls_classifier"
MAX_BATCH = 64


def config_pbtxt(manifest: Manifest, name: str = MODEL_NAME) -> str:
    """Triton's config.pbtxt: int64 token inputs of any length, float logits, dynamic batching."""
    inputs = ",\n".join(f'  {{ name: "{n}" data_type: TYPE_INT64 dims: [ -1 ] }}' for n in manifest.input_names)
    return (
        f'name: "{name}"\n'
        'backend: "onnxruntime"\n'
        f"max_batch_size: {MAX_BATCH}\n"
        f"input [\n{inputs}\n]\n"
        f'output [\n  {{ name: "logits" data_type: TYPE_FP32 dims: [ {len(manifest.labels)} ] }}\n]\n'
        "dynamic_batching {\n  preferred_batch_size: [ 8, 32 ]\n  max_queue_delay_microseconds: 2000\n}\n"
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
    )


def write_model_repository(export_dir: Path, manifest: Manifest) -> dict:
    """`export_dir/triton/zhcls_classifier/{config.pbtxt,1/model.onnx,labels.txt}`; tokenization stays client-side."""
    model_dir = export_dir / "triton" / MODEL_NAME
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    shutil.copy2(export_dir / manifest.model_file, model_dir / "1" / "model.onnx")
    (model_dir / "config.pbtxt").write_text(config_pbtxt(manifest), encoding="utf-8")
    (model_dir / "labels.txt").write_text("".join(label + "\n" for label in manifest.labels), encoding="utf-8")
    return {"repository": "triton", "model": MODEL_NAME, "max_batch_size": MAX_BATCH}
