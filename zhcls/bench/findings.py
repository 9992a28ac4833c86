"""What a bench measurement shows: the Pareto front, int8 verdicts, speed-ups over the reference, paired
accuracy differences with their McNemar p-values, and which contender to pick at a latency budget."""

from __future__ import annotations

REFERENCE_LENGTH = "seq128"
# Contenders within this accuracy of each other and this speed ratio count as "no better" when judging int8.
INT8_PAYS_SPEEDUP = 1.1
INT8_PAYS_ACCURACY_DROP = 0.005
# A paired difference with a McNemar p-value below this counts as one the test split can tell.
SIGNIFICANT_P = 0.05


def p50(result: dict, workload: str) -> float | None:
    """A contender's median latency at `workload` (batch1, batch32, seq128 ...), in ms; None if not timed."""
    return result.get("latency", {}).get(workload, {}).get("p50_ms")


def pareto_front(contenders: dict[str, dict]) -> list[str]:
    """Contenders no other beats on both batch-1 latency and accuracy, fastest first."""
    points = {
        label: (p50(c, "batch1"), c["accuracy"])
        for label, c in contenders.items()
        if c.get("status") == "ok" and c.get("accuracy") is not None and p50(c, "batch1") is not None
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
        speedups = {w: p50(o, w) / p50(c, w) for w in ("batch1", "batch32") if p50(o, w) and p50(c, w)}
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
    if reference is None or not p50(reference, REFERENCE_LENGTH):
        return {}
    base = p50(reference, REFERENCE_LENGTH)
    return {
        label: base / p50(c, REFERENCE_LENGTH)
        for label, c in contenders.items()
        if c.get("status") == "ok" and p50(c, REFERENCE_LENGTH)
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
        line = f"with a batch-1 budget of {p50(c, 'batch1'):.2f} ms or more: **{label}**"
        line += f" (accuracy {c['accuracy']:.4f})"
        p_value = tested.get((label, faster))
        if p_value is not None and p_value >= SIGNIFICANT_P:
            line += f"; on this test split not told apart from the faster {faster} (p {p_value:.2g})"
        lines.append(line)
        faster = label
    return lines


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
