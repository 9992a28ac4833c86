"""`zhcls demo`: the whole pipeline offline, end to end, inside one time budget.

vocabulary → pretrain a small encoder → fine-tune it, and a randomly initialized control, keeping the
better teacher on dev → distill a student → export int8 → baselines → bench → report. Minutes of
pretraining on a 2-core CPU may not lift an encoder off the unigram plateau, and an encoder still on it
fine-tunes worse than random weights; the control makes the demo's teacher no worse than training from
zero, and the report of which one won is itself a finding. Every stage writes its own directory under
the output folder; a stage whose directory is complete is skipped, and an interrupted training stage
resumes from its checkpoint, so running the demo again after a kill continues where it stopped. With
`teacher` set (a hub id or a directory) vocabulary, pretraining and the control give way to fine-tuning
that checkpoint.

`config` holds the settings, `budget` how the minutes are shared, `stages` what each stage does, `run` the
loop over them.
"""

from zhcls.demo.config import DEFAULT_DATA, DemoConfig
from zhcls.demo.run import run_demo

__all__ = ["DEFAULT_DATA", "DemoConfig", "run_demo"]
