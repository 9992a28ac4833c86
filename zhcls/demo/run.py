"""The demo's loop: each unfinished stage in order, a finished one skipped, inside the budget where it can."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from zhcls.demo.budget import Budget, measured_slowness, plan_line
from zhcls.demo.config import BUILTIN, DEFAULT_ENCODER, DemoConfig
from zhcls.demo.stages import stage_names, stages, teacher_examples_per_s

log = logging.getLogger(__name__)


def run_demo(config: DemoConfig, *, echo: Callable[[str], None] = print) -> Path:
    """Run every unfinished stage in order, inside `config.minutes` where the machine allows; the bench report's
    markdown path."""
    budget = Budget(config, stage_names(config))
    planned = stages(config, budget)
    if config.path == BUILTIN and not (planned[0].output / planned[0].done_marker).exists():
        from zhcls.pretrained.builtin import resolve_builtin

        resolve_builtin(DEFAULT_ENCODER)  # no network and no 'offline' extra: one line now, not minutes later
    config.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for number, stage in enumerate(planned, start=1):
        header = f"[{number}/{len(planned)}] {stage.name}"
        if (stage.output / stage.done_marker).exists():
            echo(f"{header}: done already ({stage.output}), skipped")
        else:
            if stage.output.name == "teacher" and config.path == BUILTIN:
                speed = teacher_examples_per_s(config)
                budget.slowness = measured_slowness(speed)
                echo(plan_line(config, budget, speed))
            echo(f"{header} → {stage.output}")
            stage_started = time.perf_counter()
            stage.run()
            echo(f"{header}: finished in {(time.perf_counter() - stage_started) / 60:.1f} min")
        budget.finished(stage.output.name)
    spent = (time.perf_counter() - started) / 60
    over = ""
    if budget.seconds_left() < -30:
        over = f", {spent - config.minutes:.1f} over: its stages' floors (minutes, steps) outlasted it"
    echo(f"demo finished in {spent:.1f} min (budget {config.minutes:g} min{over})")
    report = planned[-1].output / "report.md"
    echo(which_to_ship(config, planned[-1].output / "report.json"))
    return report


def which_to_ship(config: DemoConfig, report_json: Path) -> str:
    """A paragraph naming the model to ship (the most accurate on test, speed breaking near-ties) and how to use
    it: the int8 student when it is as good, the baseline that beat it otherwise."""
    report = json.loads(report_json.read_text(encoding="utf-8"))
    scored = {
        label: contender
        for label, contender in report["contenders"].items()
        if contender.get("status") == "ok" and contender.get("accuracy") is not None
    }
    student = next((label for label in scored if label.startswith("student, ONNX")), None)
    best = max(scored, key=lambda label: scored[label]["accuracy"])
    export = config.output / "export"
    use = (
        f'  zhcls predict {export} "房间干净，服务很好"\n'
        f'  zhcls serve {export} --port 8000        # POST /predict {{"texts": [...]}}\n'
        f'  python -c "from zhcls.runtime import Classifier; '
        f"print(Classifier.load('{export}').predict(['房间干净，服务很好']))\""
    )
    if student is None:
        accuracy = scored[best]["accuracy"]
        return f"ship: {best} was the most accurate on test ({accuracy:.4f}); the exported student did not run."
    margin = scored[student]["accuracy"] - max(
        (c["accuracy"] for label, c in scored.items() if "TF-IDF" in label or "fastText" in label), default=0.0
    )
    if margin >= 0:
        return (
            f"ship the exported student ({export}): test accuracy {scored[student]['accuracy']:.4f}, "
            f"{100 * margin:.1f} points above the best baseline, in a torch-free runtime "
            "(numpy + onnxruntime + tokenizers):\n" + use
        )
    return (
        f"ship {best}: test accuracy {scored[best]['accuracy']:.4f}, ahead of the exported student "
        f"({scored[student]['accuracy']:.4f}) here; the student is still used this way:\n" + use
    )
