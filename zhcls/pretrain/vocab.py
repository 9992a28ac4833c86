"""Train a BERT-Chinese-style WordPiece vocabulary with the `tokenizers` library (`zhcls vocab`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from zhcls.errors import UserError

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_vocab(texts: Iterable[str], vocab_size: int, output: str | Path, *, min_frequency: int = 2) -> Path:
    """Every CJK character its own token, word pieces for Latin and digits, NFKC (full/half width) folded."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from zhcls.atomic import replace_dir

    if vocab_size < len(SPECIAL_TOKENS) + 10:
        raise UserError(f"--vocab-size {vocab_size} is too small")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    # The generic fast class keeps tokenizer.json as written (NFKC folding included); transformers 5
    # rebuilds a BertTokenizer's pipeline from vocab.txt and would drop the normalizer.
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    output = Path(output)
    staged = output.parent / f".{output.name}.partial"
    staged.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(staged)
    vocab = tokenizer.get_vocab()
    (staged / "vocab.txt").write_text("".join(t + "\n" for t in sorted(vocab, key=vocab.get)), encoding="utf-8")
    replace_dir(staged, output)
    log.info("wrote %s (%d tokens)", output, tokenizer.get_vocab_size())
    return output
