"""Helpers the benchmark scripts share: run a zhcls command, skip finished stages, resume interrupted ones."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def students_folder(work: Path, name: str, teacher_name: str = "teacher") -> Path:
    """Where benchmarks/distill.py puts the students of teacher NAME/TEACHER_NAME (the default teacher's at the
    top)."""
    folder = work / "distill" / name
    return folder if teacher_name == "teacher" else folder / teacher_name


def add_teacher_name(parser: argparse.ArgumentParser) -> None:
    """`--teacher-name`: which of gpu_e2e.sh's teachers, and so which students, a script uses."""
    parser.add_argument(
        "--teacher-name",
        default="teacher",
        help="the teacher's folder in NAME/ (teacher-512: gpu_e2e.sh's whole-review teacher, LONG_MINUTES)",
    )


def zhcls(*args: str) -> None:
    """Run one zhcls command, failing loudly."""
    command = [sys.executable, "-m", "zhcls", *map(str, args)]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def produce(output: Path, *args: str) -> dict:
    """Run a command that writes `output/metrics.json` unless it exists; resume it if it was interrupted."""
    if not (output / "metrics.json").exists():
        # A two-stage distillation checkpoints its first stage in a work area of its own.
        work_areas = (f".{output.name}.partial", f"..{output.name}.stage1.partial")
        resumable = any((output.parent / area / "checkpoint").exists() for area in work_areas)
        # A distillation also resumes from the augmented texts and soft labels of a run stopped before training.
        resumable |= args[0] == "distill" and (output.parent / work_areas[0]).exists()
        zhcls(*args, "--output", output, *(["--resume"] if resumable else ["--overwrite"]))
    return json.loads((output / "metrics.json").read_text(encoding="utf-8"))


def add_report_name(parser: argparse.ArgumentParser, default: str) -> None:
    """`--name`: where under benchmarks/results a script's report goes (a narrowed run keeps the full one)."""
    parser.add_argument("--name", default=default, help=f"report name under benchmarks/results (default: {default})")


def write_results(name: str, lines: list[str], payload: dict) -> None:
    """benchmarks/results/NAME.md and NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def publish_report(report: Path, name: str) -> None:
    """A `zhcls bench` report folder as benchmarks/results/NAME.{md,json,png}, the markdown's plot link renamed."""
    import shutil

    for suffix in ("md", "json"):
        text = (report / f"report.{suffix}").read_text(encoding="utf-8")
        if suffix == "md":
            text = text.replace("](plot.png)", f"]({name}.png)")
        (RESULTS / f"{name}.{suffix}").write_text(text, encoding="utf-8")
    shutil.copyfile(report / "plot.png", RESULTS / f"{name}.png")
