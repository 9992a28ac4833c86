"""Each distillation loss is zero when the student matches the teacher, positive otherwise, and trains."""

from __future__ import annotations

import pytest
import torch

from zhcls.distill.losses import attention_mse, hard_ce, hidden_mse, soft_kl


def test_soft_kl_zero_on_equal_logits_and_scaled_by_t_squared():
    torch.manual_seed(0)
    teacher = torch.randn(4, 3)
    assert soft_kl(teacher.clone(), teacher, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(4, 3)
    assert soft_kl(student, teacher, 1.0).item() > 0
    # T² scaling keeps the gradient scale comparable: at high T the loss tends to ‖Δlogit‖²/(2·classes) per row
    high_t = soft_kl(student, teacher, 100.0).item()
    centred = (student - student.mean(-1, keepdim=True)) - (teacher - teacher.mean(-1, keepdim=True))
    assert high_t == pytest.approx((centred**2).sum(-1).mean().item() / (2 * 3), rel=0.02)


def test_hard_ce_ignores_unlabeled_rows():
    logits = torch.tensor([[5.0, -5.0], [0.0, 0.0]], requires_grad=True)
    only_first = hard_ce(logits, torch.tensor([0, -1]))
    assert only_first.item() == pytest.approx(torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0])).item())
    none = hard_ce(logits, torch.tensor([-1, -1]))
    assert none.item() == 0.0
    none.backward()  # still part of the graph


def test_hidden_mse_masks_padding_and_trains_the_projection():
    torch.manual_seed(0)
    teacher = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert hidden_mse(teacher.clone(), teacher, mask).item() == 0.0
    garbage_in_padding = teacher.clone()
    garbage_in_padding[0, 3:] += 100.0
    assert hidden_mse(garbage_in_padding, teacher, mask).item() == 0.0
    projection = torch.nn.Linear(4, 8)
    student = torch.randn(2, 5, 4)
    loss = hidden_mse(student, teacher, mask, projection)
    assert loss.item() > 0
    loss.backward()
    assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0


def test_attention_mse_zero_on_equal_maps_and_handles_head_counts():
    torch.manual_seed(0)
    teacher = torch.softmax(torch.randn(2, 4, 5, 5), dim=-1)
    mask = torch.ones(2, 5, dtype=torch.long)
    assert attention_mse(teacher.clone(), teacher, mask).item() == 0.0
    student = torch.softmax(torch.randn(2, 4, 5, 5, requires_grad=True), dim=-1)
    assert attention_mse(student, teacher, mask).item() > 0
    two_heads = teacher.view(2, 2, 2, 5, 5).mean(2)  # same average map with half the heads
    assert attention_mse(two_heads, teacher, mask).item() == pytest.approx(0.0, abs=1e-12)
