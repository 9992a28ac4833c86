"""The `zhcls` command line: each command parses its flags, builds a stage's settings, calls one library function
and prints that function's summary; a user's error is one line on stderr and exit code 2.

`app` holds the group and the entry point, `options` the flags several commands share; each other module holds
the commands of one stage.
"""

from zhcls.cli import bench, data, distill, export, models, predict, pretrain, train  # noqa: F401 (they register commands)
from zhcls.cli.app import cli, main

__all__ = ["cli", "main"]
