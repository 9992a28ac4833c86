"""`zhcls export`: a trained classifier to a verified ONNX export directory."""

from __future__ import annotations

from pathlib import Path

import click

from zhcls.cli.app import cli
from zhcls.cli.options import COUNT, MAX_LENGTH, NUMBER, check_outputs, data_options, data_spec, overwrite_option


@cli.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Export directory to write.")
@click.option(
    "--int8",
    "int8",
    is_flag=False,
    flag_value="dynamic",
    default=None,
    type=click.Choice(["dynamic", "static", "auto"]),
    help="Quantize to int8 (--int8 alone: dynamic). auto: build fp32, dynamic (this CPU's and the portable preset) "
    "and static graphs, keep the fastest here at batch 1 of those that pass the parity gate.",
)
@click.option(
    "--int8-preset",
    default="auto",
    type=click.Choice(["auto", "avx512_vnni", "avx2", "portable"]),
    help="auto: the CPU exporting; portable: 7-bit weights, safe on any x86 CPU.",
)
@click.option(
    "--calibration",
    default="minmax",
    type=click.Choice(["minmax"]),
    help="Static int8: how activation ranges are chosen.",
)
@click.option("--calibration-size", default=200, type=COUNT, help="Static int8: training texts to calibrate on.")
@click.option("--keep-float", multiple=True, help="Regex of node names left in float (repeatable).")
@click.option("--fp16", is_flag=True, help="Float16 weights for GPUs.")
@click.option("--fuse/--no-fuse", default=True, help="ONNX Runtime's transformer fusions.")
@click.option("--max-length", default=None, type=MAX_LENGTH, help="Default: the length the model was trained with.")
@click.option("--verify/--no-verify", default=True, help="Parity gate against PyTorch on the dev split.")
@click.option("--min-agreement", default=None, type=NUMBER, help="Gate floor (default 0.999 fp32/fp16, 0.99 int8).")
@click.option("--trt", default=None, type=click.Choice(["fp16", "int8"]), help="Also build a TensorRT engine.")
@click.option("--triton", is_flag=True, help="Also write a Triton model repository.")
@click.option("--web", is_flag=True, help="Also lay the export out for transformers.js (onnx/, id2label, max length).")
@data_options
@overwrite_option
def export(
    model_dir: Path,
    int8: str | None,
    int8_preset: str,
    calibration: str,
    calibration_size: int,
    keep_float: tuple[str, ...],
    overwrite: bool,
    **kwargs,
) -> None:
    """Export a classifier to ONNX (optionally fused, int8 or fp16), verified against PyTorch."""
    check_outputs(output="dir")
    from zhcls.export.exporter import ExportConfig, export_model, summary
    from zhcls.export.quantize import QuantizeSettings

    spec = data_spec(kwargs, optional=True)
    settings = None
    if int8:
        settings = QuantizeSettings(
            mode=int8,
            preset=int8_preset,
            calibration=calibration,
            calibration_size=calibration_size,
            keep_float=keep_float,
        )
    config = ExportConfig(model=model_dir, int8=settings, data=spec, **kwargs)
    click.echo(summary(config.output, export_model(config, overwrite=overwrite)))
