"""The README stays a short manual: its two commands first, its results table generated, its links alive."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIRST_COMMANDS = [
    "bash scripts/setup.sh && . .venv/bin/activate && zhcls demo",
    "bash scripts/setup.sh && .venv/bin/python -m pytest -q",
]


def test_the_readme_is_short_and_opens_with_its_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 12 * 1024
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert [block.strip() for block in blocks[:2]] == FIRST_COMMANDS


def test_the_results_table_is_what_the_bench_reports_give():
    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "benchmarks" / "readme_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = README.read_text(encoding="utf-8")
    assert module.current_block(text) == module.block(), "run python benchmarks/readme_results.py"
    assert len(module.table().splitlines()) - 2 <= 8  # rows beyond the header
    demo = (module.DEMO_START, module.DEMO_END)
    assert module.current_block(text, *demo) == module.block(*demo), "run python benchmarks/readme_results.py"


def test_every_local_link_of_the_readme_and_docs_exists():
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name}: {target}"
