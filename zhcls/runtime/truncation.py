"""Which tokens of a long text a classifier sees: one rule for training, evaluation, export and the runtime.

Reviews put their verdict at either end ("总的来说…" closes many), so cutting only the tail can hide it;
`head+tail` keeps both ends (Sun et al., 2019, "How to Fine-Tune BERT for Text Classification?").
"""

from __future__ import annotations

from zhcls.errors import UserError

TRUNCATION = ("head", "tail", "head+tail")
# How every stage reads a text unless told otherwise: a window of 128 tokens, the head of a longer text kept.
DEFAULT_MAX_LENGTH = 128
DEFAULT_TRUNCATION = "head"
# A token covers at least one character; cutting far beyond max_length characters first keeps a 1 MB
# string as cheap as a long review without changing which tokens are kept for real text.
CHARS_PER_TOKEN_BOUND = 32


class TruncationError(UserError, ValueError):
    """A policy not in TRUNCATION: a user's error to the CLI, a ValueError to a library caller."""


def check_truncation(policy: str) -> str:
    """`policy` itself, if it is one of TRUNCATION."""
    if policy not in TRUNCATION:
        raise TruncationError(f"truncation '{policy}' must be one of {', '.join(TRUNCATION)}")
    return policy


def clip_text(text: str, max_length: int, policy: str) -> str:
    """`text`, or the ends of it a `max_length`-token window can possibly use."""
    bound = max_length * CHARS_PER_TOKEN_BOUND
    if len(text) <= 2 * bound:
        return text
    return {"head": text[:bound], "tail": text[-bound:], "head+tail": text[:bound] + text[-bound:]}[policy]


def cut_ids(ids: list[int], budget: int, policy: str) -> list[int]:
    """At most `budget` token ids: the first, the last, or the first half and the last half of them."""
    if len(ids) <= budget:
        return ids
    if policy == "head":
        return ids[:budget]
    if policy == "tail":
        return ids[len(ids) - budget :]
    head = budget // 2
    return ids[:head] + ids[len(ids) - (budget - head) :]
