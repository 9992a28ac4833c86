"""The export manifest `zhcls.json`: the one schema the exporter writes and the runtime reads."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST = "zhcls.json"
FORMAT_VERSION = 1


class ManifestError(ValueError):
    """An export directory that cannot be used, with the reason in one line."""


@dataclass
class Manifest:
    """What an export directory holds and how it was made."""

    labels: list[str]
    max_length: int
    input_names: list[str]
    precision: str
    truncation: str = "head"  # which tokens of a long text the model was trained on
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    source_model_sha256: str = ""
    zhcls_version: str = ""
    format_version: int = FORMAT_VERSION
    quantization: dict = field(default_factory=dict)
    fusion: dict = field(default_factory=dict)
    parity: dict = field(default_factory=dict)
    exported_on: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    @classmethod
    def read(cls, folder: str | os.PathLike) -> Manifest:
        """Read and check `folder/zhcls.json`."""
        path = Path(folder) / MANIFEST
        if not Path(folder).is_dir():
            raise ManifestError(f"{folder}: no such export directory")
        if not path.exists():
            raise ManifestError(f"{folder}: no {MANIFEST}; make an export directory with `zhcls export`")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc})") from None
        known = {f for f in cls.__dataclass_fields__}
        missing = [name for name in ("labels", "max_length", "input_names", "precision") if name not in record]
        if missing:
            raise ManifestError(f"{path}: missing {', '.join(missing)}")
        if record.get("format_version", 1) > FORMAT_VERSION:
            raise ManifestError(f"{path}: written by a newer zhcls (format {record['format_version']}); upgrade zhcls")
        return cls(**{k: v for k, v in record.items() if k in known})

    def write(self, folder: str | os.PathLike) -> Path:
        """Write `folder/zhcls.json` through a temporary file."""
        path = Path(folder) / MANIFEST
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path
