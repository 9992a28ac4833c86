"""Classification heads over a BERT encoder: BERT's own pooler over the first token, or the mean of all tokens.

Encoders trained for embeddings with mean pooling (e5, bge-m3's dense head, sentence-transformers models)
carry no trained pooler: BERT's head would start from a random one over a token they never trained alone.
The mean-pooled head is a model type of its own (`zhcls-bert-mean`) so that a directory saying it cannot be
loaded as the first-token model by mistake; zhcls registers it with transformers' Auto classes.
"""

from __future__ import annotations

from typing import Any

POOLINGS = ("cls", "mean")
MEAN_MODEL_TYPE = "zhcls-bert-mean"

_registered = False


def register_heads() -> None:
    """Make the mean-pooled head known to AutoConfig and AutoModelForSequenceClassification (idempotent)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config_class, model_class = _mean_pooled_classes()
    AutoConfig.register(MEAN_MODEL_TYPE, config_class, exist_ok=True)
    AutoModelForSequenceClassification.register(config_class, model_class, exist_ok=True)
    _registered = True


def pooling_of(config: Any) -> str:
    """The head a model config describes: 'mean' for the mean-pooled model type, else 'cls'."""
    return "mean" if getattr(config, "model_type", "") == MEAN_MODEL_TYPE else "cls"


def with_pooling(config: Any, pooling: str) -> Any:
    """A copy of a BERT `config` describing the head `pooling`."""
    from transformers import BertConfig

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}")
    register_heads()
    config_class = _mean_pooled_classes()[0] if pooling == "mean" else BertConfig
    record = {k: v for k, v in config.to_dict().items() if k not in ("model_type", "architectures")}
    return config_class.from_dict(record)


_classes: tuple[type, type] | None = None


def _mean_pooled_classes() -> tuple[type, type]:
    global _classes
    if _classes is not None:
        return _classes
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPooledBertConfig(BertConfig):
        """BERT's configuration, for the head that averages the encoder's outputs over the real tokens."""

        model_type = MEAN_MODEL_TYPE

    class MeanPooledBertForSequenceClassification(BertForSequenceClassification):
        """BERT with a linear classifier over the attention-masked mean of the last layer (no pooler)."""

        config_class = MeanPooledBertConfig

        def __init__(self, config: MeanPooledBertConfig):
            super().__init__(config)
            self.bert.pooler = None

        def forward(
            self,
            input_ids: torch.Tensor | None = None,
            attention_mask: torch.Tensor | None = None,
            token_type_ids: torch.Tensor | None = None,
            labels: torch.Tensor | None = None,
            output_hidden_states: bool | None = None,
            output_attentions: bool | None = None,
            **kwargs: Any,
        ) -> SequenceClassifierOutput:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            encoded = self.bert(
                input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                output_hidden_states=output_hidden_states,
                output_attentions=output_attentions,
                return_dict=True,
            )
            weights = attention_mask.unsqueeze(-1).to(encoded.last_hidden_state.dtype)
            pooled = (encoded.last_hidden_state * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            logits = self.classifier(self.dropout(pooled))
            loss = None
            if labels is not None:
                loss = torch.nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
            return SequenceClassifierOutput(
                loss=loss, logits=logits, hidden_states=encoded.hidden_states, attentions=encoded.attentions
            )

    _classes = (MeanPooledBertConfig, MeanPooledBertForSequenceClassification)
    return _classes
