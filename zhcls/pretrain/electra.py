"""ELECTRA replaced-token detection: a small generator fills the masks, the discriminator spots the fills.

The discriminator learns from every token, not only the masked 15%, which is why ELECTRA learns more per
unit of compute than MLM (ELECTRA-Small 79.9 vs BERT-Small 75.1 GLUE at equal compute). The two share
their token and position embeddings; the saved checkpoint is the discriminator, which `zhcls train`
fine-tunes like any encoder.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

GENERATOR_WIDTH_SHARE = 4  # generator hidden size = discriminator's / 4 (ELECTRA's small-model choice)


def electra_pair(shape: dict[str, int], vocab_size: int, pad_token_id: int) -> tuple[Any, Any]:
    """(generator, discriminator) of a BERT-style `shape`, sharing embeddings, dropout off for pretraining."""
    from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

    hidden = shape["hidden_size"]
    common = {
        "vocab_size": vocab_size,
        "embedding_size": hidden,
        "num_hidden_layers": shape["num_hidden_layers"],
        "max_position_embeddings": 512,
        "pad_token_id": pad_token_id,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    discriminator = ElectraForPreTraining(
        ElectraConfig(
            **common,
            hidden_size=hidden,
            num_attention_heads=shape["num_attention_heads"],
            intermediate_size=shape["intermediate_size"],
        )
    )
    small = max(hidden // GENERATOR_WIDTH_SHARE, 32)
    generator = ElectraForMaskedLM(
        ElectraConfig(
            **common,
            hidden_size=small,
            num_attention_heads=max(shape["num_attention_heads"] // GENERATOR_WIDTH_SHARE, 1),
            intermediate_size=4 * small,
        )
    )
    generator.electra.embeddings = discriminator.electra.embeddings
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    return generator, discriminator


def corrupt(
    input_ids: torch.Tensor, masked_ids: torch.Tensor, labels: torch.Tensor, generator_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill the masked positions with samples from the generator; (corrupted ids, replaced flags).

    `generator_logits` are for the masked positions only, in row-major order. A position counts as
    replaced only where the sample differs from the original token.
    """
    chosen = labels != -100
    samples = torch.multinomial(F.softmax(generator_logits.detach().float(), dim=-1), 1).squeeze(-1)
    corrupted = masked_ids.clone()
    corrupted[chosen] = samples
    return corrupted, (corrupted != input_ids).long()


class ElectraObjective(torch.nn.Module):
    """Generator MLM loss (masked positions only) + `rtd_weight` × discriminator replaced-token loss."""

    def __init__(self, generator: Any, discriminator: Any, rtd_weight: float = 50.0):
        super().__init__()
        self.generator = generator
        self.model = discriminator  # what is saved
        self.rtd_weight = rtd_weight

    def parts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Both losses and what they were computed from."""
        labels, original = batch["labels"], batch["original_ids"]
        attention_mask = batch["attention_mask"]
        chosen = labels != -100
        hidden = self.generator.electra(input_ids=batch["input_ids"], attention_mask=attention_mask).last_hidden_state
        logits = self.generator.generator_lm_head(self.generator.generator_predictions(hidden[chosen]))
        mlm_loss = F.cross_entropy(logits.float(), labels[chosen])
        corrupted, replaced = corrupt(original, batch["input_ids"], labels, logits)
        scores = self.model(input_ids=corrupted, attention_mask=attention_mask).logits
        real = attention_mask.bool()
        rtd_loss = F.binary_cross_entropy_with_logits(scores[real].float(), replaced[real].float())
        return {
            "mlm_loss": mlm_loss,
            "rtd_loss": rtd_loss,
            "generator_logits": logits,
            "rtd_scores": scores,
            "replaced": replaced,
            "real": real,
        }

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The joint loss on one batch."""
        parts = self.parts(batch)
        return parts["mlm_loss"] + self.rtd_weight * parts["rtd_loss"]

    @torch.inference_mode()
    def scores(self, batches: list[dict[str, torch.Tensor]]) -> dict:
        """Held-out generator masked accuracy and discriminator replaced-token-detection accuracy."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        masked_right = masked = rtd_right = tokens = replaced_total = 0
        rtd_loss = 0.0
        # The same generator samples at every evaluation, without disturbing the training random state.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(0)
            for batch in batches:
                parts = self.parts({key: value.to(device) for key, value in batch.items()})
                labels = batch["labels"].to(device)
                target = labels[labels != -100]
                masked_right += int((parts["generator_logits"].argmax(-1) == target).sum())
                masked += len(target)
                real = parts["real"]
                guess = (parts["rtd_scores"][real] > 0).long()
                rtd_right += int((guess == parts["replaced"][real]).sum())
                tokens += int(real.sum())
                replaced_total += int(parts["replaced"][real].sum())
                rtd_loss += float(parts["rtd_loss"]) * int(real.sum())
        self.train(was_training)
        return {
            "masked_accuracy": masked_right / max(masked, 1),
            "rtd_accuracy": rtd_right / max(tokens, 1),
            "rtd_loss": rtd_loss / max(tokens, 1),
            "replaced_share": replaced_total / max(tokens, 1),
        }


__all__ = ["ElectraObjective", "corrupt", "electra_pair"]
