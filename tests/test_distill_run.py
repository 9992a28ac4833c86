"""`zhcls distill` end to end on CPU with a tiny teacher and student."""

from __future__ import annotations

import json

import pytest

COMMON = ["--epochs", "4", "--batch-size", "16", "--lr", "3e-3", "--max-length", "32", "--patience", "0"]


def test_logit_distillation_end_to_end(run_cli, tmp_path, trained_classifier, tiny_student_dir):
    out = tmp_path / "student"
    code, stdout, err = run_cli(
        "distill",
        "--teacher",
        trained_classifier,
        "--student",
        tiny_student_dir,
        "--output",
        out,
        "--hard-weight",
        "0.5",
        "--temperature",
        "2",
        *COMMON,
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["student_accuracy"]["test"] >= 0.8
    assert metrics["student_parameters"] < metrics["teacher_parameters"]
    assert metrics["retention_percent"]["test"] == pytest.approx(
        100 * metrics["student_accuracy"]["test"] / metrics["teacher_accuracy"]["test"]
    )
    assert metrics["data"]["sizes"] == {"train": 240, "dev": 30, "test": 30}  # the teacher's split, reused
    assert {"config.json", "model.safetensors", "tokenizer.json", "distill_config.json"} <= {
        p.name for p in out.iterdir()
    }
    assert "retention" in stdout


def test_two_stage_with_intermediate_losses_and_unlabeled_text(
    run_cli, tmp_path, trained_classifier, tiny_student_dir, synthetic_csv
):
    from conftest import synthetic_rows

    from zhcls.data import DataSpec, load_splits

    test_texts = load_splits(DataSpec(str(synthetic_csv))).test.texts
    unlabeled = tmp_path / "unlabeled.txt"
    extra = [text for text, _ in synthetic_rows(60, seed=5)]
    unlabeled.write_text("\n".join(extra + test_texts[:4]) + "\n", encoding="utf-8")
    out = tmp_path / "two-stage"
    code, _, err = run_cli(
        "distill",
        "--teacher",
        trained_classifier,
        "--student",
        tiny_student_dir,
        "--output",
        out,
        "--schedule",
        "two-stage",
        "--intermediate-epochs",
        "1",
        "--embedding-weight",
        "1",
        "--hidden-weight",
        "1",
        "--attention-weight",
        "1",
        "--unlabeled",
        unlabeled,
        *COMMON,
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["transfer"]["dropped_as_dev_or_test"] == 4  # test texts never reach the student
    assert metrics["transfer"]["unlabeled"] == len(
        set(extra) - set(load_splits(DataSpec(str(synthetic_csv))).train.texts)
    )
    assert {(m["feature"], m["student_layer"], m["teacher_layer"]) for m in metrics["layer_matches"]} == {
        ("hidden", 0, 0),
        ("hidden", 1, 2),
        ("attention", 1, 2),
    }
    assert metrics["student_accuracy"]["test"] >= 0.7
    assert not (tmp_path / ".two-stage.stage1").exists() and not (tmp_path / ".two-stage.partial").exists()


def test_augmented_transfer_data_end_to_end(run_cli, tmp_path, trained_classifier, tiny_student_dir, tiny_mlm_dir):
    out = tmp_path / "augmented"
    code, _, err = run_cli(
        *("distill", "--teacher", trained_classifier, "--student", tiny_student_dir, "--output", out),
        *("--augment", "2", "--augment-mlm", tiny_mlm_dir, *COMMON, "--epochs", "1"),
    )
    assert code == 0, err
    transfer = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["transfer"]
    assert transfer["train"] == 240 and 0 < transfer["augmented"] <= 2 * 240


def test_bad_distill_flags(run_cli, tmp_path, trained_classifier):
    code, _, err = run_cli(
        "distill", "--teacher", trained_classifier, "--output", tmp_path / "o", "--schedule", "two-stage"
    )
    assert code == 2 and "needs an intermediate loss" in err
    code, _, err = run_cli("distill", "--teacher", trained_classifier, "--output", tmp_path / "o", "--augment", "2")
    assert code == 2 and "--augment needs --augment-mlm" in err


def test_two_stage_run_killed_in_its_first_stage_resumes_without_augmenting_again(
    run_cli, tmp_path, monkeypatch, trained_classifier, tiny_student_dir, tiny_mlm_dir
):
    from zhcls.distill import augment
    from zhcls.train import loop

    flags = ["--teacher", trained_classifier, "--student", tiny_student_dir, "--output", tmp_path / "s"]
    flags += ["--schedule", "two-stage", "--intermediate-epochs", "2", "--hidden-weight", "1", *COMMON]
    flags += ["--augment", "1", "--augment-mlm", tiny_mlm_dir]
    augment_calls = []
    real_augment = augment.augment_texts
    monkeypatch.setattr(augment, "augment_texts", lambda *a, **k: augment_calls.append(1) or real_augment(*a, **k))
    real_save = loop._save_checkpoint

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt  # right after the first checkpoint of stage 1

    monkeypatch.setattr(loop, "_save_checkpoint", save_then_die)
    code, _, _ = run_cli("distill", *flags)
    assert code == 130 and (tmp_path / "..s.stage1.partial" / "checkpoint" / "state.json").exists()
    monkeypatch.setattr(loop, "_save_checkpoint", real_save)
    code, _, err = run_cli("distill", *flags, "--resume")
    assert code == 0, err
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["student_accuracy"]["test"] > 0 and metrics["transfer"]["augmented"] > 0
    assert len(augment_calls) == 1  # the resumed run read the augmented texts back


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_its_augmented_texts(
    run_cli, tmp_path, monkeypatch, trained_classifier, tiny_student_dir, tiny_mlm_dir
):
    from zhcls.distill import augment
    from zhcls.distill import run as distill_run

    flags = ["--teacher", trained_classifier, "--student", tiny_student_dir, "--output", tmp_path / "s", *COMMON]
    flags += ["--epochs", "1", "--augment", "1", "--augment-mlm", tiny_mlm_dir]
    augment_calls = []
    real_augment = augment.augment_texts
    monkeypatch.setattr(augment, "augment_texts", lambda *a, **k: augment_calls.append(1) or real_augment(*a, **k))
    real_targets = distill_run.soft_targets

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # in the teacher's soft-label pass, before any training step

    monkeypatch.setattr(distill_run, "soft_targets", interrupted)
    code, _, _ = run_cli("distill", *flags)
    work = tmp_path / ".s.partial"
    assert code == 130 and (work / "augmented.jsonl").exists() and not (work / "checkpoint").exists()
    code, _, err = run_cli("distill", *flags)
    assert code == 2 and "--resume" in err
    monkeypatch.setattr(distill_run, "soft_targets", real_targets)
    code, _, err = run_cli("distill", *flags, "--resume")
    assert code == 0, err
    assert json.loads((tmp_path / "s" / "metrics.json").read_text(encoding="utf-8"))["transfer"]["augmented"] > 0
    assert len(augment_calls) == 1  # the resumed run read the augmented texts back
    code, _, err = run_cli("distill", *flags, "--output", tmp_path / "never-started", "--resume")
    assert code == 2 and "nothing to resume" in err
