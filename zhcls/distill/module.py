"""The trained part of a distillation: the student and its projections, whose forward returns the loss."""

from __future__ import annotations

from typing import Any

import torch

from zhcls.distill.config import LossWeights
from zhcls.distill.losses import LOSSES, hard_ce, soft_kl
from zhcls.distill.mapping import LayerMatch


class DistillModule(torch.nn.Module):
    """The trained part (student + projections) whose forward returns the distillation loss.

    The loss is computed inside `forward` so that DDP sees one call per step; the frozen teacher is
    held outside the module's parameters and checkpoints.
    """

    def __init__(
        self, student: Any, teacher: Any, matches: list[LayerMatch], weights: LossWeights, temperature: float = 1.0
    ):
        super().__init__()
        self.student = student
        object.__setattr__(self, "teacher", teacher)
        self.matches = matches
        self.weights = weights
        self.temperature = temperature
        s_width, t_width = student.config.hidden_size, teacher.config.hidden_size
        self.projections = torch.nn.ModuleDict(
            {
                str(m.student_layer): torch.nn.Linear(s_width, t_width)  # TinyBERT's W_h, one per matched layer
                for m in matches
                if m.feature == "hidden" and s_width != t_width
            }
        )

    def projection(self, student_layer: int) -> torch.nn.Module | None:
        """The learned map from the student's width to the teacher's, if they differ."""
        key = str(student_layer)
        return self.projections[key] if key in self.projections else None  # noqa: SIM401 (ModuleDict has no .get)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the configured loss terms on one batch."""
        labels = batch.pop("labels")
        teacher_logits = batch.pop("teacher_logits")  # soft labels, computed before training
        if next(self.teacher.parameters()).device != labels.device:
            self.teacher.to(labels.device)
        need_hidden = any(m.feature == "hidden" for m in self.matches)
        need_attention = any(m.feature == "attention" for m in self.matches)
        out = self.student(**batch, output_hidden_states=need_hidden, output_attentions=need_attention)
        if self.matches:
            with torch.no_grad():
                teacher_out = self.teacher(**batch, output_hidden_states=need_hidden, output_attentions=need_attention)
        w = self.weights
        loss = out.logits.sum() * 0.0
        if w.soft:
            loss = loss + w.soft * soft_kl(out.logits, teacher_logits, self.temperature)
        if w.hard:
            loss = loss + w.hard * hard_ce(out.logits, labels)
        mask = batch["attention_mask"]
        for match in self.matches:
            if match.feature == "hidden":
                term = LOSSES[match.loss](
                    out.hidden_states[match.student_layer],
                    teacher_out.hidden_states[match.teacher_layer],
                    mask,
                    self.projection(match.student_layer),
                )
            else:
                term = LOSSES[match.loss](
                    out.attentions[match.student_layer - 1], teacher_out.attentions[match.teacher_layer - 1], mask
                )
            loss = loss + match.weight * term
        return loss
