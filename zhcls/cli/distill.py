"""`zhcls distill`: a fine-tuned teacher distilled into a small student."""

from __future__ import annotations

import click

from zhcls.cli.app import cli
from zhcls.cli.options import (
    NUMBER,
    check_outputs,
    data_options,
    data_spec,
    loop_options,
    loop_settings,
    run_flags,
    truncation_option,
)
from zhcls.errors import require

WEIGHT_FLAGS = {
    "soft": "soft_weight",
    "hard": "hard_weight",
    "embedding": "embedding_weight",
    "hidden": "hidden_weight",
    "attention": "attention_weight",
}


@cli.command()
@click.option("--teacher", required=True, help="The fine-tuned teacher directory (zhcls train output).")
@click.option("--student", default="3x256", help="A preset (tinybert, 3x256, 2x128, ...) or a model directory.")
@click.option(
    "--student-tokenizer",
    default=None,
    help="The student's own tokenizer directory (e.g. from zhcls vocab); default: a student directory's own, "
    "else the teacher's. Soft labels are the teacher's reading of each text.",
)
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
@click.option("--temperature", default=1.0, type=NUMBER, help="Softmax temperature of the soft-label loss.")
@click.option("--soft-weight", default=1.0, type=NUMBER, help="Soft-label KL (scaled by T²).")
@click.option("--hard-weight", default=0.0, type=NUMBER, help="Hard-label cross-entropy on gold labels.")
@click.option("--embedding-weight", default=0.0, type=NUMBER, help="Embedding-output MSE.")
@click.option("--hidden-weight", default=0.0, type=NUMBER, help="Hidden-state MSE over the layer map.")
@click.option("--attention-weight", default=0.0, type=NUMBER, help="Attention-map MSE over the layer map.")
@click.option("--layer-map", default="uniform", help="'uniform' or student:teacher pairs such as 1:2,2:4.")
@click.option("--intermediate-epochs", default=3, type=int, help="Epochs of the first stage of two-stage.")
@click.option("--unlabeled", default=None, help="In-domain unlabeled texts (.txt lines or a data file).")
@click.option("--augment", default=0, type=int, help="Augmented copies per training text (0: none).")
@click.option("--augment-mlm", default=None, help="Masked-language model that proposes replacement words.")
@click.option("--augment-prob", default=0.4, type=NUMBER, help="Chance that a word is replaced.")
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
    type=NUMBER,
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
    check_outputs(output="dir")
    require("torch", "train")
    from zhcls.distill.augment import AugmentSettings
    from zhcls.distill.config import DistillConfig, LossWeights
    from zhcls.distill.run import distill, summary
    from zhcls.distill.students import parse_layers
    from zhcls.train.evaluate import recorded_data

    spec = data_spec(kwargs, fallback=recorded_data(kwargs["teacher"]))
    loop, flags = loop_settings(kwargs), run_flags(kwargs)
    weights = LossWeights(**{term: kwargs.pop(flag) for term, flag in WEIGHT_FLAGS.items()})
    copies, prob = kwargs.pop("augment"), kwargs.pop("augment_prob")
    augment = AugmentSettings(copies, replace_prob=prob, seed=loop.seed) if copies else None
    layers = kwargs.pop("init_from_teacher")
    layers = tuple(parse_layers(layers)) if layers else None
    config = DistillConfig(data=spec, loop=loop, weights=weights, augment=augment, init_from_teacher=layers, **kwargs)
    metrics = distill(config, **flags)
    if metrics:
        click.echo(summary(config.output, metrics))
