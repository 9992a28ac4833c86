"""The bad-input corpus: command lines a user may get wrong, each with the files it needs, that every command must
refuse with exit code 2 and one `error:` line, no traceback, and nothing changed on disk.

A case is a command line (the words after `zhcls`) whose placeholders name the artifacts the corpus reads and never
writes: {data} a labeled CSV, {encoder} a tiny pretrained BERT directory, {tokenizer} its tokenizer, {model} a
classifier trained on {data}, {export} that classifier exported with int8; {tmp} is the case's own empty folder,
which `setup` fills first. tests/test_bad_inputs.py runs each case in-process, benchmarks/reliability.py in a fresh
process, against the same list.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ARTIFACTS = ("data", "encoder", "tokenizer", "model", "export")
Setup = Callable[[Path, dict[str, Path]], None]


def _nothing(tmp: Path, artifacts: dict[str, Path]) -> None:
    """No files needed."""


@dataclass(frozen=True)
class Case:
    """One bad command line: `name` says what is wrong, `expect` is a regular expression the error line matches."""

    name: str
    command: str
    expect: str
    setup: Setup = field(default=_nothing, compare=False)

    @property
    def verb(self) -> str:
        """The zhcls command the case runs."""
        return self.command.split()[0]

    def args(self, tmp: Path, artifacts: dict[str, Path]) -> list[str]:
        """The command line with its placeholders filled in."""
        return shlex.split(self.command.format(tmp=tmp, **{name: str(path) for name, path in artifacts.items()}))


def review_rows(n: int = 40, labels: tuple[str, ...] = ("pos", "neg")) -> list[tuple[str, str]]:
    """`n` distinct short reviews, labels taking turns."""
    return [(f"第{i}条评论，{'很好' if i % 2 == 0 else '太差'}", labels[i % len(labels)]) for i in range(n)]


def table(rows: list[tuple[str, str]], delimiter: str = ",", header: str = "text,label") -> str:
    """A CSV/TSV text of `rows` under `header` (the fields need no quoting)."""
    lines = [header.replace(",", delimiter), *(f"{text}{delimiter}{label}" for text, label in rows)]
    return "\n".join(lines) + "\n"


# Setups: small functions of (tmp, artifacts) composed from these.


def write(name: str, content: str | bytes) -> Setup:
    """A file `name` in the case's folder holding `content` (text as UTF-8)."""

    def setup(tmp: Path, artifacts: dict[str, Path]) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    return setup


def folder(name: str) -> Setup:
    """A folder `name` with one file in it (an output a command must not clobber)."""
    return write(f"{name}/keep.txt", "precious\n")


def copy(artifact: str, name: str, damage: Callable[[Path], None] | None = None) -> Setup:
    """A copy of an artifact as `name`, then damaged."""

    def setup(tmp: Path, artifacts: dict[str, Path]) -> None:
        source = artifacts[artifact]
        if source.is_dir():
            shutil.copytree(source, tmp / name)
        else:
            shutil.copy2(source, tmp / name)
        if damage is not None:
            damage(tmp / name)

    return setup


def both(*setups: Setup) -> Setup:
    """Every setup in turn."""

    def setup(tmp: Path, artifacts: dict[str, Path]) -> None:
        for one in setups:
            one(tmp, artifacts)

    return setup


def live_lock(output: str) -> Setup:
    """The work area of `output` locked by a running process (this one's parent, alive while the case runs)."""
    return write(f".{output}.partial/lock", f"{os.getppid()}\n")


# Damages of a copied artifact.


def truncate_weights(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def pickle_weights(model_dir: Path) -> None:
    """The weights as a pickled pytorch_model.bin only."""
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(model_dir / "model.safetensors"), model_dir / "pytorch_model.bin")
    (model_dir / "model.safetensors").unlink()


def drop_special_tokens(model_dir: Path) -> None:
    """A Hugging Face tokenizer that no longer names its [CLS] and [SEP]."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = model_dir / name
        record = json.loads(path.read_text(encoding="utf-8"))
        for key in ("cls_token", "sep_token"):
            record.pop(key, None)
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A damage that edits the JSON file `name` of the copy."""

    def damage(folder: Path) -> None:
        path = folder / name
        record = json.loads(path.read_text(encoding="utf-8"))
        change(record)
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")

    return damage


def _no_unknown_token(record: dict) -> None:
    del record["model"]["vocab"]["[UNK]"]
    record["added_tokens"] = [token for token in record["added_tokens"] if token["content"] != "[UNK]"]


def _no_special_tokens(record: dict) -> None:
    record["added_tokens"], record["post_processor"] = [], None


def overwrite_file(name: str, content: bytes) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).write_bytes(content)

    return damage


def remove(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / name).unlink()

    return damage


# Data files.

ROWS = review_rows()
GOOD_CSV = table(ROWS)
GBK_CSV = table(ROWS[:3]).encode("utf-8") + "差评，很失望,neg\n".encode("gbk")
SWALLOWING_TSV = table(ROWS[:10], "\t") + '"引号打开了\tpos\n' + table(ROWS[10:], "\t").split("\n", 1)[1]
SWALLOWING_CSV = table(ROWS[:10]) + '"引号打开了,pos\n' + table(ROWS[10:20]).split("\n", 1)[1] + '结束",neg\n'
UNCLOSED_CSV = table(ROWS) + '"最后一条没有收尾的引号,pos\n' + table(ROWS[:3]).split("\n", 1)[1]
SPELLINGS = table([(text, ["1", "1.0", "pos"][i % 3]) for i, (text, _) in enumerate(ROWS)])
LABELS_01 = table([(text, str(i % 2)) for i, (text, _) in enumerate(ROWS)])
TRUE_AND_TWO = table([(text, ["True", "1", "2"][i % 3]) for i, (text, _) in enumerate(ROWS)])
GBK_TEXT = "第一条\n".encode() + "第二条，编码是GBK\n".encode("gbk")


def data(name: str, content: str | bytes) -> Setup:
    return write(name, content)


CASES: list[Case] = [
    # zhcls split: reading a data set
    Case(
        "output is an existing folder",
        "split --data {data} --output {tmp}/out",
        "already exists; pass --overwrite",
        folder("out"),
    ),
    Case(
        "output is the data file itself",
        "split --data {tmp}/x.csv --output {tmp}/x.csv --overwrite",
        "would replace the input",
        data("x.csv", GOOD_CSV),
    ),
    Case(
        "output is the folder holding the data",
        "split --data {tmp}/d/x.csv --output {tmp}/d --overwrite",
        "would replace the input",
        data("d/x.csv", GOOD_CSV),
    ),
    Case(
        "output under a file", "split --data {data} --output {tmp}/f/out", "is a file, not a directory", write("f", "x")
    ),
    Case(
        "output is an existing file",
        "split --data {data} --output {tmp}/f --overwrite",
        "is a file; name a folder",
        write("f", "x"),
    ),
    Case("no such data file", "split --data {tmp}/missing.csv", "no such file"),
    Case("data is a folder", "split --data {tmp}/dir.csv", "is a directory", folder("dir.csv")),
    Case("neither file nor built-in", "split --data no-such-set", "neither a file nor a built-in data set"),
    Case("unknown format", "split --data {tmp}/x.xlsx", "unknown format", data("x.xlsx", "x")),
    Case("empty file", "split --data {tmp}/x.csv", "file is empty", data("x.csv", "")),
    Case("header only", "split --data {tmp}/x.csv", "no rows with text", data("x.csv", "text,label\n")),
    Case("not UTF-8", "split --data {tmp}/x.csv", r"x\.csv:\d+: not valid UTF-8", data("x.csv", GBK_CSV)),
    Case(
        "no text column", "split --data {tmp}/x.csv", "no text column found", data("x.csv", table(ROWS, header="a,b"))
    ),
    Case("named text column missing", "split --data {data} --text-col body", "no text column 'body'"),
    Case("named label column missing", "split --data {data} --label-col stars", "no label column 'stars'"),
    Case(
        "a row with too many fields",
        "split --data {tmp}/x.csv",
        r"x\.csv:4: 3 fields, the header has 2",
        data("x.csv", GOOD_CSV.replace(f"{ROWS[2][0]},", f"{ROWS[2][0]},extra,", 1)),
    ),
    Case(
        "TSV quote swallowing rows",
        "split --data {tmp}/x.tsv",
        r"x\.tsv:12: a field that opens with a quote",
        data("x.tsv", SWALLOWING_TSV),
    ),
    Case(
        "CSV quote swallowing rows",
        "split --data {tmp}/x.csv",
        r"x\.csv:12: a field that opens with a quote",
        data("x.csv", SWALLOWING_CSV),
    ),
    Case(
        "CSV quote left open to the end",
        "split --data {tmp}/x.csv",
        r"x\.csv:42: a field that opens with a quote",
        data("x.csv", UNCLOSED_CSV),
    ),
    Case(
        "one number spelled two ways beside a name",
        "split --data {tmp}/x.csv",
        "labels mix spellings of one number",
        data("x.csv", SPELLINGS),
    ),
    Case(
        "true beside numbers other than 0 and 1",
        "split --data {tmp}/x.csv",
        r"labels mix .* with 2",
        data("x.csv", TRUE_AND_TWO),
    ),
    Case(
        "a single class",
        "split --data {tmp}/x.csv",
        "single class",
        data("x.csv", table([(text, "pos") for text, _ in ROWS])),
    ),
    Case(
        "an empty label",
        "split --data {tmp}/x.csv",
        r"x\.csv:3: empty label",
        data("x.csv", GOOD_CSV.replace(f"{ROWS[1][0]},neg", f"{ROWS[1][0]},", 1)),
    ),
    Case(
        "strict with an empty text",
        "split --data {tmp}/x.csv --strict",
        r"x\.csv:2: empty text",
        data("x.csv", GOOD_CSV.replace(f"{ROWS[0][0]},", ",", 1)),
    ),
    Case(
        "JSONL line not JSON",
        "split --data {tmp}/x.jsonl",
        r"x\.jsonl:2: invalid JSON",
        data("x.jsonl", '{"text": "好", "label": "pos"}\n{"text": \n'),
    ),
    Case(
        "JSONL line not an object",
        "split --data {tmp}/x.jsonl",
        r"x\.jsonl:2: expected a JSON object",
        data("x.jsonl", '{"text": "好", "label": "pos"}\n[1, 2]\n'),
    ),
    Case(
        "JSONL line without the label",
        "split --data {tmp}/x.jsonl",
        r"x\.jsonl:2: missing key 'label'",
        data("x.jsonl", '{"text": "好", "label": "pos"}\n{"text": "差"}\n'),
    ),
    Case("split ratios nan", "split --data {data} --split-ratios nan,0.5,0.5", "split ratios"),
    Case("two split ratios", "split --data {data} --split-ratios 0.5,0.5", "must be three numbers"),
    Case("a negative split ratio", "split --data {data} --split-ratios 1.5,-0.5,0", "split ratios"),
    Case("negative split seed", "split --data {data} --split-seed -1", "--split-seed"),
    Case(
        "too small for a dev split",
        "split --data {tmp}/x.csv",
        "the dev split is empty",
        data("x.csv", table(ROWS[:5])),
    ),
    Case(
        "test file with an unseen label",
        "split --data {data} --test {tmp}/t.csv",
        "does not occur in the training split",
        data("t.csv", table([("一般般", "neutral")])),
    ),
    Case(
        "extra training data with other labels",
        "split --data {data} --extra-train {tmp}/e.csv",
        "is not one of",
        data("e.csv", LABELS_01),
    ),
    Case("no such dev file", "split --data {data} --dev {tmp}/missing.csv", "no such file"),
    # zhcls train
    Case(
        "output under a file",
        "train --model {encoder} --data {data} --output {tmp}/f/out",
        "is a file, not a directory",
        write("f", "x"),
    ),
    Case("output exists", "train --model {encoder} --data {data} --output {tmp}/out", "already exists", folder("out")),
    Case(
        "output is the model it starts from",
        "train --model {tmp}/enc --data {data} --output {tmp}/enc --overwrite",
        "would replace the input",
        copy("encoder", "enc"),
    ),
    Case("lr inf", "train --model {encoder} --data {data} --output {tmp}/o --lr inf", "not a finite number"),
    Case("lr nan", "train --model {encoder} --data {data} --output {tmp}/o --lr nan", "not a finite number"),
    Case(
        "weight decay nan",
        "train --model {encoder} --data {data} --output {tmp}/o --weight-decay nan",
        "not a finite number",
    ),
    Case(
        "negative weight decay",
        "train --model {encoder} --data {data} --output {tmp}/o --weight-decay -1",
        "--weight-decay must be 0 or more",
    ),
    Case("lr zero", "train --model {encoder} --data {data} --output {tmp}/o --lr 0", "--lr must be positive"),
    Case("zero epochs", "train --model {encoder} --data {data} --output {tmp}/o --epochs 0", "--epochs"),
    Case("zero batch size", "train --model {encoder} --data {data} --output {tmp}/o --batch-size 0", "--batch-size"),
    Case("zero accumulation", "train --model {encoder} --data {data} --output {tmp}/o --grad-accum 0", "--grad-accum"),
    Case(
        "batch smaller than accumulation",
        "train --model {encoder} --data {data} --output {tmp}/o --batch-size 2 --grad-accum 4",
        "at least --grad-accum",
    ),
    Case("warmup ratio 1", "train --model {encoder} --data {data} --output {tmp}/o --warmup-ratio 1", "--warmup-ratio"),
    Case("max length 0", "train --model {encoder} --data {data} --output {tmp}/o --max-length 0", "--max-length"),
    Case("max length 1000", "train --model {encoder} --data {data} --output {tmp}/o --max-length 1000", "--max-length"),
    Case(
        "minutes 0", "train --model {encoder} --data {data} --output {tmp}/o --minutes 0", "--minutes must be positive"
    ),
    Case("minutes inf", "train --model {encoder} --data {data} --output {tmp}/o --minutes inf", "not a finite number"),
    Case(
        "min steps without minutes",
        "train --model {encoder} --data {data} --output {tmp}/o --min-steps 5",
        "--min-steps needs --minutes",
    ),
    Case("negative patience", "train --model {encoder} --data {data} --output {tmp}/o --patience -1", "--patience"),
    Case(
        "negative checkpoint interval",
        "train --model {encoder} --data {data} --output {tmp}/o --checkpoint-every -1",
        "--checkpoint-every",
    ),
    Case("negative seed", "train --model {encoder} --data {data} --output {tmp}/o --seed -1", "--seed"),
    Case("neither model nor preset", "train --data {data} --output {tmp}/o", "give exactly one of --model"),
    Case("preset without tokenizer", "train --preset tiny --data {data} --output {tmp}/o", "needs --tokenizer"),
    Case(
        "unknown preset",
        "train --preset huge --tokenizer {tokenizer} --data {data} --output {tmp}/o",
        "unknown preset 'huge'",
    ),
    Case(
        "model folder without a model",
        "train --model {tmp}/empty --data {data} --output {tmp}/o",
        "cannot load tokenizer",
        folder("empty"),
    ),
    Case(
        "truncated safetensors",
        "train --model {tmp}/enc --data {data} --output {tmp}/o",
        "not a whole safetensors file",
        copy("encoder", "enc", truncate_weights),
    ),
    Case(
        "pickled weights only",
        "train --model {tmp}/enc --data {data} --output {tmp}/o",
        "loads safetensors only",
        copy("encoder", "enc", pickle_weights),
    ),
    Case(
        "tokenizer without special tokens",
        "train --model {encoder} --tokenizer {tmp}/tok --data {data} --output {tmp}/o",
        "has no cls_token or sep_token",
        copy("tokenizer", "tok", drop_special_tokens),
    ),
    Case(
        "data too small for a dev split",
        "train --model {encoder} --data {tmp}/x.csv --output {tmp}/o",
        "the dev split is empty",
        data("x.csv", table(ROWS[:5])),
    ),
    Case(
        "data not UTF-8",
        "train --model {encoder} --data {tmp}/x.csv --output {tmp}/o",
        "not valid UTF-8",
        data("x.csv", GBK_CSV),
    ),
    Case(
        "resume with nothing to resume",
        "train --model {encoder} --data {data} --output {tmp}/o --resume",
        "nothing to resume",
    ),
    Case(
        "an interrupted run's work area",
        "train --model {encoder} --data {data} --output {tmp}/o",
        "an interrupted run left",
        write(".o.partial/train_log.jsonl", ""),
    ),
    Case(
        "another run holds the output",
        "train --model {encoder} --data {data} --output {tmp}/o --overwrite",
        r"being written by another run \(pid \d+",
        live_lock("o"),
    ),
    Case(
        "unknown truncation",
        "train --model {encoder} --data {data} --output {tmp}/o --truncation middle",
        "--truncation",
    ),
    Case("unknown flag", "train --model {encoder} --data {data} --output {tmp}/o --learning-rate 1", "No such option"),
    # zhcls eval
    Case("no such model", "eval {tmp}/missing --data {data}", "no such model directory"),
    Case("batch size 0", "eval {model} --batch-size 0", "--batch-size"),
    Case("max length 3", "eval {model} --max-length 3", "--max-length"),
    Case("truncated safetensors", "eval {tmp}/m", "not a whole safetensors file", copy("model", "m", truncate_weights)),
    Case("pickled weights only", "eval {tmp}/m", "loads safetensors only", copy("model", "m", pickle_weights)),
    Case("json under a file", "eval {model} --json {tmp}/f/m.json", "is a file, not a directory", write("f", "x")),
    Case("json exists", "eval {model} --json {tmp}/m.json", "already exists", write("m.json", "{}")),
    Case("json is a folder", "eval {model} --json {tmp}/d --overwrite", "is a directory; name a file", folder("d")),
    Case("unknown split", "eval {model} --split valid", "--split"),
    Case(
        "data with labels the model lacks",
        "eval {model} --data {tmp}/x.csv",
        "not among the model's",
        data("x.csv", LABELS_01),
    ),
    Case("a folder with no record of its data", "eval {tmp}/empty", "--data is required", folder("empty")),
    # zhcls baseline
    Case("output exists", "baseline --data {data} --output {tmp}/out", "already exists", folder("out")),
    Case(
        "output under a file",
        "baseline --data {data} --output {tmp}/f/out",
        "is a file, not a directory",
        write("f", "x"),
    ),
    Case(
        "output is the data file",
        "baseline --data {tmp}/x.csv --output {tmp}/x.csv --overwrite",
        "would replace the input",
        data("x.csv", GOOD_CSV),
    ),
    Case("json exists", "baseline --data {data} --json {tmp}/m.json", "already exists", write("m.json", "{}")),
    Case("autotune seconds 0", "baseline --data {data} --kind fasttext --autotune-seconds 0", "--autotune-seconds"),
    Case("unknown kind", "baseline --data {data} --kind svm", "--kind"),
    Case(
        "data too small for a dev split",
        "baseline --data {tmp}/x.csv",
        "the dev split is empty",
        data("x.csv", table(ROWS[:5])),
    ),
    # zhcls vocab
    Case("output exists", "vocab --corpus {data} --output {tmp}/out", "already exists", folder("out")),
    Case(
        "output under a file",
        "vocab --corpus {data} --output {tmp}/f/out",
        "is a file, not a directory",
        write("f", "x"),
    ),
    Case("vocabulary too small", "vocab --corpus {data} --vocab-size 5 --output {tmp}/out", "too small"),
    Case("min frequency 0", "vocab --corpus {data} --min-frequency 0 --output {tmp}/out", "--min-frequency"),
    Case("no such corpus file", "vocab --corpus {tmp}/missing.txt --output {tmp}/out", "no such file"),
    Case(
        "corpus not UTF-8",
        "vocab --corpus {tmp}/c.txt --output {tmp}/out",
        r"c\.txt:2: not valid UTF-8",
        data("c.txt", GBK_TEXT),
    ),
    # zhcls pretrain
    Case(
        "mask rate 1.5",
        "pretrain --corpus {data} --preset tiny --tokenizer {tokenizer} --output {tmp}/o --mask-rate 1.5",
        "--mask-rate",
    ),
    Case(
        "mask rate nan",
        "pretrain --corpus {data} --preset tiny --tokenizer {tokenizer} --output {tmp}/o --mask-rate nan",
        "not a finite number",
    ),
    Case(
        "rtd weight inf",
        "pretrain --corpus {data} --preset tiny --tokenizer {tokenizer} --output {tmp}/o "
        "--objective electra --rtd-weight inf",
        "not a finite number",
    ),
    Case(
        "held-out fraction 0.9",
        "pretrain --corpus {data} --preset tiny --tokenizer {tokenizer} --output {tmp}/o --heldout-fraction 0.9",
        "--heldout-fraction",
    ),
    Case(
        "output exists",
        "pretrain --corpus {data} --preset tiny --tokenizer {tokenizer} --output {tmp}/out",
        "already exists",
        folder("out"),
    ),
    Case("neither model nor preset", "pretrain --corpus {data} --output {tmp}/o", "give exactly one of --model"),
    Case(
        "lr inf",
        "pretrain --corpus {data} --preset tiny --tokenizer {tokenizer} --output {tmp}/o --lr inf",
        "not a finite number",
    ),
    # zhcls distill
    Case("temperature 0", "distill --teacher {model} --output {tmp}/o --temperature 0", "--temperature"),
    Case("temperature inf", "distill --teacher {model} --output {tmp}/o --temperature inf", "not a finite number"),
    Case("negative loss weight", "distill --teacher {model} --output {tmp}/o --soft-weight -1", "non-negative"),
    Case(
        "every loss weight zero",
        "distill --teacher {model} --output {tmp}/o --soft-weight 0",
        "every loss weight is zero",
    ),
    Case(
        "augment without a masked-language model",
        "distill --teacher {model} --output {tmp}/o --augment 2",
        "--augment needs --augment-mlm",
    ),
    Case(
        "augment probability nan",
        "distill --teacher {model} --output {tmp}/o --augment-prob nan",
        "not a finite number",
    ),
    Case(
        "extra teacher weight 2",
        "distill --teacher {model} --output {tmp}/o --extra-teacher-weight 2",
        "--extra-teacher-weight",
    ),
    Case(
        "extra teacher folds 0",
        "distill --teacher {model} --output {tmp}/o --extra-teacher-folds 0",
        "--extra-teacher-folds",
    ),
    Case(
        "unlabeled text not UTF-8",
        "distill --teacher {model} --output {tmp}/o --unlabeled {tmp}/u.txt",
        r"u\.txt:2: not valid UTF-8",
        data("u.txt", GBK_TEXT),
    ),
    Case(
        "no such unlabeled file",
        "distill --teacher {model} --output {tmp}/o --unlabeled {tmp}/missing.txt",
        "no such file",
    ),
    Case("output exists", "distill --teacher {model} --output {tmp}/out", "already exists", folder("out")),
    Case(
        "output is the teacher",
        "distill --teacher {tmp}/t --output {tmp}/t --overwrite",
        "would replace the input",
        copy("model", "t"),
    ),
    Case(
        "two stages without an intermediate loss",
        "distill --teacher {model} --output {tmp}/o --schedule two-stage",
        "needs an intermediate loss",
    ),
    Case(
        "intermediate epochs 0",
        "distill --teacher {model} --output {tmp}/o --intermediate-epochs 0",
        "--intermediate-epochs",
    ),
    Case("lr nan", "distill --teacher {model} --output {tmp}/o --lr nan", "not a finite number"),
    # zhcls export
    Case("output exists", "export {model} --output {tmp}/out", "already exists", folder("out")),
    Case(
        "output is the model",
        "export {tmp}/m --output {tmp}/m --overwrite",
        "would replace the input",
        copy("model", "m"),
    ),
    Case("output under a file", "export {model} --output {tmp}/f/out", "is a file, not a directory", write("f", "x")),
    Case("no such model", "export {tmp}/missing --output {tmp}/out", "no such model directory"),
    Case(
        "calibration size 0", "export {model} --output {tmp}/o --int8 static --calibration-size 0", "--calibration-size"
    ),
    Case(
        "calibration size -5",
        "export {model} --output {tmp}/o --int8 static --calibration-size -5",
        "--calibration-size",
    ),
    Case("max length 0", "export {model} --output {tmp}/o --max-length 0", "--max-length"),
    Case("min agreement 2", "export {model} --output {tmp}/o --min-agreement 2", "--min-agreement"),
    Case("min agreement nan", "export {model} --output {tmp}/o --min-agreement nan", "not a finite number"),
    Case("int8 and fp16", "export {model} --output {tmp}/o --int8 --fp16", "choose one of --int8 and --fp16"),
    Case("TensorRT int8 from a fused graph", "export {model} --output {tmp}/o --trt int8", "--trt int8"),
    Case(
        "data with other labels",
        "export {model} --output {tmp}/o --data {tmp}/x.csv",
        r"labels of .* \(0, 1\) differ from the model's",
        data("x.csv", LABELS_01),
    ),
    Case(
        "truncated safetensors",
        "export {tmp}/m --output {tmp}/o",
        "not a whole safetensors file",
        copy("model", "m", truncate_weights),
    ),
    Case(
        "pickled weights only",
        "export {tmp}/m --output {tmp}/o",
        "loads safetensors only",
        copy("model", "m", pickle_weights),
    ),
    Case(
        "tokenizer without special tokens",
        "export {tmp}/m --output {tmp}/o",
        "has no cls_token or sep_token",
        copy("model", "m", drop_special_tokens),
    ),
    # zhcls predict
    Case("top k 0", "predict {export} 好 --top-k 0", "--top-k"),
    Case("top k -1", "predict {export} 好 --top-k -1", "--top-k"),
    Case("batch size 0", "predict {export} 好 --batch-size 0", "--batch-size"),
    Case("threads 0", "predict {export} 好 --threads 0", "--threads"),
    Case("texts and an input file", "predict {export} 好 --input {tmp}/x.txt", "not both", data("x.txt", "好\n")),
    Case("neither texts nor input", "predict {export}", "give texts as arguments or --input"),
    Case("no such input", "predict {export} --input {tmp}/missing.txt", "no such file"),
    Case(
        "input not UTF-8", "predict {export} --input {tmp}/x.txt", r"x\.txt:2: not valid UTF-8", data("x.txt", GBK_TEXT)
    ),
    Case(
        "TSV input with a quote swallowing rows",
        "predict {export} --input {tmp}/x.tsv",
        r"x\.tsv:12: a field that opens with a quote",
        data("x.tsv", SWALLOWING_TSV),
    ),
    Case(
        "CSV input with a quote left open",
        "predict {export} --input {tmp}/x.csv",
        r"x\.csv:42: a field that opens with a quote",
        data("x.csv", UNCLOSED_CSV),
    ),
    Case(
        "CSV input row with too few fields",
        "predict {export} --input {tmp}/x.csv",
        r"x\.csv:3: 1 fields",
        data("x.csv", "text,label\n好,pos\n差\n"),
    ),
    Case("unknown input format", "predict {export} --input {tmp}/x.xlsx", "unknown format", data("x.xlsx", "x")),
    Case(
        "JSONL input not JSON",
        "predict {export} --input {tmp}/x.jsonl",
        r"x\.jsonl:1: invalid JSON",
        data("x.jsonl", "{nope\n"),
    ),
    Case(
        "output under a file",
        "predict {export} 好 --output {tmp}/f/p.jsonl",
        "is a file, not a directory",
        write("f", "x"),
    ),
    Case("output exists", "predict {export} 好 --output {tmp}/p.jsonl", "already exists", write("p.jsonl", "{}\n")),
    Case(
        "output is the input",
        "predict {export} --input {tmp}/x.txt --output {tmp}/x.txt --overwrite",
        "would replace the input",
        data("x.txt", "好\n"),
    ),
    Case(
        "output is a folder",
        "predict {export} 好 --output {tmp}/d --overwrite",
        "is a directory; name a file",
        folder("d"),
    ),
    Case("no such export", "predict {tmp}/missing 好", "no such export directory"),
    Case(
        "manifest field of the wrong type",
        "predict {tmp}/e 好",
        "max_length must be an integer",
        copy("export", "e", edit_json("zhcls.json", lambda r: r.update(max_length="32"))),
    ),
    Case(
        "manifest labels not a list",
        "predict {tmp}/e 好",
        "labels",
        copy("export", "e", edit_json("zhcls.json", lambda r: r.update(labels="neg,pos"))),
    ),
    Case(
        "manifest not JSON",
        "predict {tmp}/e 好",
        "not valid JSON",
        copy("export", "e", overwrite_file("zhcls.json", b"{nope")),
    ),
    Case(
        "truncated ONNX model",
        "predict {tmp}/e 好",
        "cannot load the ONNX model",
        copy("export", "e", overwrite_file("model.onnx", b"\x08\x07")),
    ),
    Case("missing ONNX model", "predict {tmp}/e 好", "missing model file", copy("export", "e", remove("model.onnx"))),
    Case(
        "tokenizer without its unknown token",
        "predict {tmp}/e 好",
        r"unknown token \[UNK\] is not in",
        copy("export", "e", edit_json("tokenizer.json", _no_unknown_token)),
    ),
    Case(
        "tokenizer without special tokens",
        "predict {tmp}/e 好",
        "no special token with id",
        copy("export", "e", edit_json("tokenizer.json", _no_special_tokens)),
    ),
    Case("unknown truncation", "predict {export} 好 --truncation middle", "--truncation"),
    # zhcls serve (every case must fail before it listens)
    Case("port 70000", "serve {export} --port 70000", "--port must be from 0 to 65535"),
    Case("port -1", "serve {export} --port -1", "--port must be from 0 to 65535"),
    Case("max batch 0", "serve {export} --max-batch 0", "--max-batch must be positive"),
    Case("max texts 0", "serve {export} --max-texts 0", "--max-texts must be positive"),
    Case("max request bytes 0", "serve {export} --max-request-bytes 0", "--max-request-bytes must be positive"),
    Case("max connections 0", "serve {export} --max-connections 0", "--max-connections must be positive"),
    Case("read timeout 0", "serve {export} --read-timeout 0", "--read-timeout must be positive"),
    Case("read timeout inf", "serve {export} --read-timeout inf", "not a finite number"),
    Case("negative drain", "serve {export} --drain -1", "--drain must be zero or more"),
    Case("max wait nan", "serve {export} --max-wait-ms nan", "not a finite number"),
    Case("threads 0", "serve {export} --threads 0", "--threads"),
    Case("web root without web", "serve {export} --web-root {tmp}", "--web-root goes with --web"),
    Case("web without a web layout", "serve {export} --web", "has no web layout"),
    Case(
        "manifest field of the wrong type",
        "serve {tmp}/e",
        "max_length must be an integer",
        copy("export", "e", edit_json("zhcls.json", lambda r: r.update(max_length="32"))),
    ),
    # zhcls bench
    Case(
        "report under a file",
        "bench {export} --data {data} --report {tmp}/f/r",
        "is a file, not a directory",
        write("f", "x"),
    ),
    Case(
        "report onto a file",
        "bench {export} --data {data} --report {tmp}/f --overwrite",
        "is a file; name a folder",
        write("f", "x"),
    ),
    Case("report exists", "bench {export} --data {data} --report {tmp}/r", "already exists", folder("r")),
    Case(
        "batch-32 batches 0", "bench {export} --data {data} --report {tmp}/r --batch32-batches 0", "--batch32-batches"
    ),
    Case("batch-1 texts 0", "bench {export} --data {data} --report {tmp}/r --batch1-texts 0", "--batch1-texts"),
    Case("fixed calls 0", "bench {export} --data {data} --report {tmp}/r --fixed-calls 0", "--fixed-calls"),
    Case("fixed length 0", "bench {export} --data {data} --report {tmp}/r --fixed-lengths 0", "--fixed-lengths"),
    Case(
        "fixed lengths not numbers",
        "bench {export} --data {data} --report {tmp}/r --fixed-lengths a,b",
        "--fixed-lengths",
    ),
    Case("threads 0", "bench {export} --data {data} --report {tmp}/r --threads 0", "--threads"),
    Case("negative seed", "bench {export} --data {data} --report {tmp}/r --seed -1", "--seed"),
    Case("no such contender", "bench {tmp}/missing --data {data} --report {tmp}/r", "does not exist"),
    Case(
        "contender folder that is nothing",
        "bench {tmp}/empty --data {data} --report {tmp}/r",
        "not an export, model or baseline directory",
        folder("empty"),
    ),
    Case(
        "onnx contender that is not an export", "bench onnx:{model} --data {data} --report {tmp}/r", "has no zhcls.json"
    ),
    Case("two contenders with one label", "bench a={export} a={model} --data {data} --report {tmp}/r", "share a label"),
    Case(
        "no contender can run",
        "bench torch:{tmp}/m --data {data} --report {tmp}/r --threads 1",
        r"no contender could run, so nothing was timed \(m \(PyTorch fp32\): .*not a whole safetensors file",
        copy("model", "m", truncate_weights),
    ),
    # zhcls demo, prune-vocab, and the group
    Case("demo minutes 0", "demo --minutes 0 --output {tmp}/demo", "--minutes must be positive"),
    Case("demo minutes nan", "demo --minutes nan --output {tmp}/demo", "not a finite number"),
    Case("demo output under a file", "demo --output {tmp}/f/demo", "is a file, not a directory", write("f", "x")),
    Case("demo threads 0", "demo --threads 0 --output {tmp}/demo", "--threads"),
    Case(
        "prune-vocab output exists",
        "prune-vocab {encoder} --corpus {data} --output {tmp}/out",
        "already exists; remove it or choose another --output",
        folder("out"),
    ),
    Case(
        "prune-vocab keep-top -1", "prune-vocab {encoder} --corpus {data} --output {tmp}/o --keep-top -1", "--keep-top"
    ),
    Case("prune-vocab layers 0", "prune-vocab {encoder} --corpus {data} --output {tmp}/o --layers 0", "--layers"),
    Case("unknown command", "fit --data {data}", "No such command"),
]


def verbs() -> list[str]:
    """The commands the corpus covers, in its order."""
    return list(dict.fromkeys(case.verb for case in CASES))


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folders` (hidden ones too) with its size and modification time."""
    seen = {}
    for root in folders:
        paths = [root] if root.is_file() else [root, *root.rglob("*")]
        for path in paths:
            stat = path.lstat()
            seen[str(path)] = (stat.st_size if path.is_file() else -1, stat.st_mtime_ns)
    return seen


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that state an error."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def verdict(case: Case, code: int, stderr: str, before: dict, after: dict) -> str | None:
    """What is wrong with how a case was refused, or None when it was refused cleanly."""
    import re

    errors = error_lines(stderr)
    if "Traceback" in stderr:
        return "traceback"
    if code != 2:
        return f"exit code {code}"
    if len(errors) != 1:
        return f"{len(errors)} error lines"
    if not re.search(case.expect, errors[0]):
        return f"error line does not match {case.expect!r}: {errors[0]}"
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        return f"disk changed: {changed[:3]}"
    return None
