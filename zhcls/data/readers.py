"""Read labeled text from CSV, TSV and JSONL files into `Examples`."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from zhcls.errors import UserError

log = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "review", "sentence", "content")
LABEL_COLUMNS = ("label", "cat", "category")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
BOM = "\ufeff"

csv.field_size_limit(1 << 27)


@dataclass
class Examples:
    """Texts with their labels (strings) and the file line each came from, for error messages."""

    texts: list[str]
    labels: list[str]
    lines: list[int]
    source: str
    skipped_empty: int = 0
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> Examples:
        """The examples at `indices`, in that order."""
        return Examples(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            lines=[self.lines[i] for i in indices],
            source=self.source,
        )


def clean_text(value: str) -> str:
    """Strip surrounding white space and byte-order marks that survive inside cells."""
    return value.replace(BOM, "").strip()


def decode_utf8(data: bytes, source: str, first_line: int = 1) -> str:
    """Decode UTF-8 (a leading BOM allowed), naming the line of the first bad byte (`data` starting on
    `first_line`)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = first_line + data[: exc.start].count(b"\n")
        raise UserError(
            f"{source}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def utf8_lines(handle: IO[bytes], source: str) -> Iterator[str]:
    """The lines of a binary stream decoded as UTF-8, line ends kept, read lazily; a bad byte names its line."""
    for number, raw in enumerate(handle, start=1):
        yield decode_utf8(raw, source, number)


def read_text_file(path: Path) -> str:
    """The whole file as text, with one-line errors for the usual ways a file is unusable."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a data file")
    data = path.read_bytes()
    text = decode_utf8(data, str(path))
    if not text.strip():
        raise UserError(f"{path}: file is empty")
    return text


def _pick_column(header: list[str], wanted: str | None, candidates: tuple[str, ...], kind: str, source: str) -> int:
    normalized = [clean_text(name).lower() for name in header]
    if wanted is not None:
        if clean_text(wanted).lower() in normalized:
            return normalized.index(clean_text(wanted).lower())
        raise UserError(f"{source}: no {kind} column '{wanted}' (columns: {', '.join(header)})")
    for name in candidates:
        if name in normalized:
            return normalized.index(name)
    raise UserError(
        f"{source}: no {kind} column found among {', '.join(header)}; "
        f"name one with --{kind}-col (auto-detected: {', '.join(candidates)})"
    )


def _delimited_rows(lines: Iterable[str], delimiter: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of CSV/TSV `lines` with the line each starts on."""
    reader = csv.reader(lines, delimiter=delimiter)
    end = 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if end > start:
                _check_line_breaks(row, delimiter, source, start, end)
            yield start, row
    except csv.Error as exc:
        raise UserError(f"{source}:{reader.line_num}: malformed row ({exc})") from None


def _check_line_breaks(row: list[str], delimiter: str, source: str, start: int, end: int) -> None:
    """Refuse a row whose quoted field swallowed the rows after it: in a TSV, any field holding a line break; in a
    CSV, one whose lines hold the delimiter (rows, not a text's own line breaks)."""
    for cell in row:
        lines = cell.splitlines()
        if len(lines) > 1 and (delimiter == "\t" or any(delimiter in line for line in lines)):
            raise UserError(
                f'{source}:{start}: a field that opens with a quote (") runs over lines {start}-{end}, swallowing '
                f'the rows there; close the quote, or write a quote inside a text as ""'
            )


def _table(lines: Iterable[str], delimiter: str, source: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header of a CSV/TSV and its rows after it, each checked to have the header's number of fields."""
    rows = _delimited_rows(lines, delimiter, source)
    try:
        _, header = next(rows)
    except StopIteration:
        raise UserError(f"{source}: file is empty") from None

    def checked() -> Iterator[tuple[int, list[str]]]:
        for line, row in rows:
            if len(row) != len(header):
                raise UserError(
                    f"{source}:{line}: {len(row)} fields, the header has {len(header)} "
                    "(quote fields that contain the delimiter)"
                )
            yield line, row

    return header, checked()


def _jsonl_rows(lines: Iterable[str], source: str) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise UserError(f"{source}:{number}: expected a JSON object per line")
        yield number, record


def _check_text(text: str, line: int, source: str, strict: bool) -> bool:
    if text:
        return True
    if strict:
        raise UserError(f"{source}:{line}: empty text (drop --strict to skip empty rows)")
    return False


def read_examples(
    path: str | Path,
    text_col: str | None = None,
    label_col: str | None = None,
    *,
    strict: bool = False,
    require_labels: bool = True,
) -> Examples:
    """Read a CSV, TSV or JSONL file of labeled texts; columns are named or auto-detected."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown format '{path.suffix}', expected one of {', '.join(sorted(FORMATS))}")
    text = read_text_file(path)
    source = str(path)
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    skipped = 0

    def add(raw_text: object, raw_label: object, line: int) -> None:
        nonlocal skipped
        value = clean_text(str(raw_text)) if raw_text is not None else ""
        if not _check_text(value, line, source, strict):
            skipped += 1
            return
        label = "" if raw_label is None else clean_text(str(raw_label))
        if require_labels and not label:
            raise UserError(f"{source}:{line}: empty label")
        texts.append(value)
        labels.append(label)
        lines.append(line)

    if fmt == "jsonl":
        text_key = label_key = None
        for line, record in _jsonl_rows(text.splitlines(), source):
            if text_key is None:
                keys = list(record)
                text_key = keys[_pick_column(keys, text_col, TEXT_COLUMNS, "text", source)]
                if require_labels or label_col:
                    label_key = keys[_pick_column(keys, label_col, LABEL_COLUMNS, "label", source)]
            if text_key not in record or (label_key is not None and label_key not in record):
                missing = text_key if text_key not in record else label_key
                raise UserError(f"{source}:{line}: missing key '{missing}'")
            add(record[text_key], record.get(label_key) if label_key else None, line)
    else:
        header, rows = _table(io.StringIO(text, newline=""), "," if fmt == "csv" else "\t", source)
        text_index = _pick_column(header, text_col, TEXT_COLUMNS, "text", source)
        label_index = None
        if require_labels or label_col:
            label_index = _pick_column(header, label_col, LABEL_COLUMNS, "label", source)
        for line, row in rows:
            add(row[text_index], row[label_index] if label_index is not None else None, line)

    if not texts:
        raise UserError(f"{path}: no rows with text")
    if skipped:
        log.warning("%s: skipped %d rows with empty text", source, skipped)
    return Examples(texts=texts, labels=labels, lines=lines, source=source, skipped_empty=skipped)


def stream_texts(path: str | Path, text_col: str | None = None) -> Iterator[str]:
    """Texts of a .txt (one per line), .csv/.tsv or .jsonl file, or '-' for stdin lines, read lazily; the file is
    checked as `read_examples` checks it (UTF-8, rows a quote swallowed, fields per row)."""
    import sys

    if str(path) == "-":
        for line in utf8_lines(sys.stdin.buffer, "<stdin>"):
            yield line.rstrip("\r\n")
        return
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a text file")
    fmt = "txt" if path.suffix.lower() == ".txt" else FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: unknown format '{path.suffix}', expected .txt, .csv, .tsv or .jsonl")
    source = str(path)
    with path.open("rb") as handle:
        lines = utf8_lines(handle, source)
        if fmt == "txt":
            for line in lines:
                yield line.rstrip("\r\n")
        elif fmt == "jsonl":
            key = None
            for _, record in _jsonl_rows(lines, source):
                if key is None:
                    key = list(record)[_pick_column(list(record), text_col, TEXT_COLUMNS, "text", source)]
                yield str(record.get(key, ""))
        else:
            header, rows = _table(lines, "," if fmt == "csv" else "\t", source)
            index = _pick_column(header, text_col, TEXT_COLUMNS, "text", source)
            for _, row in rows:
                yield clean_text(row[index])


def read_texts(path: str | Path) -> list[str]:
    """The non-empty texts of a .txt file (one per line) or of a data file (its labels, if any, unused)."""
    path = Path(path)
    if path.suffix.lower() != ".txt":
        return read_examples(path, require_labels=False).texts
    return [text for line in stream_texts(path) if (text := clean_text(line))]
