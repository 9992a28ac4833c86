"""The bench report: report.json (everything measured), report.md (the table and plain-words findings), plot.png."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from zhcls.bench.findings import finish_report
from zhcls.bench.markdown import render_markdown
from zhcls.bench.plot import render_plot
from zhcls.bench.run import BenchSettings, run_bench
from zhcls.contenders import ContenderSpec
from zhcls.data import DataSpec
from zhcls.errors import UserError


def write_report(report: dict, folder: Path) -> dict[str, Path]:
    """report.json, report.md and plot.png in `folder`, each written whole or not at all."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "report.json", "md": folder / "report.md", "plot": folder / "plot.png"}
    staged = {key: path.with_name(f".{path.name}.partial") for key, path in paths.items()}
    staged["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    staged["md"].write_text(render_markdown(report), encoding="utf-8")
    render_plot(report, staged["plot"])
    for key, path in paths.items():
        staged[key].replace(path)
    return paths


def bench(
    specs: list[ContenderSpec],
    data: DataSpec,
    settings: BenchSettings,
    folder: Path,
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Measure the contenders on `data`'s test split (zhcls.bench.run) and write the report with its findings in
    `folder`; the paths written, by kind (json, md, plot)."""
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise UserError("two contenders share a label; name them LABEL=PATH")
    return write_report(finish_report(run_bench(specs, data, settings, log=log)), folder)
