"""`zhcls pretrain`: masked-only head, time-budget schedule, a falling held-out loss, resume, fine-tuning after."""

from __future__ import annotations

import json
import math

import pytest
import torch

from zhcls.train import loop
from zhcls.train.loop import LinearSchedule, LoopState


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    """Synthetic review-like lines (the conftest task), enough for a few hundred blocks."""
    from conftest import synthetic_rows

    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(text for text, _ in synthetic_rows(240, seed=3)) + "\n", encoding="utf-8")
    return path


PRETRAIN = ["--preset", "tiny", "--batch-size", "16", "--max-length", "32", "--lr", "2e-3", "--warmup-ratio", "0.1"]


def _pretrain(run_cli, corpus_file, tokenizer_dir, output, *extra):
    return run_cli(
        "pretrain", "--corpus", corpus_file, "--tokenizer", tokenizer_dir, *PRETRAIN, "--output", output, *extra
    )


def test_masked_only_head_gives_the_full_head_loss(tokenizer_dir):
    from transformers import BertConfig, BertForMaskedLM

    from zhcls.pretrain.mlm import MaskedLMObjective

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    model = BertForMaskedLM(config).eval()
    input_ids = torch.randint(5, 300, (4, 24))
    labels = torch.full_like(input_ids, -100)
    chosen = torch.rand(input_ids.shape) < 0.2
    labels[chosen] = input_ids[chosen]
    attention_mask = torch.ones_like(input_ids)
    fast = MaskedLMObjective(model)({"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels})
    full = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    assert torch.allclose(fast, full, atol=1e-5)


def test_schedule_warms_up_decays_and_ends_at_zero_on_either_clock():
    by_steps = LinearSchedule(0.1, total_steps=100)
    assert by_steps.factor(LoopState(step=5)) == pytest.approx(0.5)
    assert by_steps.factor(LoopState(step=10)) == pytest.approx(1.0)
    assert by_steps.factor(LoopState(step=55)) == pytest.approx(0.5)
    assert by_steps.factor(LoopState(step=100)) == 0.0
    by_time = LinearSchedule(0.1, total_steps=10_000, minutes=1.0)
    assert by_time.factor(LoopState(step=1, train_seconds=30)) == pytest.approx(5 / 9)
    assert by_time.factor(LoopState(step=2, train_seconds=60)) == 0.0
    assert by_time.out_of_time(LoopState(train_seconds=60)) and not by_time.out_of_time(LoopState(train_seconds=59))
    assert not by_steps.out_of_time(LoopState(train_seconds=1e9))


def test_a_step_floor_outlasts_a_spent_budget_and_leaves_a_fast_run_on_the_clock():
    floored = LinearSchedule(0.1, total_steps=10_000, minutes=1.0, min_steps=100)
    slow = LoopState(step=50, train_seconds=60)  # the budget is spent at half the floor
    assert not floored.out_of_time(slow) and floored.progress(slow) == pytest.approx(0.5)
    assert floored.out_of_time(LoopState(step=100, train_seconds=120))
    assert floored.factor(LoopState(step=100, train_seconds=120)) == 0.0
    fast = LoopState(step=150, train_seconds=30)  # past the floor at half the budget: the clock rules
    assert floored.progress(fast) == pytest.approx(0.5) and not floored.out_of_time(fast)
    assert floored.out_of_time(LoopState(step=300, train_seconds=60))


def test_a_floor_of_steps_keeps_a_run_going_past_its_minutes(run_cli, tmp_path, corpus_file, tokenizer_dir):
    output = tmp_path / "mlm"
    flags = ("--minutes", "0.00001", "--min-steps", "12", "--heldout-fraction", "0.2")
    code, _, err = _pretrain(run_cli, corpus_file, tokenizer_dir, output, *flags)
    assert code == 0, err
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["steps"] == 12
    assert "1e-05-minute budget is spent at step 1; going on to step 12" in err


def test_a_time_budget_stops_a_tiny_run_at_lr_zero(run_cli, tmp_path, corpus_file, tokenizer_dir):
    output = tmp_path / "mlm"
    code, out, err = _pretrain(
        run_cli, corpus_file, tokenizer_dir, output, "--minutes", "0.2", "--heldout-fraction", "0.2"
    )
    assert code == 0, err
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["stopped_by_budget"] and 0.2 <= metrics["train_minutes"] < 0.3
    assert metrics["tokens_seen"] % 32 == 0 and metrics["tokens_seen"] <= metrics["steps"] * 16 * 32
    assert metrics["tokens_per_s"] > 0
    log = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    trains = [event for event in log if event["event"] == "train"]
    assert trains[-1]["lr"] == 0.0 and trains[-1]["step"] == metrics["steps"]
    # How many epochs fit in the budget depends on the machine's load; learning is checked on epochs below.
    assert metrics["heldout_best"]["masked_loss"] < math.log(metrics["shape"]["vocab_size"])
    config = json.loads((output / "config.json").read_text(encoding="utf-8"))
    assert config["hidden_dropout_prob"] == 0.1  # dropout was off for pretraining, back on for fine-tuning
    assert "held-out masked accuracy" in out


def test_resume_continues_where_the_run_stopped(run_cli, tmp_path, monkeypatch, corpus_file, tokenizer_dir):
    flags = ("--epochs", "2", "--checkpoint-every", "10")
    full = tmp_path / "full"
    assert _pretrain(run_cli, corpus_file, tokenizer_dir, full, *flags)[0] == 0
    evals = [json.loads(line) for line in (full / "train_log.jsonl").read_text().splitlines()]
    evals = [event for event in evals if event["event"] == "eval"]
    assert len(evals) == 2 and evals[1]["masked_loss"] < evals[0]["masked_loss"]  # a tiny run's held-out loss falls

    real_save = loop._save_checkpoint
    calls = {"n": 0}

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_save_checkpoint", save_then_die)
    resumed = tmp_path / "resumed"
    code, _, _ = _pretrain(run_cli, corpus_file, tokenizer_dir, resumed, *flags)
    assert code == 130 and not resumed.exists()
    monkeypatch.setattr(loop, "_save_checkpoint", real_save)
    code, _, err = _pretrain(run_cli, corpus_file, tokenizer_dir, resumed, *flags, "--resume")
    assert code == 0, err
    a = json.loads((full / "metrics.json").read_text(encoding="utf-8"))
    b = json.loads((resumed / "metrics.json").read_text(encoding="utf-8"))
    assert a["steps"] == b["steps"]
    assert b["heldout_best"]["masked_loss"] == pytest.approx(a["heldout_best"]["masked_loss"], rel=1e-5)


def test_a_packed_corpus_trains_later_without_reading_the_text_again(
    run_cli, tmp_path, monkeypatch, corpus_file, tokenizer_dir
):
    from zhcls.pretrain import mlm

    output = tmp_path / "mlm"
    code, _, err = _pretrain(run_cli, corpus_file, tokenizer_dir, output, "--epochs", "1", "--pack-only")
    assert code == 0, err
    assert not output.exists() and (tmp_path / ".mlm.partial" / "blocks.npz").exists()
    code, _, err = _pretrain(run_cli, corpus_file, tokenizer_dir, output, "--epochs", "1")
    assert code == 2 and "--resume" in err  # the packed corpus is not dropped silently

    def no_reading(*args, **kwargs):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(mlm, "read_corpus", no_reading)
    code, _, err = _pretrain(
        run_cli, corpus_file, tokenizer_dir, output, "--epochs", "1", "--resume", "--max-length", "64"
    )
    assert code == 2 and "32-token blocks" in err and "--overwrite" in err  # packed for another shape
    code, _, err = _pretrain(run_cli, corpus_file, tokenizer_dir, output, "--epochs", "1", "--resume")
    assert code == 0, err
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["steps"] > 0 and metrics["corpus"]["lines"] == 240


def test_pretrained_checkpoint_fine_tunes_with_zhcls_train(
    run_cli, tmp_path, corpus_file, tokenizer_dir, synthetic_csv
):
    mlm = tmp_path / "mlm"
    assert _pretrain(run_cli, corpus_file, tokenizer_dir, mlm, "--epochs", "1")[0] == 0
    code, _, err = run_cli(
        "train",
        "--model",
        mlm,
        "--data",
        synthetic_csv,
        "--epochs",
        "1",
        "--max-length",
        "32",
        "--output",
        tmp_path / "clf",
    )
    assert code == 0, err
    assert json.loads((tmp_path / "clf" / "metrics.json").read_text())["model"] == str(mlm)


def test_bad_flags_are_one_line_errors(run_cli, tmp_path, corpus_file, tokenizer_dir):
    code, _, err = run_cli("pretrain", "--corpus", corpus_file, "--preset", "tiny", "--output", tmp_path / "x")
    assert code == 2 and "needs --tokenizer" in err
    code, _, err = _pretrain(run_cli, corpus_file, tokenizer_dir, tmp_path / "y", "--mask-rate", "1.5")
    assert code == 2 and "--mask-rate" in err


def test_a_time_budget_alone_ends_a_pretraining_run_unless_epochs_are_given():
    from zhcls.pretrain.mlm import pretraining_loop
    from zhcls.train.loop import UNTIL_BUDGET_EPOCHS

    assert pretraining_loop(minutes=5.0).epochs == UNTIL_BUDGET_EPOCHS
    assert pretraining_loop(epochs=2, minutes=5.0).epochs == 2
    assert pretraining_loop().epochs == loop.LoopSettings().epochs
    assert pretraining_loop(patience=3).patience == 0  # held-out scores pick the checkpoint, never stop the run
