"""The package's imports run one way, read from the source of every module (docs/architecture.md draws them).

A stage imports earlier stages and the shared modules, never a later stage; `zhcls.runtime` imports nothing of
zhcls but itself and standard-library-only modules, and no third-party package beyond the plain install's; the
command line stays thin.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "zhcls"

# The stages in the order data flows; a module of one may import the stages before it, never one after.
STAGES = (
    "zhcls.data",
    "zhcls.pretrain",
    "zhcls.train",
    "zhcls.baselines",
    "zhcls.contenders",
    "zhcls.distill",
    "zhcls.export",
)
# What one training loop shares with pretrain and distill (the other stages use its published functions only).
SHARED_TRAINING = ("zhcls.train.loop",)
# What reads or drives every stage: these may import anything, and no stage imports them.
CONSUMERS = ("zhcls.bench", "zhcls.demo", "zhcls.serving", "zhcls.cli", "zhcls.__main__")
RUNTIME = "zhcls.runtime"
# Modules the runtime may import besides its own: standard library only (checked below).
RUNTIME_MAY_IMPORT = ("zhcls.errors",)
# Third-party packages of the plain install (numpy + onnxruntime + tokenizers + click); the runtime needs no click.
RUNTIME_THIRD_PARTY = {"numpy", "onnxruntime", "tokenizers"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def imports(module: str) -> set[str]:
    """Every module `module` imports anywhere in its source (inside functions too): full dotted names."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])]
                )
            found.add(base)
            # `from zhcls.distill import run` imports the module zhcls.distill.run
            found |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    return found


def _zhcls_imports(module: str) -> set[str]:
    return {name for name in imports(module) if _within(name, "zhcls") and name != "zhcls"}


def _rank(module: str) -> int | None:
    return next((rank for rank, stage in enumerate(STAGES) if _within(module, stage)), None)


def _arrow_error(module: str, target: str) -> str | None:
    """Why `module` may not import `target`, or None."""
    if _within(target, CONSUMERS):
        return None if _within(module, CONSUMERS) else f"{target} drives the stages; no stage imports it"
    if _within(module, CONSUMERS) or _within(target, RUNTIME):
        return None
    rank, target_rank = _rank(module), _rank(target)
    if target_rank is None:  # a shared module
        return None
    if _within(target, SHARED_TRAINING) and _within(module, ("zhcls.pretrain", "zhcls.distill")):
        return None
    if rank is None:
        return None if target_rank == 0 else f"a shared module imports the stage {STAGES[target_rank]}"
    if target_rank > rank:
        return f"{STAGES[rank]} comes before {STAGES[target_rank]}: an earlier stage imports a later one"
    if target_rank < rank and _within(target, "zhcls.train"):
        return "of zhcls.train, other stages use the training loop only (zhcls.train.loop)"
    return None


@pytest.mark.parametrize("module", [m for m in MODULES if not _within(m, RUNTIME)])
def test_no_stage_imports_a_later_one(module):
    wrong = {target: _arrow_error(module, target) for target in _zhcls_imports(module)}
    assert not {t: why for t, why in wrong.items() if why}, f"{module} imports against the flow of data"


@pytest.mark.parametrize("module", [m for m in MODULES if _within(m, RUNTIME)])
def test_the_runtime_imports_nothing_heavy_and_nothing_of_zhcls_but_itself(module):
    zhcls = {name for name in _zhcls_imports(module) if not _within(name, (RUNTIME, *RUNTIME_MAY_IMPORT))}
    assert not zhcls, f"{module} imports {zhcls}"
    top_level = {name.split(".")[0] for name in imports(module) if not _within(name, "zhcls")}
    heavy = top_level - set(sys.stdlib_module_names) - RUNTIME_THIRD_PARTY
    assert not heavy, f"{module} imports {heavy}, which the plain install does not bring"


@pytest.mark.parametrize("module", RUNTIME_MAY_IMPORT)
def test_what_the_runtime_may_import_is_standard_library_only(module):
    others = {name.split(".")[0] for name in imports(module)} - set(sys.stdlib_module_names)
    assert not others, f"{module} imports {others}"


def test_the_walk_sees_the_arrows_it_should_refuse():
    assert _arrow_error("zhcls.distill.run", "zhcls.bench.report")
    assert _arrow_error("zhcls.data", "zhcls.train.loop")
    assert _arrow_error("zhcls.export.exporter", "zhcls.train.finetune")
    assert _arrow_error("zhcls.models", "zhcls.distill.students")
    assert _arrow_error("zhcls.distill.run", "zhcls.train.loop") is None
    assert "zhcls.contenders" in _zhcls_imports("zhcls.distill.ensemble")


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda path: path.name)
def test_the_command_line_is_thin(path):
    """No function of zhcls/cli is longer than 40 lines: the work happens in the library it calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    long = {f.name: f.end_lineno - f.lineno + 1 for f in functions if f.end_lineno - f.lineno + 1 > 40}
    assert not long, f"{path.name}: {long}"
