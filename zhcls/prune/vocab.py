"""Vocabulary pruning: keep the word pieces a task's texts use, drop the rest from the tokenizer and the weights.

A multilingual encoder spends most of its parameters on its vocabulary (multilingual-e5-small: 96 M of 118 M
in a 250k × 384 embedding table), while Chinese reviews use a few tens of thousands of its pieces. Pruning
keeps the special tokens, every piece the given texts are tokenized into, and optionally the `keep_top` pieces
the tokenizer itself ranks highest, then slices the vocabulary-sized rows of the weights (the embedding table
and a masked-LM head's output layer). A text whose pieces were all kept tokenizes to the same pieces and gets
the same outputs as before. Unigram (SentencePiece) and WordPiece tokenizers are handled; BPE is not.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zhcls.errors import UserError

log = logging.getLogger(__name__)

# Weights whose rows are the vocabulary: the input embedding table and a language-model head's output layer.
VOCAB_ROWS = re.compile(r"(word_embeddings\.weight|predictions\.decoder\.(weight|bias)|predictions\.bias|lm_head\.)")


@dataclass(frozen=True)
class PruneReport:
    """What pruning kept: vocabulary sizes and parameter counts before and after."""

    vocab_before: int
    vocab_after: int
    parameters_before: int
    parameters_after: int
    pieces_seen: int
    kept_top: int
    texts: int
    tokenizer_model: str
    layers: int | None = None

    def summary(self) -> str:
        """One line for the command's output."""
        kept_layers = f"{self.layers} layers kept; " if self.layers is not None else ""
        return (
            f"{kept_layers}vocabulary {self.vocab_before:,} -> {self.vocab_after:,} pieces "
            f"({self.pieces_seen:,} seen in {self.texts:,} texts, top {self.kept_top:,} kept); "
            f"parameters {self.parameters_before / 1e6:.1f} M -> {self.parameters_after / 1e6:.1f} M"
        )


def pieces_used(tokenizer: Any, texts: Iterable[str], batch: int = 1024) -> np.ndarray:
    """How often each vocabulary id occurs when `texts` are tokenized (special tokens not added)."""
    counts = np.zeros(len(tokenizer.get_vocab()) + 1, dtype=np.int64)
    chunk: list[str] = []

    def flush() -> None:
        for encoding in tokenizer.encode_batch(chunk, add_special_tokens=False):
            np.add.at(counts, encoding.ids, 1)
        chunk.clear()

    for text in texts:
        chunk.append(text)
        if len(chunk) >= batch:
            flush()
    if chunk:
        flush()
    return counts


def kept_ids(spec: dict, counts: np.ndarray, special_ids: Iterable[int], keep_top: int) -> list[int]:
    """The ids to keep, ascending: specials, the pieces seen, and the tokenizer's own `keep_top` best."""
    model = spec["model"]
    size = len(model["vocab"])
    keep = set(special_ids) | {int(i) for i in np.flatnonzero(counts[:size])}
    if keep_top:
        if model["type"] == "Unigram":
            scores = np.array([score for _, score in model["vocab"]])
            keep |= {int(i) for i in np.argsort(-scores, kind="stable")[:keep_top]}
        else:  # WordPiece vocabularies list their pieces roughly by frequency of their training corpus
            keep |= set(range(min(keep_top, size)))
    if model["type"] == "WordPiece":
        keep.add(model["vocab"][model["unk_token"]])
    elif model.get("unk_id") is not None:
        keep.add(model["unk_id"])
    return sorted(keep)


def _remap_processor(processor: dict | None, new_id: dict[int, int]) -> None:
    """Rewrite the token ids a post-processor adds (templates, BERT / RoBERTa processors, sequences)."""
    if not processor:
        return
    kind = processor.get("type")
    if kind == "Sequence":
        for inner in processor.get("processors", []):
            _remap_processor(inner, new_id)
    elif kind == "TemplateProcessing":
        for special in processor.get("special_tokens", {}).values():
            special["ids"] = [new_id[i] for i in special["ids"]]
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            token, old = processor[key]
            processor[key] = [token, new_id[old]]


def pruned_tokenizer_spec(spec: dict, keep: list[int]) -> dict:
    """A tokenizer.json structure restricted to the `keep` ids, renumbered in their original order."""
    spec = json.loads(json.dumps(spec))
    new_id = {old: new for new, old in enumerate(keep)}
    model = spec["model"]
    if model["type"] == "Unigram":
        model["vocab"] = [model["vocab"][old] for old in keep]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    elif model["type"] == "WordPiece":
        by_id = {i: piece for piece, i in model["vocab"].items()}
        model["vocab"] = {by_id[old]: new for new, old in enumerate(keep)}
    else:
        raise UserError(f"prune-vocab handles Unigram and WordPiece tokenizers, not {model['type']}")
    spec["added_tokens"] = [
        {**token, "id": new_id[token["id"]]} for token in spec.get("added_tokens", []) if token["id"] in new_id
    ]
    _remap_processor(spec.get("post_processor"), new_id)
    return spec


def bottom_layers(state: dict[str, np.ndarray], config: dict, layers: int) -> dict[str, np.ndarray]:
    """The weights without transformer layers `layers` and above (a pooler and head stay); `config` updated.

    Of a pretrained encoder, the bottom layers are the ones to keep: dropping the top ones costs the least
    accuracy after fine-tuning (Sajjad et al., "On the Effect of Dropping Layers of Pre-trained Transformer
    Models", 2023).
    """
    depth = int(config["num_hidden_layers"])
    if layers > depth:
        raise UserError(f"--layers {layers}: the model has {depth}")
    config["num_hidden_layers"] = layers
    dropped = re.compile(r"encoder\.layer\.(\d+)\.")
    return {name: value for name, value in state.items() if not (m := dropped.search(name)) or int(m[1]) < layers}


def _model_files(source: str) -> Path:
    """A local directory holding `source`'s config and safetensors weights (a hub id is downloaded)."""
    from zhcls.models import hub_options, load_error
    from zhcls.pretrained.builtin import resolve_builtin

    resolved = resolve_builtin(source)
    if Path(resolved).is_dir():
        return Path(resolved)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(resolved, allow_patterns=["*.json", "*.safetensors"], **hub_options(resolved)))
    except Exception as exc:  # huggingface_hub's errors are many; any of them means "cannot load"
        raise load_error("model", source, exc) from None


def prune_vocabulary(
    source: str, texts: Iterable[str], output: str | Path, keep_top: int = 0, layers: int | None = None
) -> PruneReport:
    """Write `output`: the model at `source` (directory, hub id or built-in name) with only the pieces `texts`
    use (plus the `keep_top` best of the tokenizer's own), its config, weights and tokenizer rewritten; with
    `layers`, only its bottom `layers` transformer layers kept as well."""
    from safetensors.numpy import load_file, save_file
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from zhcls.atomic import check_output, replace_dir
    from zhcls.models import load_tokenizer, save_tokenizer

    if keep_top < 0:
        raise UserError("--keep-top must be 0 or more")
    if layers is not None and layers < 1:
        raise UserError("--layers must be at least 1")
    output = check_output(output, overwrite=None, inputs=(source,))
    folder = _model_files(source)
    weights = sorted(folder.glob("*.safetensors"))
    if len(weights) != 1:
        raise UserError(f"{source}: prune-vocab needs one model.safetensors file, found {len(weights)}")
    tokenizer = load_tokenizer(str(folder))
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec["model"]["type"] not in ("Unigram", "WordPiece"):
        raise UserError(f"prune-vocab handles Unigram and WordPiece tokenizers, not {spec['model']['type']}")

    text_count = 0

    def counted(items: Iterable[str]) -> Iterable[str]:
        nonlocal text_count
        for text in items:
            text_count += 1
            yield text

    counts = pieces_used(tokenizer.backend_tokenizer, counted(texts))
    if text_count == 0:
        raise UserError("prune-vocab got no texts: give --data or --corpus with some text")
    keep = kept_ids(spec, counts, tokenizer.all_special_ids, keep_top)
    new_spec = pruned_tokenizer_spec(spec, keep)

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    vocab_rows = int(config["vocab_size"])
    if keep[-1] >= vocab_rows:
        raise UserError(f"{source}: its tokenizer has ids past the model's vocab_size {vocab_rows}")
    state = load_file(str(weights[0]))
    before = sum(v.size for v in state.values())
    index = np.asarray(keep)
    for name, value in state.items():
        if VOCAB_ROWS.search(name) and value.shape[0] == vocab_rows:
            state[name] = np.ascontiguousarray(value[index])
    if layers is not None:
        state = bottom_layers(state, config, layers)
    new_id = {old: new for new, old in enumerate(keep)}
    config["vocab_size"] = len(keep)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id"):
        if config.get(key) is not None:
            config[key] = new_id.get(config[key])

    staged = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    save_file(state, str(staged / "model.safetensors"), metadata={"format": "pt"})
    (staged / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for extra in ("train_config.json", "distill_config.json"):
        if (folder / extra).exists():
            (staged / extra).write_bytes((folder / extra).read_bytes())
    fast = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(new_spec)),
        **tokenizer.special_tokens_map,
        model_max_length=tokenizer.model_max_length,
    )
    save_tokenizer(fast, staged)
    report = PruneReport(
        vocab_before=len(spec["model"]["vocab"]),
        vocab_after=len(keep),
        parameters_before=int(before),
        parameters_after=int(sum(v.size for v in state.values())),
        pieces_seen=int(np.count_nonzero(counts)),
        kept_top=keep_top,
        texts=text_count,
        tokenizer_model=spec["model"]["type"],
        layers=config["num_hidden_layers"] if layers is not None else None,
    )
    (staged / "prune_vocab.json").write_text(
        json.dumps({"source": str(source), **asdict(report)}, indent=2) + "\n", encoding="utf-8"
    )
    replace_dir(staged, output)
    log.info("%s", report.summary())
    return report
