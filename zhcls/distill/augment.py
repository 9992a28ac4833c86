"""TinyBERT-style data augmentation for Chinese: jieba words replaced by a masked-language model's candidates."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhcls.data.words import segment
from zhcls.errors import UserError

log = logging.getLogger(__name__)

_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]{1,4}$")


@dataclass(frozen=True)
class AugmentSettings:
    """How many copies per text, how often a word is replaced, and from how many candidates."""

    copies: int
    replace_prob: float = 0.4
    top_k: int = 8
    seed: int = 0
    context: int = 48  # characters of context on each side of a masked word

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

    def __init__(self, model_dir: str | Path, batch_size: int = 64):
        from transformers import AutoModelForMaskedLM

        from zhcls.models import load_tokenizer

        self.tokenizer = load_tokenizer(model_dir)
        if self.tokenizer.mask_token is None:
            raise UserError(f"--augment-mlm {model_dir}: its tokenizer has no mask token")
        try:
            self.model = AutoModelForMaskedLM.from_pretrained(str(model_dir)).eval()
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

    def __call__(self, requests: Sequence[tuple[list[str], int]], top_k: int, context: int) -> list[list[str]]:
        """For each (words, index): up to `top_k` words to put at `index`, best first, never the word itself."""
        import torch

        mask = self.tokenizer.mask_token
        prompts = []
        for words, index in requests:
            left = "".join(words[:index])[-context:]
            right = "".join(words[index + 1 :])[:context]
            prompts.append(left + mask * len(words[index]) + right)
        results: list[list[str]] = []
        with torch.inference_mode():
            for start in range(0, len(prompts), self.batch_size):
                chunk = prompts[start : start + self.batch_size]
                batch = self.tokenizer(chunk, padding=True, return_tensors="pt")
                logits = self.model(**batch).logits
                logits[..., ~self.allowed] = float("-inf")
                for row, (words, index) in enumerate(requests[start : start + len(chunk)]):
                    positions = (batch["input_ids"][row] == self.tokenizer.mask_token_id).nonzero().flatten()
                    if len(positions) != len(words[index]):
                        results.append([])
                        continue
                    ranked = logits[row, positions].topk(top_k + 1, dim=-1).indices  # (chars, k+1)
                    options = ["".join(self.id_to_token[int(i)] for i in ranked[:, r]) for r in range(top_k + 1)]
                    results.append([o for o in options if o != words[index]][:top_k])
        return results


def augment_texts(texts: Sequence[str], settings: AugmentSettings, candidates: Any) -> list[Augmented]:
    """`settings.copies` new texts per input text that has a replaceable (Chinese) word.

    Each replaceable word is replaced with probability `replace_prob` (at least one per copy) by a
    candidate the masked-language model proposes for that position; every other word is kept as is.
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
            out.append(Augmented("".join(new), number, tuple(new), tuple(replaced)))
    return out
