"""The demo's loop: each unfinished stage in order, a finished one skipped, inside the budget where it can."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from zhcls.demo.budget import Budget
from zhcls.demo.config import DemoConfig
from zhcls.demo.stages import stage_names, stages


def run_demo(config: DemoConfig, *, echo: Callable[[str], None] = print) -> Path:
    """Run every unfinished stage in order, inside `config.minutes` where the machine allows; the bench report's
    markdown path."""
    budget = Budget(config, stage_names(config))
    planned = stages(config, budget)
    config.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for number, stage in enumerate(planned, start=1):
        header = f"[{number}/{len(planned)}] {stage.name}"
        if (stage.output / stage.done_marker).exists():
            echo(f"{header}: done already ({stage.output}), skipped")
        else:
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
    return planned[-1].output / "report.md"
