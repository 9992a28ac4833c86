"""Every `zhcls` command's options as data, and the snapshot they are compared with (cli_options_snapshot.json).

A command added or changed on purpose updates the snapshot, from the repository root:

    .venv/bin/python tests/cli_snapshot.py --update

and the diff of tests/cli_options_snapshot.json shows what changed for users.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parent / "cli_options_snapshot.json"


def _param(param) -> dict:
    """What a user sees of one option or argument: names, type, default, required, multiple, help."""
    import click

    info = param.to_info_dict()
    if isinstance(param.type, click.Path):
        info["type"]["path_type"] = getattr(param.type.type, "__name__", None)  # str without path_type
    if isinstance(param, click.Option):
        info["show_default"] = param.show_default
    return info


def _command(command, name: str, parent=None) -> dict:
    import click

    # As when it runs: a command's context inherits the group's settings (help option names, show_default).
    context = click.Context(command, info_name=name, parent=parent, **command.context_settings)
    return {
        "help": command.help,
        "short_help": command.get_short_help_str(),
        "context_settings": {k: v for k, v in command.context_settings.items() if k != "obj"},
        "params": [_param(param) for param in command.get_params(context)],
    }


def current() -> dict:
    """The option lists of the `zhcls` group and each of its commands, by command name."""
    import click

    from zhcls.cli import cli

    group = click.Context(cli, info_name="zhcls", **cli.context_settings)
    record = {"zhcls": _command(cli, "zhcls")}
    for name in sorted(cli.commands):
        record[name] = _command(cli.commands[name], name, group)
    return json.loads(json.dumps(record, default=repr))  # as the committed file reads back


def main(argv: list[str]) -> int:
    """`--update` writes the snapshot; without it, say whether the command line still matches it."""
    if "--update" in argv:
        SNAPSHOT.write_text(json.dumps(current(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {SNAPSHOT}")  # noqa: T201
        return 0
    matches = json.loads(SNAPSHOT.read_text(encoding="utf-8")) == current()
    print("matches" if matches else "differs; run with --update if the change is intended")  # noqa: T201
    return 0 if matches else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main(sys.argv[1:]))
