"""ELECTRA: the generator fills exactly the masked positions; "replaced" means the token changed."""

from __future__ import annotations

import json

import torch

from zhcls.models import PRESETS
from zhcls.pretrain.electra import ElectraObjective, corrupt, electra_pair


def test_generator_samples_fill_exactly_the_masked_positions_and_replaced_means_changed():
    torch.manual_seed(0)
    original = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 20, 21, 22, 23, 3]])
    labels = torch.full_like(original, -100)
    labels[0, 1], labels[0, 3], labels[1, 2] = 10, 12, 21
    masked = original.clone()
    masked[labels != -100] = 4
    vocab = 30
    # The generator is certain: it puts back 10 at the first mask (a "correct" fill), 7 and 9 elsewhere.
    logits = torch.full((3, vocab), -1e4)
    logits[0, 10], logits[1, 7], logits[2, 9] = 0.0, 0.0, 0.0
    corrupted, replaced = corrupt(original, masked, labels, logits)
    assert corrupted.tolist() == [[2, 10, 11, 7, 13, 3], [2, 20, 9, 22, 23, 3]]
    assert replaced.tolist() == [[0, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0]]
    unmasked = labels == -100
    assert torch.equal(corrupted[unmasked], original[unmasked])


def test_generator_and_discriminator_share_embeddings_and_the_loss_trains_both():
    generator, discriminator = electra_pair(PRESETS["tiny"], vocab_size=200, pad_token_id=0)
    assert generator.electra.embeddings is discriminator.electra.embeddings
    assert generator.generator_lm_head.weight is discriminator.electra.embeddings.word_embeddings.weight
    assert generator.config.hidden_size == discriminator.config.hidden_size // 4
    objective = ElectraObjective(generator, discriminator, rtd_weight=50.0)
    ids = torch.randint(5, 200, (4, 16))
    labels = torch.full_like(ids, -100)
    labels[:, 3:6] = ids[:, 3:6]
    batch = {"input_ids": ids.masked_fill(labels != -100, 4), "original_ids": ids, "labels": labels}
    batch["attention_mask"] = torch.ones_like(ids)
    parts = objective.parts(batch)
    assert parts["mlm_loss"] > 0 and parts["rtd_loss"] > 0
    objective(batch).backward()
    assert generator.generator_predictions.dense.weight.grad.abs().sum() > 0
    assert discriminator.discriminator_predictions.dense.weight.grad.abs().sum() > 0


def test_tiny_electra_checkpoint_fine_tunes_with_zhcls_train(run_cli, tmp_path, tokenizer_dir, synthetic_csv):
    from conftest import synthetic_rows

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(text for text, _ in synthetic_rows(200, seed=5)) + "\n", encoding="utf-8")
    electra = tmp_path / "electra"
    flags = ["--preset", "tiny", "--tokenizer", tokenizer_dir, "--batch-size", "16", "--max-length", "32"]
    code, out, err = run_cli(
        "pretrain", "--objective", "electra", "--corpus", corpus, *flags, "--epochs", "2", "--output", electra
    )
    assert code == 0, err
    metrics = json.loads((electra / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["objective"] == "electra" and 0 < metrics["heldout_final"]["replaced_share"] < 0.2
    assert "held-out rtd accuracy" in out
    assert json.loads((electra / "config.json").read_text())["architectures"] == ["ElectraForPreTraining"]
    flags = ["--data", synthetic_csv, "--epochs", "1", "--max-length", "32", "--output", tmp_path / "clf"]
    code, _, err = run_cli("train", "--model", electra, *flags)
    assert code == 0, err
    config = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert config["architectures"] == ["ElectraForSequenceClassification"]
