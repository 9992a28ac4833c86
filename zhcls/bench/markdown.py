"""report.md: the bench's table, the contenders not run, and its findings in plain words."""

from __future__ import annotations

from zhcls.bench.findings import SIGNIFICANT_P


def _cell(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def threads_cell(setting: dict | None) -> str:
    """A contender's threads in a few words: `2`, `1; 2 from 2048 tok`, with `, spinning` where workers busy-wait."""
    if not setting:
        return "—"
    spinning = ", spinning" if setting.get("spinning") else ""
    small, large = setting.get("small_calls"), setting.get("large_calls")
    if setting.get("large_from_tokens") is None:
        return f"{small or 'default'}{spinning}"
    return f"{small}; {large} from {setting['large_from_tokens']} tok{spinning}"


def _machine_line(report: dict) -> str:
    machine = report["machine"]
    cpu = machine["cpu"]
    flags = ", ".join(name for name, present in cpu["flags"].items() if present) or "none of AVX2/AVX-512/VNNI/AMX"
    libraries = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    gpu = f"; GPU {machine['gpu']}" if machine.get("gpu") else "; no GPU"
    return (
        f"{cpu['model']} ({cpu['cores']} cores; flags: {flags}), up to {machine['threads']} threads a call{gpu}; "
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
        "32's median. Threads: those a call ran on; `1; N from T tok`: one below T padded tokens a call, N above "
        "(the runtime's choice per call).",
        "",
        "| contender | kind | threads | size MB | load s | peak RSS MB | accuracy | macro-F1 | batch 1 ms "
        "| batch 32 ms | texts/s | "
        + " | ".join(f"{n} tok ms" for n in settings["fixed_lengths"])
        + " | × reference (128 tok) |",
        "| --- " * (12 + len(settings["fixed_lengths"])) + "|",
    ]
    for label, c in contenders.items():
        if c.get("status") != "ok":
            continue
        latency = c.get("latency", {})
        b1, b32 = latency.get("batch1", {}), latency.get("batch32", {})
        fixed = [_cell(latency.get(f"seq{n}", {}).get("p50_ms"), ".2f") for n in settings["fixed_lengths"]]
        lines.append(
            f"| {label} | {c['kind']} | {threads_cell(c.get('threads'))} | {c['size_mb']:.1f} | {c['load_s']:.2f} "
            f"| {_cell(c.get('peak_rss_mb'), '.0f')} "
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
