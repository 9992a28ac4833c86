"""Classic baselines every neural model must beat: TF-IDF + logistic regression, and fastText (`zhcls baseline`).

Each fits on the training split, chooses its settings on dev, is scored on dev and test, and saves a directory
(the model beside metrics.json) that `zhcls bench` times and `zhcls distill --extra-teacher` learns from.
"""

from __future__ import annotations

from pathlib import Path

from zhcls.data import DatasetSplits
from zhcls.errors import require

KINDS = ("tfidf", "fasttext")


def fit_baseline(
    kind: str,
    splits: DatasetSplits,
    output: Path | None = None,
    *,
    autotune_seconds: int = 120,
    max_size: str | None = None,
) -> dict:
    """Fit the `kind` baseline (fastText: `autotune_seconds`, `max_size`); its metrics, saved in `output` if given."""
    if kind == "fasttext":
        from zhcls.baselines.fasttext import run_fasttext

        require("fasttext", "bench")
        return run_fasttext(splits, output, autotune_seconds=autotune_seconds, max_size=max_size)
    from zhcls.baselines.tfidf import run_baseline

    return run_baseline(splits, output)


def summary(metrics: dict) -> str:
    """The test scores of a fitted baseline, titled with what dev chose."""
    from zhcls.evaluation import format_metrics

    data = metrics["data"]["data"]
    if "kept" in metrics:  # fastText: autotune or the tutorial recipe
        title = f"fastText baseline on {data} (test; {metrics['kept']}: {metrics['hyperparameters']})"
    else:
        title = f"TF-IDF baseline on {data} (test, C={metrics['c']})"
    return format_metrics(metrics["test"], title=title)
