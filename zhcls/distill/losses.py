"""Distillation losses as small pure functions, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher ‖ student) of temperature-softened distributions, scaled by T² (Hinton et al.)."""
    t = temperature
    log_student = F.log_softmax(student_logits.float() / t, dim=-1)
    log_teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * t * t


def hard_ce(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with gold labels; label -1 (unlabeled or augmented text) is ignored."""
    if not (labels >= 0).any():
        return student_logits.sum() * 0.0
    return F.cross_entropy(student_logits.float(), labels, ignore_index=-1)


def _masked_mean(squared: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(squared.dtype)
    while weights.ndim < squared.ndim:
        weights = weights.unsqueeze(-1)
    weights = weights.expand_as(squared)
    return (squared * weights).sum() / weights.sum().clamp_min(1.0)


def hidden_mse(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, projection: torch.nn.Module | None = None
) -> torch.Tensor:
    """MSE of hidden states (batch, seq, width) over real tokens, the student projected to the teacher's width."""
    projected = projection(student) if projection is not None else student
    return _masked_mean((projected.float() - teacher.float()) ** 2, mask)


def attention_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE of attention maps (batch, heads, seq, seq) over real query and key positions.

    Hugging Face models expose attention after softmax, so these are probabilities, not TinyBERT's raw
    scores. When head counts differ, each side is averaged over its heads first.
    """
    if student.shape[1] != teacher.shape[1]:
        student, teacher = student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)
    pair_mask = mask[:, None, :, None] * mask[:, None, None, :]
    return _masked_mean((student.float() - teacher.float()) ** 2, pair_mask.expand(-1, student.shape[1], -1, -1))


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "soft_kl": soft_kl,
    "hard_ce": hard_ce,
    "hidden_mse": hidden_mse,
    "attention_mse": attention_mse,
}
