"""The bench report: report.json (everything measured), report.md (the table and plain-words findings), plot.png."""

from __future__ import annotations

import json
from pathlib import Path

REFERENCE_LENGTH = "seq128"
# Contenders within this accuracy of each other and this speed ratio count as "no better" when judging int8.
INT8_PAYS_SPEEDUP = 1.1
INT8_PAYS_ACCURACY_DROP = 0.005
# A paired difference with a McNemar p-value below this counts as one the test split can tell.
SIGNIFICANT_P = 0.05


def _p50(result: dict, workload: str) -> float | None:
    return result.get("latency", {}).get(workload, {}).get("p50_ms")


def pareto_front(contenders: dict[str, dict]) -> list[str]:
    """Contenders no other beats on both batch-1 latency and accuracy, fastest first."""
    points = {
        label: (_p50(c, "batch1"), c["accuracy"])
        for label, c in contenders.items()
        if c.get("status") == "ok" and c.get("accuracy") is not None and _p50(c, "batch1") is not None
    }
    front = [
        label
        for label, (latency, accuracy) in points.items()
        if not any(
            other != label and o_lat <= latency and o_acc >= accuracy and (o_lat < latency or o_acc > accuracy)
            for other, (o_lat, o_acc) in points.items()
        )
    ]
    return sorted(front, key=lambda label: points[label][0])


def int8_findings(contenders: dict[str, dict]) -> list[dict]:
    """Each int8 contender against the fp32 contender made from the same weights (ONNX preferred over PyTorch)."""
    findings = []
    ok = {label: c for label, c in contenders.items() if c.get("status") == "ok" and c.get("accuracy") is not None}
    for label, c in ok.items():
        if c.get("precision") != "int8" or not c.get("source_sha256"):
            continue
        partners = [
            (other, o)
            for other, o in ok.items()
            if o.get("precision") == "fp32" and o.get("source_sha256") == c["source_sha256"]
        ]
        if not partners:
            continue
        other, o = min(partners, key=lambda pair: (not pair[1]["kind"].startswith("onnx"), pair[0]))
        speedups = {w: _p50(o, w) / _p50(c, w) for w in ("batch1", "batch32") if _p50(o, w) and _p50(c, w)}
        change = c["accuracy"] - o["accuracy"]
        paid = speedups.get("batch1", 0) >= INT8_PAYS_SPEEDUP and change >= -INT8_PAYS_ACCURACY_DROP
        findings.append({"int8": label, "fp32": other, "speedup": speedups, "accuracy_change": change, "paid": paid})
    return findings


def reference_speedups(contenders: dict[str, dict]) -> dict[str, float]:
    """How many times faster than the run's speed reference (CPU or CUDA) each contender is at batch 1, 128 tokens."""
    reference = next(
        (c for c in contenders.values() if c.get("kind", "").startswith("reference") and c.get("status") == "ok"),
        None,
    )
    if reference is None or not _p50(reference, REFERENCE_LENGTH):
        return {}
    base = _p50(reference, REFERENCE_LENGTH)
    return {
        label: base / _p50(c, REFERENCE_LENGTH)
        for label, c in contenders.items()
        if c.get("status") == "ok" and _p50(c, REFERENCE_LENGTH)
    }


def paired_differences(contenders: dict[str, dict]) -> list[dict]:
    """Every pair of contenders scored on the same test texts: accuracy difference and exact McNemar p-value.

    Pairs are ordered more accurate first. Two classifiers read the same texts, so what tells them apart is
    only the texts exactly one of them gets right; under "equally accurate" each such text is a fair coin.
    A few hundred test texts leave differences of a point or more inside the noise, which this makes visible.
    """
    from scipy.stats import binomtest

    scored = [
        (label, c)
        for label, c in contenders.items()
        if c.get("status") == "ok" and c.get("accuracy") is not None and c.get("wrong") is not None
    ]
    scored.sort(key=lambda pair: -pair[1]["accuracy"])
    pairs = []
    for index, (label, c) in enumerate(scored):
        for other, o in scored[index + 1 :]:
            wrong, other_wrong = set(c["wrong"]), set(o["wrong"])
            only_this, only_other = len(other_wrong - wrong), len(wrong - other_wrong)
            discordant = only_this + only_other
            pairs.append(
                {
                    "more_accurate": label,
                    "other": other,
                    "accuracy_difference": c["accuracy"] - o["accuracy"],
                    "only_more_accurate_right": only_this,
                    "only_other_right": only_other,
                    "p_value": binomtest(only_other, discordant, 0.5).pvalue if discordant else 1.0,
                }
            )
    return pairs


def recommendations(contenders: dict[str, dict], pairs: list[dict]) -> list[str]:
    """Which contender to pick at a batch-1 latency budget: walking the Pareto front from fast to accurate.

    A step up the front whose accuracy gain the test split cannot tell from noise (`pairs`, from
    `paired_differences`) says so: there the faster contender is as good a pick as far as this data shows.
    """
    tested = {(p["more_accurate"], p["other"]): p["p_value"] for p in pairs}
    lines, faster = [], None
    for label in pareto_front(contenders):
        c = contenders[label]
        line = f"with a batch-1 budget of {_p50(c, 'batch1'):.2f} ms or more: **{label}**"
        line += f" (accuracy {c['accuracy']:.4f})"
        p_value = tested.get((label, faster))
        if p_value is not None and p_value >= SIGNIFICANT_P:
            line += f"; on this test split not told apart from the faster {faster} (p {p_value:.2g})"
        lines.append(line)
        faster = label
    return lines


def _cell(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _machine_line(report: dict) -> str:
    machine = report["machine"]
    cpu = machine["cpu"]
    flags = ", ".join(name for name, present in cpu["flags"].items() if present) or "none of AVX2/AVX-512/VNNI/AMX"
    libraries = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    gpu = f"; GPU {machine['gpu']}" if machine.get("gpu") else "; no GPU"
    return (
        f"{cpu['model']} ({cpu['cores']} cores; flags: {flags}), {machine['threads']} threads{gpu}; "
        f"Python {machine['python']}, {libraries}"
    )


def render_markdown(report: dict) -> str:
    data, settings, contenders = report["data"], report["settings"], report["contenders"]
    speedups = report["reference_speedups"]
    sizes = "/".join(f"{n:,}" for n in data.get("sizes", {}).values())
    lines = [
        f"# zhcls bench: {data.get('data', '?')}",
        "",
        f"Machine: {_machine_line(report)}.",
        f"Data: {data.get('data')} test split, {data['test_size']} texts (split seed {data.get('split_seed', '?')}, "
        f"train/dev/test {sizes}).",
        f"Latency: p50 (p90) ms; batch 1 over {settings['batch1_texts']} test texts and batch 32 over "
        f"{settings['batch32_batches']} batches at their real lengths, tokenization included; fixed lengths at "
        f"batch 1, {settings['fixed_calls']} calls each; all contenders interleaved call by call. Texts/s at batch "
        "32's median.",
        "",
        "| contender | kind | size MB | load s | peak RSS MB | accuracy | macro-F1 | batch 1 ms | batch 32 ms "
        "| texts/s | " + " | ".join(f"{n} tok ms" for n in settings["fixed_lengths"]) + " | × reference (128 tok) |",
        "| --- " * (11 + len(settings["fixed_lengths"])) + "|",
    ]
    for label, c in contenders.items():
        if c.get("status") != "ok":
            continue
        latency = c.get("latency", {})
        b1, b32 = latency.get("batch1", {}), latency.get("batch32", {})
        fixed = [_cell(latency.get(f"seq{n}", {}).get("p50_ms"), ".2f") for n in settings["fixed_lengths"]]
        lines.append(
            f"| {label} | {c['kind']} | {c['size_mb']:.1f} | {c['load_s']:.2f} | {_cell(c.get('peak_rss_mb'), '.0f')} "
            f"| {_cell(c['accuracy'], '.4f')} | {_cell(c['macro_f1'], '.4f')} "
            f"| {_cell(b1.get('p50_ms'), '.2f')} ({_cell(b1.get('p90_ms'), '.2f')}) "
            f"| {_cell(b32.get('p50_ms'), '.1f')} ({_cell(b32.get('p90_ms'), '.1f')}) "
            f"| {_cell(b32.get('texts_per_s'), '.0f')} | "
            + " | ".join(fixed)
            + f" | {_cell(speedups.get(label), '.1f')} |"
        )
    skipped = {label: c for label, c in contenders.items() if c.get("status") != "ok"}
    if skipped:
        lines += ["", "Not run here:", ""]
        lines += [f"- {label} ({c['kind']}): {c['status']}, {c['reason']}" for label, c in skipped.items()]
    lines += ["", "## Findings", ""]
    if report["int8"]:
        for f in report["int8"]:
            verdict = "int8 paid" if f["paid"] else "int8 did not pay"
            speed = ", ".join(f"{v:.2f}× at {k.replace('batch', 'batch ')}" for k, v in f["speedup"].items())
            # Without an ONNX fp32 twin in the run, the comparison also counts the change of runtime.
            scope = "" if contenders[f["fp32"]]["kind"].startswith("onnx") else " (runtime and quantization together)"
            lines.append(
                f"- {verdict} on this CPU for **{f['int8']}** against {f['fp32']}{scope}: {speed}; accuracy "
                f"{f['accuracy_change']:+.4f}."
            )
    else:
        lines.append("- No int8 contender had its fp32 twin (same source weights) in this run.")
    if report["recommendations"]:
        lines += ["", "Which to pick (accuracy against batch-1 latency; the Pareto front, fastest first):", ""]
        lines += [f"- {line}" for line in report["recommendations"]]
    lines += _differences_section(report)
    lines += ["", "![accuracy against batch-1 latency](plot.png)", ""]
    return "\n".join(lines)


def _differences_section(report: dict) -> list[str]:
    """The paired differences as a triangle (row minus column, most accurate first) and the leader in words."""
    pairs = report.get("paired_differences") or []
    if not pairs:
        return []
    order = [pairs[0]["more_accurate"], *(p["other"] for p in pairs if p["more_accurate"] == pairs[0]["more_accurate"])]
    cell = {(p["more_accurate"], p["other"]): p for p in pairs}
    contenders = report["contenders"]
    lines = [
        "",
        "## Which accuracy differences are real",
        "",
        f"Row minus column on the same {report['data']['test_size']:,} test texts, and the exact McNemar p-value",
        "(two-sided, over the texts exactly one of the two gets right). Where p ≥ "
        f"{SIGNIFICANT_P}, this test split cannot tell the two apart.",
        "",
        "| contender | " + " | ".join(f"#{n}" for n in range(2, len(order) + 1)) + " |",
        "| --- " * len(order) + "|",
    ]
    for row, label in enumerate(order[:-1], start=1):
        cells = [
            ""
            if column <= row
            else f"{cell[label, other]['accuracy_difference']:+.4f} (p {cell[label, other]['p_value']:.2g})"
            for column, other in enumerate(order[1:], start=2)
        ]
        lines.append(f"| #{row} {label} ({contenders[label]['accuracy']:.4f}) | " + " | ".join(cells) + " |")
    lines.append(f"| #{len(order)} {order[-1]} ({contenders[order[-1]]['accuracy']:.4f}) |" + " |" * (len(order) - 1))
    leader = order[0]
    ahead = [p["other"] for p in pairs if p["more_accurate"] == leader and p["p_value"] < SIGNIFICANT_P]
    level = [p["other"] for p in pairs if p["more_accurate"] == leader and p["p_value"] >= SIGNIFICANT_P]
    verdict = f"**{leader}** is the most accurate here"
    if ahead:
        verdict += f"; ahead at p < {SIGNIFICANT_P} of " + ", ".join(ahead)
    if level:
        verdict += "; not told apart from " + ", ".join(level)
    return [*lines, "", f"- {verdict}."]


def render_plot(report: dict, path: Path) -> None:
    """Accuracy against batch-1 latency (log scale), one point per contender, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contenders = report["contenders"]
    front = set(report["pareto_front"])
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    points = []
    for label, c in contenders.items():
        latency = _p50(c, "batch1")
        if c.get("status") != "ok" or latency is None:
            continue
        if c.get("accuracy") is None:
            axes.axvline(latency, color="grey", linestyle=":", linewidth=1)
            axes.annotate(
                label,
                (latency, 0.98),
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=7,
                ha="right",
                va="top",
            )
            continue
        on_front = label in front
        axes.scatter(latency, c["accuracy"], s=50 if on_front else 30, color="tab:red" if on_front else "tab:blue")
        points.append((label, latency, c["accuracy"]))
    ordered = report["pareto_front"]
    if len(ordered) > 1:
        axes.plot(
            [_p50(contenders[x], "batch1") for x in ordered],
            [contenders[x]["accuracy"] for x in ordered],
            color="tab:red",
            linewidth=1,
            drawstyle="steps-post",
            label="Pareto front",
        )
        axes.legend(loc="lower right", fontsize=8)
    axes.set_xscale("log")
    axes.margins(x=0.08, y=0.12)  # room for the labels of the outermost points
    axes.set_xlabel("batch-1 latency p50, ms (log scale; tokenization included)")
    axes.set_ylabel("test accuracy")
    machine = report["machine"]
    where = f"{machine['cpu']['model']}, {machine['threads']} threads"
    if "gpu" in machine:
        where += f"; {machine['gpu']}"
    axes.set_title(f"{report['data'].get('data')}: {where}", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    place_labels(axes, points)
    figure.savefig(path, format="png")
    plt.close(figure)


# Where a point's label may go, in points from the point, tried in order: right of it, then left, then farther.
LABEL_OFFSETS = tuple((dx, dy) for dy_pair in ((5, -11), (15, -21), (25, -31)) for dx in (4, -4) for dy in dy_pair)


def place_labels(axes, points: list[tuple[str, float, float]]) -> list:
    """Label each (label, x, y) point at the first offset whose text overlaps no label placed before.

    Contenders of one family sit close together (the student in fp32, ONNX and two int8 flavours), so
    fixed offsets print their names over each other. Call once the axes' limits and layout are final.
    Returns the window extents of the labels, in placement order.
    """
    renderer = axes.figure.canvas.get_renderer()
    taken = []
    for label, x, y in sorted(points, key=lambda point: (point[1], -point[2])):
        for dx, dy in LABEL_OFFSETS:
            style = {
                "textcoords": "offset points",
                "xytext": (dx, dy),
                "fontsize": 7,
                "ha": "left" if dx > 0 else "right",
            }
            probe = axes.annotate(label, (x, y), **style)
            extent = probe.get_window_extent(renderer)
            probe.remove()
            if not any(extent.overlaps(other) for other in taken):
                break
        # A label pushed away from its point keeps a thin line to it.
        leader = {"arrowstyle": "-", "linewidth": 0.5, "color": "grey"} if abs(dy) > 11 else None
        axes.annotate(label, (x, y), arrowprops=leader, **style)
        taken.append(extent)
    return taken


def finish_report(measured: dict) -> dict:
    """Add the derived findings (Pareto front, int8 verdicts, reference speed-ups, picks) to a measurement."""
    contenders = measured["contenders"]
    pairs = paired_differences(contenders)
    return {
        **measured,
        "pareto_front": pareto_front(contenders),
        "int8": int8_findings(contenders),
        "reference_speedups": reference_speedups(contenders),
        "recommendations": recommendations(contenders, pairs),
        "paired_differences": pairs,
    }


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
