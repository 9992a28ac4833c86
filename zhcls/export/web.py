"""`zhcls export --web`: the export directory laid out as transformers.js loads a local model.

transformers.js (`pipeline('text-classification', folder)`) reads `config.json` (`id2label`),
`tokenizer.json` + `tokenizer_config.json` from the folder and the graph from `onnx/`, named by
dtype: `onnx/model.onnx` for fp32 and `onnx/model_quantized.onnx` for q8, its default on wasm.
The export directory itself is that folder; `--web` adds `onnx/` and makes the two JSON files say
what the Python runtime already knows from the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from zhcls.errors import UserError
from zhcls.runtime.manifest import Manifest

WEB_DIR = "onnx"
# transformers.js dtype → the file name it asks for (its DEFAULT_DTYPE_SUFFIX_MAPPING).
DTYPE_FILES = {"fp32": f"{WEB_DIR}/model.onnx", "q8": f"{WEB_DIR}/model_quantized.onnx"}
PRECISION_DTYPES = {"fp32": "fp32", "int8": "q8"}
FP32_SOURCE = f"{WEB_DIR}/.fp32-source.onnx"


def check_web_precision(precision: str) -> None:
    if precision not in PRECISION_DTYPES:
        raise UserError(f"--web lays out fp32 and int8 exports for ONNX Runtime Web's wasm; not {precision}")


def link_or_copy(source: Path, target: Path) -> None:
    # A hard link puts the same bytes under the name transformers.js asks for without a second copy on disk.
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _rewrite_json(path: Path, changes: dict) -> None:
    record = json.loads(path.read_text(encoding="utf-8"))
    record.update(changes)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_web_layout(folder: Path, manifest: Manifest) -> dict:
    """Add `onnx/` to an export directory and align its configs; returns the record for `manifest.extras['web']`.

    The export's own graph (the one the parity gate passed) goes under its dtype's name. An int8 export
    also ships the fp32 graph it was quantized from as `onnx/model.onnx` when the exporter left it at
    `FP32_SOURCE`, so a page can load either with `{dtype}`.
    """
    check_web_precision(manifest.precision)
    dtype = PRECISION_DTYPES[manifest.precision]
    files = {dtype: DTYPE_FILES[dtype]}
    link_or_copy(folder / manifest.model_file, folder / DTYPE_FILES[dtype])
    fp32_source = folder / FP32_SOURCE
    if fp32_source.exists():
        fp32_source.rename(folder / DTYPE_FILES["fp32"])
        files["fp32"] = DTYPE_FILES["fp32"]
    # The Python runtime reads labels and the length limit from the manifest; transformers.js reads them here.
    _rewrite_json(
        folder / "config.json",
        {
            "id2label": {str(i): label for i, label in enumerate(manifest.labels)},
            "label2id": {label: i for i, label in enumerate(manifest.labels)},
        },
    )
    _rewrite_json(folder / "tokenizer_config.json", {"model_max_length": manifest.max_length})
    return {
        "layout": "transformers.js",
        "files": files,
        "default_dtype": dtype,
        "max_length": manifest.max_length,
    }
