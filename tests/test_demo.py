"""`zhcls demo`: the whole pipeline inside a small budget, and a second run that redoes only what is missing."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("matplotlib", reason="zhcls demo needs the 'bench' extra")
pytest.importorskip("fasttext", reason="zhcls demo needs the 'bench' extra")

STAGES = (
    "vocab",
    "pretrain",
    "teacher-pretrained",
    "teacher-random",
    "teacher",
    "student",
    "export",
    "tfidf",
    "fasttext",
    "bench",
)


def test_demo_runs_end_to_end_then_resumes_without_redoing_finished_stages(run_cli, synthetic_csv, tmp_path):
    output = tmp_path / "demo"
    flags = ["demo", "--minutes", "2", "--data", synthetic_csv, "--preset", "tiny", "--output", output]
    flags += ["--threads", "1"]
    code, out, err = run_cli(*flags)
    assert code == 0, err
    for stage in STAGES:
        assert (output / stage).is_dir(), stage
    report = json.loads((output / "bench" / "report.json").read_text(encoding="utf-8"))
    ran = {label for label, c in report["contenders"].items() if c["status"] == "ok"}
    assert {"teacher, PyTorch fp32", "student, ONNX int8 (zhcls)", "fastText", "TF-IDF + logistic regression"} <= ran
    assert "| student, ONNX int8 (zhcls) |" in out  # the final table is printed
    pretrained = json.loads((output / "pretrain" / "metrics.json").read_text(encoding="utf-8"))
    assert pretrained["stopped_by_budget"] and pretrained["train_minutes"] <= 2 * 0.25 + 0.1
    dev = {
        name: json.loads((output / name / "metrics.json").read_text(encoding="utf-8"))["dev"]["accuracy"]
        for name in ("teacher-pretrained", "teacher-random", "teacher")
    }
    assert dev["teacher"] == max(dev["teacher-pretrained"], dev["teacher-random"])

    teacher_metrics = (output / "teacher" / "metrics.json").stat().st_mtime_ns
    shutil.rmtree(output / "tfidf")
    code, _, err = run_cli(*flags)
    assert code == 0, err
    assert err.count("skipped") == len(STAGES) - 1
    assert "TF-IDF baseline → " in err
    assert (output / "tfidf" / "metrics.json").exists()
    assert (output / "teacher" / "metrics.json").stat().st_mtime_ns == teacher_metrics


def test_demo_refuses_a_nonpositive_budget(run_cli, tmp_path):
    code, _, err = run_cli("demo", "--minutes", "0", "--output", tmp_path)
    assert code == 2 and "--minutes" in err


def test_demo_from_a_checkpoint_fine_tunes_it_instead_of_pretraining(tmp_path):
    from zhcls.data import DataSpec
    from zhcls.demo import DemoConfig, stages

    from_zero = [stage.output.name for stage in stages(DemoConfig(output=tmp_path, data=DataSpec("x.csv")))]
    assert from_zero == list(STAGES)
    config = DemoConfig(output=tmp_path, data=DataSpec("x.csv"), teacher="bert-base-chinese")
    assert [stage.output.name for stage in stages(config)] == list(STAGES[STAGES.index("teacher") :])


@pytest.mark.parametrize(("random_matrix", "warned"), [([[903, 0], [833, 0]], True), ([[700, 203], [150, 683]], False)])
def test_a_teacher_that_answers_one_class_is_kept_with_a_warning(tmp_path, caplog, monkeypatch, random_matrix, warned):
    import logging

    from zhcls.data import DataSpec
    from zhcls.demo import DemoConfig, stages

    config = DemoConfig(output=tmp_path / "demo", data=DataSpec("reviews.csv"))
    (keep,) = [stage for stage in stages(config) if stage.output == tmp_path / "demo" / "teacher"]
    candidates = {"teacher-pretrained": [[903, 0], [833, 0]], "teacher-random": random_matrix}
    for name, matrix in candidates.items():
        (tmp_path / "demo" / name).mkdir(parents=True)
        accuracy = (matrix[0][0] + matrix[1][1]) / 1736
        metrics = {"steps": 74, "dev": {"accuracy": accuracy, "confusion_matrix": matrix}}
        (tmp_path / "demo" / name / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    monkeypatch.setattr(logging.getLogger("zhcls"), "propagate", True)  # the CLI, run by other tests, turns it off
    with caplog.at_level("INFO", logger="zhcls"):
        keep.run()
    kept = json.loads((keep.output / "metrics.json").read_text(encoding="utf-8"))
    assert kept["dev"]["confusion_matrix"] == ([[903, 0], [833, 0]] if warned else random_matrix)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert bool(warnings) == warned
    assert not warned or ("after 74 training steps" in warnings[0] and "--minutes" in warnings[0])


@pytest.mark.parametrize("teacher", [None, "bert-base-chinese"])
def test_training_stages_of_the_measured_shapes_get_a_floor_of_steps(tmp_path, monkeypatch, teacher):
    import zhcls.distill.run
    import zhcls.train.finetune
    from zhcls.data import DataSpec
    from zhcls.demo import DemoConfig, stages

    floors = {}

    def record(config, **_):
        floors[config.output.name] = (config.loop.minutes, config.loop.min_steps)

    monkeypatch.setattr(zhcls.train.finetune, "train_classifier", record)
    monkeypatch.setattr(zhcls.distill.run, "distill", record)
    config = DemoConfig(output=tmp_path, data=DataSpec("reviews.csv"), minutes=10, teacher=teacher)
    for stage in stages(config):
        if stage.output.name in ("teacher-pretrained", "teacher-random", "student") or (
            teacher and stage.output.name == "teacher"
        ):
            stage.run()

    if teacher:  # a checkpoint's speed is unknown: its budget alone ends its fine-tuning
        assert floors == {"teacher": (4.5, 0), "student": (3.5, 420)}
    else:
        assert floors == {"teacher-pretrained": (2.0, 120), "teacher-random": (2.0, 120), "student": (2.5, 300)}
