"""plot.png: accuracy against batch-1 latency, one labelled point per contender, the Pareto front joined."""

from __future__ import annotations

from pathlib import Path

from zhcls.bench.findings import p50


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
        latency = p50(c, "batch1")
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
            [p50(contenders[x], "batch1") for x in ordered],
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
