"""Model shapes, loading and batched inference shared by the torch stages (train, pretrain, distill, export)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import getproxies

import numpy as np

from zhcls.errors import UserError, require
from zhcls.heads import MEAN_MODEL_TYPE, pooling_of, register_heads, with_pooling
from zhcls.pretrained.builtin import resolve_builtin
from zhcls.runtime.truncation import DEFAULT_MAX_LENGTH, DEFAULT_TRUNCATION, check_truncation, clip_text, cut_ids

log = logging.getLogger(__name__)

# Encoder shapes by name: layers × hidden, with heads and feed-forward width to match.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512},
    "mini": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    "small": {"num_hidden_layers": 4, "hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 2048},
    "medium": {"num_hidden_layers": 8, "hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 2048},
    "base": {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
    "tinybert": {"num_hidden_layers": 4, "hidden_size": 312, "num_attention_heads": 12, "intermediate_size": 1200},
    "3x256": {"num_hidden_layers": 3, "hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    "2x128": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512},
}


def _torch_extra() -> None:
    require("torch", "train")
    require("transformers", "train")
    register_heads()


def unreachable_hub(name: str | Path) -> str | None:
    """The hub's host name when `name` is no local path and that host does not resolve (no network), else None.
    Behind a proxy the proxy resolves it, so nothing is looked up here."""
    if Path(name).exists() or {"https", "all"} & set(getproxies()):
        return None
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or constants.ENDPOINT  # HF_ENDPOINT (a mirror) included
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return host
    return None


def hub_options(name: str | Path) -> dict:
    """Extra `from_pretrained` options for `name`: a hub id while the hub cannot be reached is looked up in the
    local cache only, at once; huggingface_hub would first retry the connection for about a minute."""
    return {"local_files_only": True} if unreachable_hub(name) else {}


def first_line(exc: Exception) -> str:
    """An exception's message in one line (its first), or its type's name without one."""
    message = str(exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


def check_weights(folder: str | Path) -> None:
    """A model directory's weights must be safetensors files, each whole: a pickled .bin alone is refused with the
    command that converts it, a truncated or corrupt file named in one line."""
    folder = Path(folder)
    weights = sorted(folder.glob("*.safetensors"))
    pickled = sorted(folder.glob("*.bin"))
    if not weights and pickled:
        bin_path, converted = folder / pickled[0].name, folder / "model.safetensors"
        raise UserError(
            f"{folder} holds {pickled[0].name} but no .safetensors weights, and zhcls loads safetensors only (a .bin "
            'is a pickle, which can run code); if you trust it, convert it: python -c "import torch; from '
            "safetensors.torch import save_file; save_file({k: v.clone().contiguous() for k, v in "
            f"torch.load('{bin_path}', weights_only=True).items()}}, '{converted}', metadata={{'format': 'pt'}})\""
        )
    from safetensors import safe_open

    for path in weights:
        try:
            with safe_open(str(path), "np"):  # reads the header and checks it covers the whole file
                pass
        except Exception as exc:  # safetensors raises its own error type for a damaged file
            raise UserError(
                f"{path}: not a whole safetensors file ({first_line(exc)}); copy or save it again"
            ) from None


def weights_options(name: str | Path) -> dict:
    """`from_pretrained` options for a model's weights: `hub_options`, and for a local directory, its weights checked
    and safetensors required."""
    if Path(name).is_dir():
        check_weights(name)
        return {**hub_options(name), "use_safetensors": True}
    return hub_options(name)


def load_error(kind: str, name: str, exc: Exception) -> UserError:
    """The one-line error for a `kind` ("model", "tokenizer") that `name` does not load."""
    reason = first_line(exc)
    if Path(name).exists():
        hint = ""
    elif host := unreachable_hub(name):
        hint = f" (not a local directory, and {host} cannot be reached: only the local hub cache was searched)"
    else:
        hint = " (not a local directory; a hub id needs internet access)"
    return UserError(f"cannot load {kind} '{name}'{hint}: {reason}")


def load_tokenizer(name_or_dir: str | Path) -> Any:
    """A fast tokenizer from a hub id or a directory."""
    _torch_extra()
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    name_or_dir = resolve_builtin(str(name_or_dir))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_dir), **hub_options(name_or_dir))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        if not (Path(name_or_dir) / "tokenizer.json").exists():
            raise load_error("tokenizer", str(name_or_dir), exc) from None
        # A tokenizer class this transformers version does not know (transformers 5 writes
        # "TokenizersBackend"): tokenizer.json alone holds the whole pipeline.
        tokenizer = _quietly(PreTrainedTokenizerFast.from_pretrained, str(name_or_dir))
    if not tokenizer.is_fast:
        raise UserError(f"tokenizer '{name_or_dir}' has no tokenizer.json (fast tokenizer); zhcls needs one")
    missing = [name for name in ("cls_token", "sep_token") if getattr(tokenizer, f"{name}_id") is None]
    if missing:
        raise UserError(
            f"tokenizer '{name_or_dir}' has no {' or '.join(missing)} (the special tokens put around every text); "
            "set them in its tokenizer_config.json / special_tokens_map.json"
        )
    return tokenizer


def save_tokenizer(tokenizer: Any, folder: str | Path) -> None:
    """Save a fast tokenizer so that transformers 4.x and 5.x both load it (the generic fast class)."""
    import json

    tokenizer.save_pretrained(str(folder))
    config_path = Path(folder) / "tokenizer_config.json"
    record = json.loads(config_path.read_text(encoding="utf-8"))
    if record.get("tokenizer_class") == "TokenizersBackend":
        record["tokenizer_class"] = "PreTrainedTokenizerFast"
        config_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _quietly(load: Any, *args: Any) -> Any:
    """Call a transformers loader without its class-mismatch warning (expected on the fallback path)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return load(*args)
    finally:
        hf_logging.set_verbosity(level)


def preset_config(preset: str, vocab_size: int, **overrides: Any) -> Any:
    """A BertConfig of a named shape with pretraining-friendly defaults."""
    _torch_extra()
    from transformers import BertConfig

    if preset not in PRESETS:
        raise UserError(f"unknown preset '{preset}', choose one of {', '.join(PRESETS)}")
    return BertConfig(vocab_size=vocab_size, max_position_embeddings=512, **{**PRESETS[preset], **overrides})


def weights_sha256(model_dir: str | Path) -> str:
    """Hex sha256 of a model directory's (first) safetensors file: the identity of its weights, "" without one."""
    from zhcls.data.registry import sha256_of

    weights = sorted(Path(model_dir).glob("*.safetensors"))
    return sha256_of(weights[0]) if weights else ""


def masked_lm_logits(model: Any, inputs: dict, chosen: Any) -> Any:
    """A masked-language model's vocabulary logits at the `chosen` positions (a boolean mask) only.

    BERT-family models (a `.cls` head over a `.bert` encoder) run the head on those positions alone:
    with a 10k vocabulary that head costs about as much as a small encoder, per position.
    """
    if hasattr(model, "bert") and hasattr(model, "cls"):
        return model.cls(model.bert(**inputs).last_hidden_state[chosen])
    return model(**inputs).logits[chosen]


def label_maps(labels: Sequence[str]) -> dict[str, dict]:
    """`id2label` / `label2id` for a model config."""
    return {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


def build_classifier(
    labels: Sequence[str],
    *,
    model: str | None = None,
    preset: str | None = None,
    vocab_size: int | None = None,
    pooling: str | None = None,
) -> Any:
    """A sequence classifier: pretrained from `model` (hub id or dir) or randomly initialized from `preset`, with
    BERT's first-token head (`pooling="cls"`), the mean of the encoder's outputs (`"mean"`, BERT encoders), or
    (None) the head the checkpoint has."""
    _torch_extra()
    from transformers import AutoConfig, AutoModelForSequenceClassification

    maps = label_maps(labels)
    if preset is not None:
        config = with_pooling(preset_config(preset, vocab_size or 0, num_labels=len(labels), **maps), pooling or "cls")
        return AutoModelForSequenceClassification.from_config(config)
    model = resolve_builtin(str(model))
    try:
        config = AutoConfig.from_pretrained(model, **hub_options(model))
        if pooling is not None and pooling != pooling_of(config):
            if config.model_type not in ("bert", MEAN_MODEL_TYPE):
                raise UserError(f"--pooling {pooling} needs a BERT encoder; '{model}' is a {config.model_type} model")
            config = with_pooling(config, pooling)
        config.num_labels = len(labels)
        config.id2label, config.label2id = maps["id2label"], maps["label2id"]
        # A checkpoint fine-tuned on other labels brings a head of another size: start that head afresh.
        return AutoModelForSequenceClassification.from_pretrained(
            model, config=config, ignore_mismatched_sizes=True, **weights_options(model)
        )
    except (OSError, ValueError) as exc:
        raise load_error("model", str(model), exc) from None


def load_classifier(model_dir: str | Path, attn_implementation: str | None = None) -> Any:
    """A trained sequence classifier in eval mode; `attn_implementation="eager"` when attention maps are needed."""
    _torch_extra()
    from transformers import AutoModelForSequenceClassification

    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), **extra, **weights_options(model_dir)
        )
    except (OSError, ValueError) as exc:
        raise load_error("model", str(model_dir), exc) from None
    return model.eval()


def model_labels(model: Any) -> list[str]:
    """The label names of a classifier, in id order."""
    id2label = model.config.id2label
    return [id2label[i] for i in range(len(id2label))]


@dataclass(frozen=True)
class InputSettings:
    """How a model's texts become token ids: the window and which tokens of a longer text it keeps."""

    max_length: int = DEFAULT_MAX_LENGTH
    truncation: str = DEFAULT_TRUNCATION

    def __post_init__(self) -> None:
        check_truncation(self.truncation)

    @classmethod
    def from_config(cls, record: dict | None, max_length: int | None = None) -> InputSettings:
        """The settings a train/distill config records (the defaults without one); `max_length` overrides."""
        record = record or {}
        return cls(
            max_length or int(record.get("max_length", DEFAULT_MAX_LENGTH)),
            record.get("truncation", DEFAULT_TRUNCATION),
        )

    @classmethod
    def recorded(cls, model_dir: str | Path, max_length: int | None = None) -> InputSettings:
        """The settings a model directory was trained or distilled with; `max_length` overrides."""
        return cls.from_config(recorded_config(model_dir), max_length)


def recorded_config(model_dir: str | Path) -> dict | None:
    """The train_config.json or distill_config.json a model directory was made with, if any."""
    for name in ("train_config.json", "distill_config.json"):
        path = Path(model_dir) / name
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def encode_texts(tokenizer: Any, texts: Sequence[str], inputs: InputSettings) -> list[list[int]]:
    """[CLS] ids [SEP] of each text, cut to the window by the same rule as `zhcls.runtime`."""
    clipped = [clip_text(text, inputs.max_length, inputs.truncation) for text in texts]
    # Whole texts are tokenized on purpose and cut below: no "longer than the maximum length" warning.
    pieces = tokenizer(clipped, add_special_tokens=False, verbose=False)["input_ids"]
    budget = inputs.max_length - 2
    return [
        [tokenizer.cls_token_id, *cut_ids(ids, budget, inputs.truncation), tokenizer.sep_token_id] for ids in pieces
    ]


def pad_batch(tokenizer: Any, encoded: Sequence[list[int]], length: int | None = None) -> dict:
    """input_ids and attention_mask tensors, padded to the longest row (the collator training uses) or to
    `length` when given."""
    from transformers import DataCollatorWithPadding

    padding = {"padding": "max_length", "max_length": length} if length else {}
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt", **padding)
    return dict(collate([{"input_ids": ids} for ids in encoded]))


def classify_logits(
    model: Any, tokenizer: Any, texts: Sequence[str], *, inputs: InputSettings | None = None, batch_size: int = 64
) -> np.ndarray:
    """Logits for `texts` in their original order; batches are grouped by length to pad little."""
    import torch

    texts = list(texts)
    inputs = inputs or InputSettings()
    # Character count orders Chinese text almost exactly as token count does, without tokenizing twice.
    order = np.argsort([len(text) for text in texts], kind="stable")
    device = next(model.parameters()).device
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = pad_batch(tokenizer, encode_texts(tokenizer, [texts[i] for i in chunk], inputs))
            batch = {k: v.to(device) for k, v in batch.items()}
            out[chunk] = model(**batch).logits.float().cpu().numpy()
    model.train(was_training)
    return out
