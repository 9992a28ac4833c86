"""Every command's options (names, flags, type, default, required, multiple, help) match the committed snapshot."""

from __future__ import annotations

import json

from cli_snapshot import SNAPSHOT, current


def test_every_command_keeps_its_options():
    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    now = current()
    assert sorted(now) == sorted(recorded), "commands added or removed: run `python tests/cli_snapshot.py --update`"
    for name, command in recorded.items():
        assert now[name] == command, f"`zhcls {name}` changed: run `python tests/cli_snapshot.py --update` if meant"
