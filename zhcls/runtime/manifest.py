"""The export manifest `zhcls.json`: the one schema the exporter writes and the runtime reads.

Every field is checked on construction, on read and before a write; a bad one is a `ManifestError` whose
one-line message names the field and says what it must be.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from zhcls.runtime.truncation import DEFAULT_TRUNCATION, TRUNCATION

MANIFEST = "zhcls.json"
FORMAT_VERSION = 1
REQUIRED = ("labels", "max_length", "input_names", "precision")
# The encoder inputs the exporter may name and the runtime knows how to feed.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# [CLS], [SEP] and one token at the least; past 8192 no encoder here has position embeddings.
MAX_LENGTH_RANGE = (3, 8192)
DICT_FIELDS = ("special_tokens", "quantization", "fusion", "parity", "exported_on", "selection", "extras")
# The token ids the runtime puts around a text and pads with: the tokenizer family's own ([CLS]/[SEP]/[PAD] for
# WordPiece BERT, <s>/</s>/<pad> for SentencePiece models), read from the manifest, never guessed from strings.
SPECIAL_TOKENS = ("cls", "sep", "pad")


class ManifestError(ValueError):
    """An export directory that cannot be used, with the reason in one line."""


def _shown(value: object, limit: int = 80) -> str:
    """`repr(value)` on one line, cut to `limit` characters."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _file_name_problem(value: object) -> str | None:
    """Why `value` is not a plain file name inside the export directory, or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if "/" in value or "\\" in value or "\x00" in value or value in (".", "..") or Path(value).is_absolute():
        return "must be a plain file name inside the export directory (no folders, '..' or absolute paths)"
    return None


def _list_of_distinct_strings(value: object) -> str | None:
    """Why `value` is not a non-empty list of distinct non-empty strings, or None."""
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of strings"
    if not all(isinstance(item, str) and item for item in value):
        return "must hold only non-empty strings"
    if len(set(value)) != len(value):
        repeated = sorted(item for item, count in Counter(value).items() if count > 1)
        return f"must be distinct ({', '.join(map(repr, repeated[:3]))} repeated)"
    return None


def field_problems(manifest: Manifest) -> list[str]:
    """One line per bad field of `manifest`, each naming the field; empty when every field is usable."""
    problems: list[str] = []

    def bad(name: str, reason: str) -> None:
        problems.append(f"{name} {reason}, got {_shown(getattr(manifest, name))}")

    if reason := _list_of_distinct_strings(manifest.labels):
        bad("labels", reason)
    low, high = MAX_LENGTH_RANGE
    if not _is_int(manifest.max_length) or not low <= manifest.max_length <= high:
        bad("max_length", f"must be an integer from {low} to {high}")
    if reason := _list_of_distinct_strings(manifest.input_names):
        bad("input_names", reason)
    elif unknown := [name for name in manifest.input_names if name not in INPUT_NAMES]:
        bad("input_names", f"must name only {', '.join(INPUT_NAMES)} ({', '.join(unknown)} is unknown)")
    elif "input_ids" not in manifest.input_names:
        bad("input_names", "must include input_ids")
    if not isinstance(manifest.precision, str) or not manifest.precision:
        bad("precision", "must be a non-empty string such as int8, fp16 or fp32")
    if manifest.truncation not in TRUNCATION:
        bad("truncation", f"must be one of {', '.join(TRUNCATION)}")
    for name in ("model_file", "tokenizer_file"):
        if reason := _file_name_problem(getattr(manifest, name)):
            bad(name, reason)
    for name in ("source_model_sha256", "zhcls_version"):
        if not isinstance(getattr(manifest, name), str):
            bad(name, "must be a string")
    if not _is_int(manifest.format_version) or manifest.format_version < 1:
        bad("format_version", "must be a positive integer")
    for name in DICT_FIELDS:
        if not isinstance(getattr(manifest, name), dict):
            bad(name, "must be a JSON object")
    specials = manifest.special_tokens
    if (
        isinstance(specials, dict)
        and specials
        and (set(specials) != set(SPECIAL_TOKENS) or not all(_is_int(v) and v >= 0 for v in specials.values()))
    ):
        bad("special_tokens", f"must map {', '.join(SPECIAL_TOKENS)} to token ids")
    selection = manifest.selection
    if (
        isinstance(selection, dict)
        and selection
        and not (isinstance(selection.get("chosen"), str) and isinstance(selection.get("candidates"), list))
    ):
        bad("selection", "must name the chosen candidate (chosen) and list the candidates (candidates)")
    return problems


@dataclass
class Manifest:
    """What an export directory holds and how it was made."""

    labels: list[str]
    max_length: int
    input_names: list[str]
    precision: str
    truncation: str = DEFAULT_TRUNCATION  # which tokens of a long text the model was trained on
    model_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    special_tokens: dict = field(default_factory=dict)  # cls, sep, pad ids; empty in exports of zhcls 0.1
    source_model_sha256: str = ""
    zhcls_version: str = ""
    format_version: int = FORMAT_VERSION
    quantization: dict = field(default_factory=dict)
    fusion: dict = field(default_factory=dict)
    parity: dict = field(default_factory=dict)
    exported_on: dict = field(default_factory=dict)
    # `zhcls export --int8 auto`: the candidate graphs, their parity and timings on the exporting CPU, the choice
    selection: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ManifestError naming the first bad field (and how many more there are)."""
        problems = field_problems(self)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ManifestError(problems[0] + more)

    @classmethod
    def read(cls, folder: str | os.PathLike) -> Manifest:
        """Read and check `folder/zhcls.json`."""
        path = Path(folder) / MANIFEST
        if not Path(folder).is_dir():
            raise ManifestError(f"{folder}: no such export directory")
        if not path.is_file():
            raise ManifestError(f"{folder}: no {MANIFEST}; make an export directory with `zhcls export`")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, a nesting or a number too large
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ManifestError(f"{path}: not valid JSON ({reason})") from None
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        if not isinstance(record, dict):
            raise ManifestError(f"{path}: must hold a JSON object, not a {type(record).__name__}")
        missing = [name for name in REQUIRED if name not in record]
        if missing:
            raise ManifestError(f"{path}: missing {', '.join(missing)}")
        version = record.get("format_version", 1)
        if _is_int(version) and version > FORMAT_VERSION:
            raise ManifestError(f"{path}: written by a newer zhcls (format {version}); upgrade zhcls")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in record.items() if k in known})
        except ManifestError as exc:
            raise ManifestError(f"{path}: {exc}") from None

    def write(self, folder: str | os.PathLike) -> Path:
        """Check every field, then write `folder/zhcls.json` through a temporary file."""
        self.check()
        path = Path(folder) / MANIFEST
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path
