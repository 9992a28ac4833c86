"""`zhcls eval`: a model directory's scores on a data split, by default the data it was trained on."""

from __future__ import annotations

from pathlib import Path

from zhcls.data import DataSpec, load_splits
from zhcls.errors import UserError
from zhcls.evaluation import evaluate_classifier


def recorded_data(model_dir: str | Path, *, must_exist: bool = False) -> DataSpec | None:
    """The data a model directory was trained or distilled on, as its config records it (None without a record;
    with `must_exist`, a missing directory is an error)."""
    from zhcls.models import recorded_config

    if must_exist and not Path(model_dir).is_dir():
        raise UserError(f"{model_dir}: no such model directory")
    record = (recorded_config(model_dir) or {}).get("data")
    return DataSpec.from_dict(record) if record else None


def evaluate_model(
    model_dir: Path, data: DataSpec, split: str = "test", max_length: int | None = None, batch_size: int = 64
) -> dict:
    """Accuracy, macro-F1, per-class scores and the confusion matrix of a model directory on one split of `data`,
    each text read as in training (`max_length` overrides its window)."""
    from zhcls.models import InputSettings, load_classifier, load_tokenizer, model_labels

    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: no such model directory")
    splits = load_splits(data)
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
    return {**metrics, "data": splits.info, "split": split}


def summary(model_dir: Path, metrics: dict) -> str:
    """The scores as a table, titled with the model, the data and the split."""
    from zhcls.evaluation import format_metrics

    return format_metrics(metrics, title=f"{model_dir} on {metrics['data']['data']} ({metrics['split']})")
