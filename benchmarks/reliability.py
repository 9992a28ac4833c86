"""Reproduce benchmarks/results/reliability.{md,json}: nothing lost, nothing silently wrong.

    python benchmarks/reliability.py [--work runs/reliability] [--only VERB ...]

Three measurements:
- the bad-input corpus of the tests (tests/bad_inputs.py), each case run as `python -m zhcls ...` in a fresh
  process: refused cleanly means exit code 2, one `error:` line matching the case, no traceback, and no file
  changed in the case's folder or in the artifacts it reads; counted per command;
- kill -9 and --resume: `zhcls train`, `zhcls pretrain` and `zhcls distill` on tiny models are killed with SIGKILL
  right after their first checkpoint, resumed with --resume, and their published weights compared tensor by
  tensor, bit for bit, with an uninterrupted run's;
- `zhcls serve` with misbehaving clients, read from benchmarks/results/reliability-serve.json
  (benchmarks/reliability_serve.py).
The artifacts (a synthetic data set, a tiny tokenizer and BERT, a classifier trained on it and its int8 export) are
built in --work the first time, as the tests' fixtures build theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ROOT, write_results

sys.path.insert(0, str(ROOT / "tests"))

from bad_inputs import ARTIFACTS, CASES, snapshot, verbs, verdict
from conftest import TRAIN_FLAGS, save_tiny_bert, synthetic_rows, write_csv

from zhcls.atomic import RunDir
from zhcls.runtime.cpu import cpu_info

ENV = {**os.environ, "ZHCLS_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}
CASE_TIMEOUT_S = 300  # a serve case that slipped through would listen until killed
TINY = ("--max-length", "32", "--batch-size", "16", "--checkpoint-every", "5", "--seed", "3")


def zhcls(*args: object, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`python -m zhcls ARGS` in a fresh process, its output captured."""
    command = [sys.executable, "-m", "zhcls", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, errors="replace", env=ENV, timeout=timeout)


def must(*args: object) -> None:
    """Run a zhcls command that has to succeed."""
    done = zhcls(*args)
    if done.returncode != 0:
        raise SystemExit(f"zhcls {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")


def build_artifacts(work: Path) -> dict[str, Path]:
    """The artifacts the cases read, built once in `work`."""
    from zhcls.pretrain.vocab import train_vocab

    work.mkdir(parents=True, exist_ok=True)
    paths = {name: work / name for name in ARTIFACTS}
    paths["data"] = work / "synthetic.csv"
    if not paths["data"].exists():
        write_csv(paths["data"], list(dict(synthetic_rows(340)).items())[:300])
    if not (paths["tokenizer"] / "tokenizer.json").exists():
        texts = [text for text, _ in synthetic_rows(400, seed=1)] + ["hello world 2024 测试"]
        train_vocab(texts, 300, paths["tokenizer"], min_frequency=1)
    if not (paths["encoder"] / "model.safetensors").exists():
        shape = {"hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64, "max_position_embeddings": 128}
        save_tiny_bert(paths["tokenizer"], paths["encoder"], **shape)
    if not (paths["model"] / "metrics.json").exists():
        must(
            "train",
            "--model",
            paths["encoder"],
            "--data",
            paths["data"],
            "--output",
            paths["model"],
            "--overwrite",
            *TRAIN_FLAGS,
        )
    if not (paths["export"] / "zhcls.json").exists():
        must("export", paths["model"], "--output", paths["export"], "--int8", "--overwrite")
    return paths


def bad_inputs(artifacts: dict[str, Path], only: list[str] | None) -> dict:
    """Every corpus case in a fresh process: per command, the cases tried and those refused cleanly."""
    per_command: dict[str, dict] = {}
    unclean = []
    for case in CASES:
        if only and case.verb not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="zhcls-bad-input-") as folder:
            tmp = Path(folder)
            case.setup(tmp, artifacts)
            before = snapshot(tmp, *artifacts.values())
            started = time.perf_counter()
            try:
                done = zhcls(*case.args(tmp, artifacts), timeout=CASE_TIMEOUT_S)
                problem = verdict(case, done.returncode, done.stderr, before, snapshot(tmp, *artifacts.values()))
            except subprocess.TimeoutExpired:
                problem = f"still running after {CASE_TIMEOUT_S} s"
            seconds = time.perf_counter() - started
        tally = per_command.setdefault(case.verb, {"tried": 0, "clean": 0, "seconds": 0.0})
        tally["tried"] += 1
        tally["clean"] += problem is None
        tally["seconds"] += seconds
        if problem is not None:
            unclean.append({"command": case.verb, "case": case.name, "problem": problem})
        print(f"{'ok ' if problem is None else 'BAD'} {case.verb}: {case.name} ({seconds:.1f} s)", flush=True)
    return {"per_command": per_command, "unclean": unclean}


def tensors(model_dir: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(model_dir / "model.safetensors")


def kill_and_resume(name: str, args: list[object], work: Path, patience: float = 600.0) -> dict:
    """Run `args` whole; run it again, SIGKILL it once its first checkpoint is written, resume it; compare weights."""
    whole, killed = work / f"{name}-whole", work / f"{name}-killed"
    for stale in (killed, RunDir(killed).work):  # an earlier measurement's, which --resume would refuse to replace
        shutil.rmtree(stale, ignore_errors=True)
    started = time.perf_counter()
    must(*args, "--output", whole, "--overwrite")
    whole_s = time.perf_counter() - started
    checkpoint = work / f".{killed.name}.partial" / "checkpoint" / "state.json"
    command = [sys.executable, "-m", "zhcls", *map(str, args), "--output", str(killed), "--overwrite"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + patience
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if process.poll() is not None:
        raise SystemExit(f"{name}: the run ended before its first checkpoint:\n{process.stderr.read()[-3000:]}")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    state = RunDir(killed).checkpoint / "state.json"  # the latest, or the one before it if a swap was cut short
    killed_at = json.loads(state.read_text(encoding="utf-8"))["step"] if state.exists() else None
    resumed = zhcls(*args, "--output", killed, "--resume")
    record = {
        "command": " ".join(map(str, args[:1])),
        "uninterrupted_s": round(whole_s, 1),
        "killed_after_checkpoint_at_step": killed_at,
        "resume_exit_code": resumed.returncode,
    }
    if resumed.returncode != 0:
        return {**record, "resume_error": resumed.stderr.strip().splitlines()[-1:]}
    a, b = tensors(whole), tensors(killed)
    differing = sorted(key for key in a if key not in b or a[key].tobytes() != b[key].tobytes())
    metrics = [json.loads((folder / "metrics.json").read_text(encoding="utf-8")) for folder in (whole, killed)]
    steps = [m.get("steps", m.get("train_steps")) for m in metrics]
    return {
        **record,
        "tensors": len(a),
        "tensors_bitwise_equal": len(a) - len(differing),
        "identical": not differing and set(a) == set(b),
        "differing": differing[:5],
        "steps_whole_resumed": steps,
    }


def resume_runs(artifacts: dict[str, Path], work: Path) -> dict:
    """kill -9 then --resume for train, pretrain and distill on tiny models."""
    corpus = work / "corpus.txt"
    corpus.write_text("".join(text + "\n" for text, _ in synthetic_rows(600, seed=2)), encoding="utf-8")
    runs = {
        "train": [
            "train",
            "--model",
            artifacts["encoder"],
            "--data",
            artifacts["data"],
            "--epochs",
            "3",
            "--lr",
            "3e-3",
            "--patience",
            "0",
            *TINY,
        ],
        "pretrain": [
            "pretrain",
            "--corpus",
            corpus,
            "--preset",
            "tiny",
            "--tokenizer",
            artifacts["tokenizer"],
            "--epochs",
            "3",
            *TINY,
        ],
        "distill": [
            "distill",
            "--teacher",
            artifacts["model"],
            "--student",
            "2x128",
            "--epochs",
            "3",
            "--patience",
            "0",
            *TINY,
        ],
    }
    results = {}
    for name, args in runs.items():
        print(f"kill -9 and --resume: {name}", flush=True)
        results[name] = kill_and_resume(name, args, work / "resume")
        print(json.dumps(results[name]), flush=True)
    return results


def serve_summary() -> dict | None:
    """The headline numbers of benchmarks/results/reliability-serve.json, if it is there."""
    path = RESULTS / "reliability-serve.json"
    if not path.exists():
        return None
    serve = json.loads(path.read_text(encoding="utf-8"))
    malformed = serve["malformed"]
    return {
        "stalled_connections": serve["stalled"]["connections"],
        "stalled_peak_threads": serve["stalled"]["peak_threads"],
        "stalled_all_closed_after_s": round(serve["stalled"]["all_closed_after_s"], 1),
        "health_while_stalled_s": round(serve["stalled"]["health_meanwhile_s"], 3),
        "malformed_requests": len(malformed),
        "malformed_answered_in_json": sum(m.get("content_type") == "application/json" for m in malformed.values()),
        "connections_reset": serve["disconnects"]["connections_reset"],
        "tracebacks_after_resets": serve["disconnects"]["tracebacks_in_log"],
        "sigterm_exit_after_s": round(serve["sigterm"]["exit_after_s"], 2),
        "sigterm_exit_code": serve["sigterm"]["exit_code"],
    }


def report(results: dict) -> list[str]:
    corpus = results["bad_inputs"]
    lines = [
        "# Reliability: bad input, kill -9, and `zhcls serve`",
        "",
        "Reproduce: `python benchmarks/reliability.py` (the serve rows: `python benchmarks/reliability_serve.py "
        "EXPORT`). Each bad-input case of tests/bad_inputs.py runs as `python -m zhcls ...` in a fresh process; "
        "refused cleanly: exit code 2, one `error:` line naming the problem, no traceback, no file changed in its "
        "folder or in the artifacts it reads.",
        "",
        "| command | cases | refused cleanly | seconds a case |",
        "| --- | ---: | ---: | ---: |",
    ]
    tried = clean = 0
    for verb in verbs():
        tally = corpus["per_command"].get(verb)
        if tally is None:
            continue
        tried, clean = tried + tally["tried"], clean + tally["clean"]
        seconds = tally["seconds"] / tally["tried"]
        lines.append(f"| {verb} | {tally['tried']} | {tally['clean']} | {seconds:.1f} |")
    lines.append(f"| **all** | **{tried}** | **{clean}** | |")
    if corpus["unclean"]:
        lines += ["", "Not refused cleanly:", ""]
        lines += [f"- {u['command']}: {u['case']}: {u['problem']}" for u in corpus["unclean"]]
    lines += [
        "",
        "## Killed with SIGKILL after the first checkpoint, then `--resume`",
        "",
        "Tiny models (synthetic data, 32 tokens, a checkpoint every 5 steps, 3 epochs); the published "
        "model.safetensors of the resumed run against an uninterrupted run's, tensor by tensor.",
        "",
        "| run | killed after the checkpoint of step | resume exit code | tensors bit-for-bit equal |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, run in results["resume"].items():
        equal = f"{run['tensors_bitwise_equal']} of {run['tensors']}" if "tensors" in run else "-"
        lines.append(f"| {name} | {run['killed_after_checkpoint_at_step']} | {run['resume_exit_code']} | {equal} |")
    serve = results["serve"]
    if serve:
        lines += [
            "",
            "## `zhcls serve` with clients that misbehave (from reliability-serve.json)",
            "",
            "| probe | measured |",
            "| --- | --- |",
            f"| {serve['stalled_connections']} stalled requests: peak threads, all closed after, a /health "
            f"meanwhile answered after | {serve['stalled_peak_threads']}, {serve['stalled_all_closed_after_s']} s, "
            f"{serve['health_while_stalled_s']} s |",
            f"| malformed requests answered in JSON | {serve['malformed_answered_in_json']} of "
            f"{serve['malformed_requests']} |",
            f"| {serve['connections_reset']} connections reset: tracebacks in the log | "
            f"{serve['tracebacks_after_resets']} |",
            f"| SIGTERM with an idle keep-alive client: exit after, code | {serve['sigterm_exit_after_s']} s, "
            f"{serve['sigterm_exit_code']} |",
        ]
    machine = results["machine"]
    lines += ["", f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "reliability", help="where artifacts are built")
    parser.add_argument("--only", nargs="+", default=None, help="run the corpus cases of these commands only")
    parser.add_argument("--no-resume", action="store_true", help="skip the kill -9 and --resume runs")
    parser.add_argument("--name", default="reliability", help="report name under benchmarks/results")
    args = parser.parse_args()
    artifacts = build_artifacts(args.work)
    results = {"bad_inputs": bad_inputs(artifacts, args.only)}
    results["resume"] = {} if args.no_resume else resume_runs(artifacts, args.work)
    results["serve"] = serve_summary()
    cpu = cpu_info()
    results["machine"] = {"cpu": cpu["model"], "cores": cpu["cores"], "python": platform.python_version()}
    lines = report(results)
    write_results(args.name, lines, results)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
