"""Which teacher layer each student layer learns from, as plain records."""

from __future__ import annotations

from dataclasses import dataclass

from zhcls.errors import UserError


@dataclass(frozen=True)
class LayerMatch:
    """One intermediate-loss term: student layer ← teacher layer, on a feature, with a weight.

    Layers count as Hugging Face's `hidden_states` do: 0 is the embedding output, 1..N the transformer
    layers. For `attention` the same numbers name the layer whose attention map is compared.
    """

    student_layer: int
    teacher_layer: int
    feature: str  # "hidden" or "attention"
    loss: str  # a name in zhcls.distill.losses.LOSSES
    weight: float


def uniform_map(student_layers: int, teacher_layers: int) -> dict[int, int]:
    """TinyBERT's uniform mapping: student layer m learns from teacher layer m·N/M (0 ↔ 0, last ↔ last)."""
    if student_layers < 1 or teacher_layers < 1:
        raise UserError("both models need at least one layer")
    if student_layers > teacher_layers:
        raise UserError(f"a {student_layers}-layer student cannot map onto a {teacher_layers}-layer teacher")
    return {m: round(m * teacher_layers / student_layers) for m in range(student_layers + 1)}


def parse_map(spec: str, student_layers: int, teacher_layers: int) -> dict[int, int]:
    """'uniform' or explicit 'student:teacher' pairs such as '1:3,2:6' (0 is the embedding layer)."""
    if spec == "uniform":
        return uniform_map(student_layers, teacher_layers)
    pairs: dict[int, int] = {}
    try:
        for item in spec.split(","):
            s, t = (int(x) for x in item.split(":"))
            pairs[s] = t
    except ValueError:
        raise UserError(f"--layer-map '{spec}' must be 'uniform' or pairs like '1:3,2:6'") from None
    for s, t in pairs.items():
        if not (0 <= s <= student_layers and 0 <= t <= teacher_layers):
            raise UserError(
                f"--layer-map pair {s}:{t} is outside 0..{student_layers} (student), 0..{teacher_layers} (teacher)"
            )
    return pairs


def layer_matches(
    mapping: dict[int, int], *, embedding_weight: float, hidden_weight: float, attention_weight: float
) -> list[LayerMatch]:
    """The intermediate-loss terms of a mapping; terms whose weight is zero are left out."""
    matches = []
    for s, t in sorted(mapping.items()):
        if s == 0:
            if embedding_weight:
                matches.append(LayerMatch(0, t, "hidden", "hidden_mse", embedding_weight))
            continue
        if hidden_weight:
            matches.append(LayerMatch(s, t, "hidden", "hidden_mse", hidden_weight))
        if attention_weight and t > 0:
            matches.append(LayerMatch(s, t, "attention", "attention_mse", attention_weight))
    return matches
