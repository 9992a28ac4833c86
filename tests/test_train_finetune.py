"""`zhcls train` learns, writes a complete model directory atomically, and resumes exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TRAIN_FLAGS

from zhcls.train import loop
from zhcls.train.loop import epoch_batches

FAST = TRAIN_FLAGS


def _train(run_cli, encoder: Path, data: Path, output: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli("train", "--model", encoder, "--data", data, "--output", output, *FAST, *extra)


@pytest.fixture(scope="module")
def trained(trained_classifier) -> Path:
    """The tiny classifier trained once per session (conftest), checked read-only here."""
    return trained_classifier


def test_tiny_bert_learns_the_synthetic_task(trained):
    metrics = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["accuracy"] >= 0.85  # chance is 0.5
    assert metrics["dev"]["accuracy"] >= 0.85


def test_output_is_a_complete_hugging_face_directory(trained):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    names = {p.name for p in trained.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "metrics.json",
        "train_log.jsonl",
        "train_config.json",
    } <= names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    model = AutoModelForSequenceClassification.from_pretrained(trained)
    assert model.config.id2label == {0: "neg", 1: "pos"} and model.config.label2id == {"neg": 0, "pos": 1}
    AutoTokenizer.from_pretrained(trained)
    metrics = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["split_seed"] == 0 and metrics["data"]["sizes"] == {"train": 240, "dev": 30, "test": 30}
    assert set(metrics["test"]) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix"}
    events = [json.loads(line) for line in (trained / "train_log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["event"] == "eval"] == [1, 2, 3, 4]
    assert all({"loss", "lr", "examples_per_s"} <= set(e) for e in events if e["event"] == "train")
    assert not (trained.parent / ".model.partial").exists()


def test_eval_command_reuses_the_recorded_split(trained, run_cli, tmp_path):
    code, out, _ = run_cli("eval", trained, "--json", tmp_path / "eval.json")
    assert code == 0 and "confusion matrix" in out and "macro-F1" in out
    report = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    recorded = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))["test"]
    assert report["accuracy"] == pytest.approx(recorded["accuracy"])
    assert report["confusion_matrix"] == recorded["confusion_matrix"]
    assert set(report["per_class"]) == {"neg", "pos"}


def test_existing_output_is_refused_without_overwrite(trained, run_cli, tiny_encoder_dir, synthetic_csv):
    code, _, err = _train(run_cli, tiny_encoder_dir, synthetic_csv, trained)
    assert code == 2 and "already exists; pass --overwrite" in err


@pytest.fixture
def hub_lookups(monkeypatch):
    """Host names looked up, with `reachable` deciding whether they resolve (no test touches the network); no
    proxy set."""
    import socket

    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    lookups = {"reachable": False, "hosts": []}

    def getaddrinfo(host, *args, **kwargs):
        lookups["hosts"].append(host)
        if not lookups["reachable"]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return []

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.mark.parametrize("reachable", [False, True])
def test_a_hub_id_is_looked_up_in_the_cache_alone_while_the_hub_cannot_be_reached(
    run_cli, tmp_path, synthetic_csv, monkeypatch, hub_lookups, reachable
):
    import transformers

    # huggingface_hub retries an unreachable hub for about a minute before giving up: here the loader sees
    # local_files_only at once, and the error says why.
    asked = []

    def from_pretrained(name, **options):
        asked.append(options)
        raise OSError(f"{name} is not in the cache")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)
    hub_lookups["reachable"] = reachable
    code, _, err = run_cli("train", "--model", "some-org/absent", "--data", synthetic_csv, "--output", tmp_path / "o")
    assert code == 2 and "cannot load tokenizer 'some-org/absent'" in err and "Traceback" not in err
    assert asked[0].get("local_files_only", False) is not reachable
    assert ("cannot be reached: only the local hub cache was searched" in err) is not reachable
    assert "huggingface.co" in hub_lookups["hosts"]


def test_a_local_directory_never_asks_for_the_hub(tiny_encoder_dir, hub_lookups, monkeypatch):
    from zhcls.models import hub_options, load_tokenizer

    assert hub_options(tiny_encoder_dir) == {} and load_tokenizer(tiny_encoder_dir).is_fast
    assert hub_lookups["hosts"] == []
    assert hub_options("some-org/absent") == {"local_files_only": True}
    # Behind a proxy the host is the proxy's to resolve: the loader goes to it as usual.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert hub_options("some-org/absent") == {}


def test_bad_model_and_flag_combinations(run_cli, tmp_path, synthetic_csv, tokenizer_dir):
    code, _, err = run_cli("train", "--model", tmp_path / "nope", "--data", synthetic_csv, "--output", tmp_path / "o")
    assert code == 2 and "cannot load tokenizer" in err
    code, _, err = run_cli("train", "--preset", "tiny", "--data", synthetic_csv, "--output", tmp_path / "o")
    assert code == 2 and "needs --tokenizer" in err
    code, _, err = run_cli(
        "train", "--preset", "huge", "--tokenizer", tokenizer_dir, "--data", synthetic_csv, "--output", tmp_path / "o"
    )
    assert code == 2 and "unknown preset 'huge'" in err
    code, _, err = run_cli(
        "train", "--model", "x", "--data", synthetic_csv, "--output", tmp_path / "o", "--epochs", "0"
    )
    assert code == 2 and "--epochs must be at least 1" in err
    code, _, err = run_cli(
        "train", "--model", "x", "--data", synthetic_csv, "--output", tmp_path / "o", "--min-steps", "5"
    )
    assert code == 2 and "--min-steps needs --minutes" in err


def test_epoch_batches_are_a_pure_function_of_seed_and_epoch():
    lengths = [(i * 7) % 50 + 1 for i in range(203)]
    first = epoch_batches(lengths, 16, seed=1, epoch=0)
    assert first == epoch_batches(lengths, 16, seed=1, epoch=0)
    assert first != epoch_batches(lengths, 16, seed=1, epoch=1)
    assert sorted(i for batch in first for i in batch) == list(range(203))
    merged = epoch_batches(lengths, 16, seed=1, epoch=0, min_size=12)  # 203 = 12×16 + 11: last joins another
    assert all(len(batch) >= 12 for batch in merged) and len(merged) == 12


def test_resume_after_interruption_matches_an_uninterrupted_run(
    run_cli, tmp_path, monkeypatch, tiny_encoder_dir, synthetic_csv
):
    flags = ("--checkpoint-every", "7", "--patience", "0")
    full = tmp_path / "full"
    assert _train(run_cli, tiny_encoder_dir, synthetic_csv, full, *flags)[0] == 0

    real_save = loop._save_checkpoint
    calls = {"n": 0}

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # mid-epoch 2: step 21 of 60, after the epoch-1 checkpoint
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_save_checkpoint", save_then_die)
    resumed = tmp_path / "resumed"
    code, _, err = _train(run_cli, tiny_encoder_dir, synthetic_csv, resumed, *flags)
    assert code == 130 and "--resume" in err
    assert not resumed.exists() and (tmp_path / ".resumed.partial" / "checkpoint" / "state.json").exists()
    monkeypatch.setattr(loop, "_save_checkpoint", real_save)

    code, _, err = _train(run_cli, tiny_encoder_dir, synthetic_csv, resumed, *flags)
    assert code == 2 and "pass --resume to continue it" in err
    code, _, err = _train(run_cli, tiny_encoder_dir, synthetic_csv, resumed, *flags, "--resume")
    assert code == 0, err
    a = json.loads((full / "metrics.json").read_text(encoding="utf-8"))
    b = json.loads((resumed / "metrics.json").read_text(encoding="utf-8"))
    assert b["steps"] == a["steps"] == 60
    assert b["test"]["accuracy"] == a["test"]["accuracy"]
    assert b["dev"]["confusion_matrix"] == a["dev"]["confusion_matrix"]
    log_a = [json.loads(x) for x in (full / "train_log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x) for x in (resumed / "train_log.jsonl").read_text().splitlines()]
    losses = lambda log: [(e["step"], round(e["loss"], 5)) for e in log if e["event"] == "train"]  # noqa: E731
    assert losses(log_b)[-3:] == losses(log_a)[-3:]  # same trajectory after the restart


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path, tiny_encoder_dir, synthetic_csv):
    flags = ["--model", str(tiny_encoder_dir), "--data", str(synthetic_csv), *FAST, "--patience", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ZHCLS_PROGRESS": "0"}
    single = subprocess.run(
        [sys.executable, "-m", "zhcls", "train", *flags, "--output", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29533",
            "-m",
            "zhcls",
            "train",
            *flags,
            "--output",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text(encoding="utf-8"))
    two = json.loads((tmp_path / "two" / "metrics.json").read_text(encoding="utf-8"))
    assert two["num_processes"] == 2 and one["num_processes"] == 1
    assert two["steps"] == one["steps"]
    assert abs(two["test"]["accuracy"] - one["test"]["accuracy"]) <= 0.07  # 2 of 30 texts
    assert abs(two["dev"]["accuracy"] - one["dev"]["accuracy"]) <= 0.07


def test_a_non_finite_loss_stops_the_run_and_publishes_nothing(tmp_path):
    import torch

    from zhcls.atomic import RunDir
    from zhcls.errors import UserError

    run = RunDir(tmp_path / "model")
    loop.start_run(run, resume=False)
    losses = iter([0.5, float("nan")])
    with pytest.raises(UserError, match=r"^train: the loss is nan at step 2 \(epoch 1\); training diverged"):
        loop.fit(
            torch.nn.Linear(2, 1),
            lengths=[1] * 8,
            collate=lambda indices, epoch: {"x": torch.ones(len(indices), 2)},
            loss_fn=lambda model, batch: model(batch["x"]).sum() * 0 + next(losses),
            evaluate=None,
            metric="epoch",
            save_best=lambda model, folder: None,
            settings=loop.LoopSettings(epochs=1, batch_size=4, checkpoint_every=0),
            run=run,
        )
    assert not run.output.exists()
    for settings, message in (({"weight_decay": -0.1}, "--weight-decay must be 0 or more"), ({"seed": -1}, "--seed")):
        with pytest.raises(UserError, match=message):
            loop.LoopSettings(**settings)
