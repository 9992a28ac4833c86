"""TF-IDF (character n-grams + jieba words) with logistic regression: the floor every neural model must beat."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zhcls.data import DatasetSplits
from zhcls.data.words import words_without_space
from zhcls.errors import UserError, require

log = logging.getLogger(__name__)

# Vectorizer settings by feature family; `tokenizer` for words is attached at build time (jieba).
FEATURES: dict[str, dict] = {
    "char": {"analyzer": "char", "ngram_range": (1, 3), "sublinear_tf": True, "min_df": 2, "max_features": 300_000},
    "word": {
        "analyzer": "word",
        "ngram_range": (1, 2),
        "sublinear_tf": True,
        "min_df": 2,
        "max_features": 300_000,
        "token_pattern": None,
        "lowercase": True,
    },
}
C_GRID = (1.0, 4.0, 16.0)


def _vectorizer(family: str, vocabulary: dict[str, int] | None = None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    params = dict(FEATURES[family])
    if family == "word":
        params["tokenizer"] = words_without_space
    return TfidfVectorizer(vocabulary=vocabulary, **params)


def _classifier(c: float):
    """The baseline's logistic regression at regularization strength C."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000)


def _fitted_features(texts: Sequence[str]):
    """Vectorizers fit on `texts`, and the sparse TF-IDF matrix of those texts."""
    from scipy.sparse import hstack

    vectorizers = {family: _vectorizer(family) for family in FEATURES}
    return vectorizers, hstack([vec.fit_transform(texts) for vec in vectorizers.values()]).tocsr()


@dataclass
class TfidfBaseline:
    """Fitted vectorizers and a logistic-regression classifier over their concatenated features."""

    labels: list[str]
    vectorizers: dict
    classifier: object
    c: float

    def features(self, texts: Sequence[str]):
        """The sparse TF-IDF matrix of `texts`."""
        from scipy.sparse import hstack

        return hstack([vec.transform(texts) for vec in self.vectorizers.values()]).tocsr()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, columns in label order."""
        return self.classifier.predict_proba(self.features(texts))

    def predict_ids(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable label id of each text."""
        return self.classifier.predict(self.features(texts))

    @classmethod
    def fit(cls, splits: DatasetSplits, grid: Sequence[float] = C_GRID) -> tuple[TfidfBaseline, dict[float, float]]:
        """Fit on train; the regularization strength C is chosen on dev (never on test)."""
        require("sklearn", "train")
        require("jieba", "train")
        from scipy.sparse import hstack

        labels = splits.labels
        index = {label: i for i, label in enumerate(labels)}
        y_train = np.array([index[label] for label in splits.train.labels])
        y_dev = np.array([index[label] for label in splits.dev.labels])
        vectorizers, x_train = _fitted_features(splits.train.texts)
        x_dev = hstack([vec.transform(splits.dev.texts) for vec in vectorizers.values()]).tocsr()
        dev_accuracy: dict[float, float] = {}
        best = None
        for c in grid:
            clf = _classifier(c).fit(x_train, y_train)
            dev_accuracy[c] = float((clf.predict(x_dev) == y_dev).mean()) if len(y_dev) else 0.0
            if best is None or dev_accuracy[c] > dev_accuracy[best[0]]:
                best = (c, clf)
        return cls(labels, vectorizers, best[1], best[0]), dev_accuracy

    def refit(self, texts: Sequence[str], label_ids: Sequence[int]) -> TfidfBaseline:
        """The same features and C fit afresh on other training texts (`label_ids` index `self.labels`)."""
        vectorizers, x = _fitted_features(texts)
        classifier = _classifier(self.c).fit(x, np.asarray(label_ids))
        return TfidfBaseline(self.labels, vectorizers, classifier, self.c)

    def save(self, folder: Path) -> None:
        """Write `tfidf.json` (settings, vocabularies, labels) and `tfidf.safetensors` (idf, weights); no pickles."""
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"coef": self.classifier.coef_, "intercept": self.classifier.intercept_}
        meta = {"labels": self.labels, "c": self.c, "vocabularies": {}}
        for family, vec in self.vectorizers.items():
            tensors[f"idf.{family}"] = vec.idf_
            terms = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
            meta["vocabularies"][family] = terms
        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()},
            str(folder / "tfidf.safetensors"),
        )
        (folder / "tfidf.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> TfidfBaseline:
        """Rebuild a saved baseline."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        if not (folder / "tfidf.json").exists() or not (folder / "tfidf.safetensors").exists():
            raise UserError(f"{folder}: not a TF-IDF baseline directory (needs tfidf.json and tfidf.safetensors)")
        meta = json.loads((folder / "tfidf.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "tfidf.safetensors"))
        vectorizers = {}
        for family, terms in meta["vocabularies"].items():
            vec = _vectorizer(family, {term: i for i, term in enumerate(terms)})
            vec.idf_ = tensors[f"idf.{family}"]
            vectorizers[family] = vec
        clf = _classifier(meta["c"])
        clf.classes_ = np.arange(len(meta["labels"]))
        clf.coef_ = tensors["coef"]
        clf.intercept_ = tensors["intercept"]
        return cls(meta["labels"], vectorizers, clf, meta["c"])


def run_baseline(splits: DatasetSplits, output: Path | None = None) -> dict:
    """Fit the baseline, report dev and test metrics, and save it when `output` is given."""
    from zhcls.baselines.scoring import score_and_save

    started = time.perf_counter()
    baseline, dev_grid = TfidfBaseline.fit(splits)
    metrics = {
        "task": "baseline",
        "model": "tfidf-char1-3+jieba1-2-logreg",
        "c": baseline.c,
        "dev_accuracy_by_c": {str(c): acc for c, acc in dev_grid.items()},
        "fit_seconds": round(time.perf_counter() - started, 2),
    }
    return score_and_save(baseline, splits, metrics, output)
