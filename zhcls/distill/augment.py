"""TinyBERT-style data augmentation for Chinese: jieba words replaced by a masked-language model's candidates."""

from __future__ import annotations

import itertools
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhcls.data.words import is_known_word, segment
from zhcls.errors import UserError
from zhcls.models import masked_lm_logits, weights_options
from zhcls.progress import progress

log = logging.getLogger(__name__)

_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]{1,4}$")


@dataclass(frozen=True)
class AugmentSettings:
    """How many copies per text, how often a word is replaced, and from how many candidates."""

    copies: int
    replace_prob: float = 0.4
    top_k: int = 8
    seed: int = 0
    context: int = 24  # characters of context on each side of a masked word (48 took 2.2x as long)

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise UserError("--augment must be at least 1")
        if not 0 < self.replace_prob <= 1:
            raise UserError("--augment-prob must be in (0, 1]")


@dataclass(frozen=True)
class Augmented:
    """One augmented text, the index of the text it came from, its words and which of them were replaced."""

    text: str
    source: int
    words: tuple[str, ...]
    replaced: tuple[int, ...]


class MaskedLMCandidates:
    """Replacement candidates for a word in context from a masked-language model (BERT-style, CJK characters)."""

    def __init__(self, model_dir: str | Path, batch_size: int = 64, per_char: int = 16, beam_width: int = 128):
        from transformers import AutoModelForMaskedLM

        from zhcls.models import load_tokenizer

        self.tokenizer = load_tokenizer(model_dir)
        if self.tokenizer.mask_token is None:
            raise UserError(f"--augment-mlm {model_dir}: its tokenizer has no mask token")
        try:
            self.model = AutoModelForMaskedLM.from_pretrained(str(model_dir), **weights_options(model_dir)).eval()
        except (OSError, ValueError) as exc:
            raise UserError(f"--augment-mlm {model_dir}: not a masked-language model ({exc})") from None
        import torch

        vocab = self.tokenizer.get_vocab()
        allowed = torch.zeros(len(self.tokenizer), dtype=torch.bool)
        for token, index in vocab.items():
            if len(token) == 1 and "\u4e00" <= token <= "\u9fff":
                allowed[index] = True
        self.allowed = allowed
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.batch_size = batch_size
        self.per_char = min(per_char, int(allowed.sum()))
        self.beam_width = beam_width

    def __call__(self, requests: Sequence[tuple[list[str], int]], top_k: int, context: int) -> list[list[str]]:
        """For each (words, index): up to `top_k` words to put at `index`, best first, never the word itself."""
        import torch

        mask = self.tokenizer.mask_token
        prompts = []
        for words, index in requests:
            left = "".join(words[:index])[-context:]
            right = "".join(words[index + 1 :])[:context]
            prompts.append(left + mask * len(words[index]) + right)
        # Batches of similar length waste little on padding.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[list[str]] = [[] for _ in prompts]
        with torch.inference_mode():
            batches = range(0, len(order), self.batch_size)
            for start in progress(batches, desc="augmentation candidates", unit="batch"):
                rows = order[start : start + self.batch_size]
                batch = self.tokenizer([prompts[i] for i in rows], padding=True, return_tensors="pt")
                chosen = batch["input_ids"] == self.tokenizer.mask_token_id
                logits = masked_lm_logits(self.model, dict(batch), chosen)
                logits[:, ~self.allowed] = float("-inf")
                best = logits.log_softmax(dim=-1).topk(self.per_char, dim=-1)  # (masked positions, per_char)
                counts = chosen.sum(dim=1).tolist()
                for row, scores, ids in zip(rows, best.values.split(counts), best.indices.split(counts), strict=True):
                    word = requests[row][0][requests[row][1]]
                    if len(ids) != len(word):
                        continue  # the tokenizer did not keep one [MASK] per character
                    characters = [[self.id_to_token[int(i)] for i in position] for position in ids]
                    results[row] = self._words(word, characters, scores.tolist(), top_k)
        return results

    def _words(self, word: str, characters: list[list[str]], scores: list[list[float]], top_k: int) -> list[str]:
        """The best-scoring character sequences for `word`'s slot, other than `word`.

        Characters are predicted independently per position, so a multi-character candidate is kept only
        when it is a word in jieba's dictionary: otherwise most of them are not Chinese at all.
        """
        beam = [("", 0.0)]
        for options, option_scores in zip(characters, scores, strict=True):
            extended = [
                (prefix + ch, total + s) for prefix, total in beam for ch, s in zip(options, option_scores, strict=True)
            ]
            beam = sorted(extended, key=lambda item: -item[1])[: self.beam_width]
        candidates = (text for text, _ in beam if text != word and (len(word) == 1 or is_known_word(text)))
        return list(itertools.islice(candidates, top_k))


def augment_texts(texts: Sequence[str], settings: AugmentSettings, candidates: Any) -> list[Augmented]:
    """Up to `settings.copies` new texts per input text that has a replaceable (Chinese) word.

    Each replaceable word is replaced with probability `replace_prob` (at least one per copy) by a
    candidate the masked-language model proposes for that position; every other word is kept as is.
    A copy whose chosen words have no candidate is left out.
    The result depends only on the texts, the settings and the model.
    """
    plans = []
    for number, text in enumerate(texts):
        words = segment(text)
        slots = [i for i, w in enumerate(words) if _CJK_WORD.match(w)]
        if not slots:
            continue
        rng = random.Random(f"{settings.seed}:{number}")
        chosen = []
        for _ in range(settings.copies):
            picked = [i for i in slots if rng.random() < settings.replace_prob] or [rng.choice(slots)]
            chosen.append(picked)
        plans.append((number, words, chosen, rng))
    requests = sorted({(number, i) for number, _, chosen, _ in plans for picked in chosen for i in picked})
    words_of = {number: words for number, words, _, _ in plans}
    options = dict(
        zip(
            requests, candidates([(words_of[n], i) for n, i in requests], settings.top_k, settings.context), strict=True
        )
    )
    out = []
    for number, words, chosen, rng in plans:
        for picked in chosen:
            new = list(words)
            replaced = []
            for i in picked:
                if options[(number, i)]:
                    new[i] = rng.choice(options[(number, i)])
                    replaced.append(i)
            if replaced:  # a copy equal to its source adds nothing
                out.append(Augmented("".join(new), number, tuple(new), tuple(replaced)))
    return out
