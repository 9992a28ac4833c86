"""benchmarks/gpu_e2e.sh without a GPU: every zhcls command it would run parses, for each way of narrowing it.

The script runs with PYTHON pointing at a stand-in that passes the CUDA check, parses each `python -m zhcls`
command with the real command-line interface (commands replaced by no-ops) and logs it, and writes a
placeholder bench report where `zhcls bench` would. A renamed flag, a bad choice or a bash error in the
script then fails here, not in a GPU slot.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

STAND_IN = """#!{python}
import json, sys
from pathlib import Path

args = sys.argv[1:]
if args[:1] == ["-c"]:
    sys.exit(0)  # the script's CUDA check
assert args[:2] == ["-m", "zhcls"], args
args = args[2:]
sys.path.insert(0, {tests!r})
from conftest import parse_only

parse_only(args)  # a bad flag raises
with open({log!r}, "a", encoding="utf-8") as handle:
    handle.write(json.dumps(args) + "\\n")
if args[0] == "bench":
    report = Path(args[args.index("--report") + 1])
    report.mkdir(parents=True, exist_ok=True)
    (report / "report.md").write_text("![plot](plot.png)", encoding="utf-8")
    (report / "report.json").write_text("{{}}", encoding="utf-8")
    (report / "plot.png").write_bytes(b"png")
"""


@pytest.fixture
def run_script(tmp_path):
    """Run a copy of gpu_e2e.sh in a scratch project (its results land there) with the stand-in python."""
    project = tmp_path / "project"
    (project / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "gpu_e2e.sh", project / "benchmarks" / "gpu_e2e.sh")
    log = tmp_path / "commands.jsonl"
    stand_in = tmp_path / "python"
    stand_in.write_text(
        STAND_IN.format(python=sys.executable, log=str(log), tests=str(ROOT / "tests")), encoding="utf-8"
    )
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)

    def run(**settings: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        env = {**os.environ, "PYTHON": str(stand_in), **settings}
        env.pop("ZHCLS_PROGRESS", None)
        done = subprocess.run(
            ["bash", "benchmarks/gpu_e2e.sh", "news.txt"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        commands = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
        return done, commands

    return run


def _outputs(commands: list[list[str]], name: str) -> list[str]:
    return [command[command.index("--output") + 1] for command in commands if command[0] == name]


def _minutes(commands: list[list[str]], output: str) -> float:
    (command,) = [c for c in commands if c[0] == "pretrain" and c[c.index("--output") + 1] == output]
    return float(command[command.index("--minutes") + 1])


def test_the_full_recipe_runs_every_stage_with_commands_zhcls_accepts(run_script):
    done, commands = run_script(FULL="1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _outputs(commands, "pretrain") == ["runs/pretrained/mlm", "runs/pretrained/mlm-reviews"]
    assert (_minutes(commands, "runs/pretrained/mlm"), _minutes(commands, "runs/pretrained/mlm-reviews")) == (3.5, 3)
    teachers = {
        f"runs/pretrained/{name}/{folder}"
        for name in ("chnsenticorp", "online-shopping-10")
        for folder in ("teacher", "teacher-general")
    }
    assert set(_outputs(commands, "train")) == teachers
    assert len(_outputs(commands, "distill")) == 2 and len([c for c in commands if c[0] == "bench"]) == 2
    assert (done.stdout.count("[gpu_e2e.sh at"), "done" in done.stdout.splitlines()[-1]) == (8, True)


def test_by_default_pretraining_gets_what_ten_minutes_leave_after_the_later_stages(run_script):
    """ChnSentiCorp alone; the later stages' H100 minutes (fine-tuning 1.0, stage 4 4.5) and two pretraining
    overheads (0.8 each) set aside, the general run gets 0.54 of the rest and the review run what is left then:
    here the stand-in python takes seconds, not the general run's minutes, so nearly all of the rest."""
    done, commands = run_script()
    assert done.returncode == 0, done.stderr[-2000:]
    assert _outputs(commands, "train") == ["runs/pretrained/chnsenticorp/teacher"]
    assert len(_outputs(commands, "distill")) == 1
    general, review = _minutes(commands, "runs/pretrained/mlm"), _minutes(commands, "runs/pretrained/mlm-reviews")
    assert 0.54 * (10 - 5.5 - 1.6) - 0.1 < general <= 0.54 * (10 - 5.5 - 1.6) + 0.01
    assert 10 - 5.5 - 0.8 - 0.2 < review <= 10 - 5.5 - 0.8 + 0.01
    assert done.stdout.splitlines()[-1].endswith("done (budget: 10 min)")


def test_a_budget_too_small_for_the_later_stages_runs_over_and_says_so(run_script):
    done, commands = run_script(MINUTES="6")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _minutes(commands, "runs/pretrained/mlm") == _minutes(commands, "runs/pretrained/mlm-reviews") == 0.5
    assert "warning: MINUTES=6 leaves" in done.stderr


def test_stopping_after_the_teachers_gives_pretraining_the_bench_stage_minutes(run_script):
    done, commands = run_script(GPU_BENCH="0", PRETRAIN_MINUTES="2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _minutes(commands, "runs/pretrained/mlm") == 2  # given: kept
    assert 10 - 1.0 - 0.8 - 0.2 < _minutes(commands, "runs/pretrained/mlm-reviews") <= 10 - 1.0 - 0.8 + 0.01
    assert not _outputs(commands, "distill")


def test_the_whole_review_stage_pretrains_and_fine_tunes_at_512_tokens(run_script):
    done, commands = run_script(GPU_BENCH="0", LONG_MINUTES="6")
    assert done.returncode == 0, done.stderr[-2000:]
    long_pretraining = [c for c in commands if c[0] == "pretrain" and "runs/pretrained/mlm-reviews-512" in c]
    assert len(long_pretraining) == 1 and long_pretraining[0][long_pretraining[0].index("--max-length") + 1] == "512"
    (whole,) = [c for c in commands if c[0] == "train" and c[c.index("--output") + 1].endswith("teacher-512")]
    assert whole[whole.index("--truncation") + 1] == "head+tail" and whole[whole.index("--max-length") + 1] == "512"
    assert _outputs(commands, "train") == ["runs/pretrained/chnsenticorp/teacher", whole[whole.index("--output") + 1]]
    assert not _outputs(commands, "distill")


def test_pack_only_packs_the_corpora_and_trains_nothing(run_script):
    done, commands = run_script(PACK_ONLY="1", LONG_MINUTES="6")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {c[0] for c in commands} == {"vocab", "pretrain"}
    assert all("--pack-only" in c for c in commands if c[0] == "pretrain")


def test_an_unknown_data_set_is_refused_before_anything_runs(run_script):
    done, commands = run_script(DATASETS="weibo")
    assert done.returncode == 2 and "unknown data set weibo" in done.stderr
    assert commands == []
