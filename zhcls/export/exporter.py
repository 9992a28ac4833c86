"""`zhcls export`: a trained classifier directory → a verified, deployable ONNX export directory."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zhcls
from zhcls.atomic import check_output, replace_dir
from zhcls.data import DataSpec, Examples, load_splits
from zhcls.errors import UserError, require
from zhcls.export.quantize import QuantizeSettings, fuse, quantize, to_fp16
from zhcls.export.web import FP32_SOURCE, check_web_precision, link_or_copy, write_web_layout
from zhcls.models import InputSettings, encode_texts, recorded_config, weights_sha256
from zhcls.runtime.cpu import cpu_info
from zhcls.runtime.manifest import Manifest

log = logging.getLogger(__name__)

OPSET = 18  # the lowest opset Optimum recommends for BERT; ONNX Runtime (also on the web) runs it
AGREEMENT_FLOOR = {"fp32": 0.999, "fp16": 0.999, "int8": 0.99}
# A text whose two best PyTorch logits lie closer than this is a tie that any rounding may flip: the
# gate counts agreement on the other texts. A real defect (u8s8 saturation moved scores by 0.04) still
# flips texts with margins far above it.
NEAR_TIE_MARGIN = 0.01


@dataclass(frozen=True)
class ExportConfig:
    """What to export, how, and how strictly to check it."""

    model: Path
    output: Path
    int8: QuantizeSettings | None = None
    fp16: bool = False
    fuse: bool = True
    max_length: int | None = None
    verify: bool = True
    min_agreement: float | None = None
    data: DataSpec | None = None
    verify_size: int = 1000
    trt: str | None = None
    triton: bool = False
    web: bool = False

    def __post_init__(self) -> None:
        if self.int8 is not None and self.fp16:
            raise UserError("choose one of --int8 and --fp16")
        if self.trt not in (None, "fp16", "int8"):
            raise UserError("--trt must be fp16 or int8")
        if self.trt == "int8" and (self.int8 is None or self.int8.mode != "static" or self.fuse):
            raise UserError("--trt int8 builds from a QDQ graph of standard ops: add --int8 static --no-fuse")
        if self.min_agreement is not None and not 0 < self.min_agreement <= 1:
            raise UserError("--min-agreement must be in (0, 1]")
        if self.web:
            check_web_precision(self.precision)

    @property
    def fuses(self) -> bool:
        """Whether ONNX Runtime's transformer fusion runs. Not before static QDQ: its calibration needs ONNX shape
        inference, which stops at the fused contrib ops; ONNX Runtime fuses the quantized graph when it loads it."""
        return self.fuse and not (self.int8 is not None and self.int8.mode == "static")

    @property
    def precision(self) -> str:
        """fp32, fp16 or int8."""
        return "int8" if self.int8 is not None else "fp16" if self.fp16 else "fp32"


def verify(model_dir: Path, export_dir: Path, texts: list[str], gold: list[int] | None, inputs: InputSettings) -> dict:
    """Run the PyTorch model and the exported artifact on `texts`; compare logits, labels and accuracy."""
    from zhcls.models import classify_logits, load_classifier, load_tokenizer
    from zhcls.runtime import Classifier

    reference = classify_logits(load_classifier(model_dir), load_tokenizer(model_dir), texts, inputs=inputs)
    exported = Classifier.load(export_dir).predict_logits(texts)
    agree = reference.argmax(-1) == exported.argmax(-1)
    best_two = np.sort(reference, axis=-1)[:, -2:]
    decided = best_two[:, 1] - best_two[:, 0] >= NEAR_TIE_MARGIN
    report = {
        "texts": len(texts),
        "max_abs_logit_diff": float(np.abs(reference - exported).max()),
        "argmax_agreement": float(agree[decided].mean()) if decided.any() else 1.0,
        "near_ties": int((~decided).sum()),
        "argmax_agreement_with_ties": float(agree.mean()),
    }
    if gold is not None:
        gold_array = np.asarray(gold)
        report["accuracy_pytorch"] = float((reference.argmax(-1) == gold_array).mean())
        report["accuracy_export"] = float((exported.argmax(-1) == gold_array).mean())
    return report


def export_graph(model, path: Path) -> None:
    """The classifier as an ONNX graph: token ids, attention mask (and token types) in, `logits` out; batch and
    sequence axes dynamic.

    torch.onnx's TorchScript exporter, as Optimum drives it for BERT, gives the graph ONNX Runtime's transformer
    fusion recognizes; calling it directly keeps export working on transformers 5, which Optimum's exporter
    does not support yet. For the fusion, give it a model with eager attention (see export_model).
    """
    import inspect
    import warnings

    import torch

    # The encoder inputs this architecture takes, in forward's order (BERT: ids, mask, token types, as Optimum
    # names them). Not the tokenizer's model_input_names: transformers 5 leaves token_type_ids out of them.
    encoder_inputs = ("input_ids", "attention_mask", "token_type_ids")
    input_names = [name for name in inspect.signature(model.forward).parameters if name in encoder_inputs]
    # Token type 0 exists in every vocabulary of types (some models have only that one).
    example = {name: torch.full((2, 8), int(name != "token_type_ids")) for name in input_names}
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in input_names}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python values that are constants here
        torch.onnx.export(
            model,
            (),
            str(path),
            kwargs=example,
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch_size"}},
            opset_version=OPSET,
            dynamo=False,
        )


def export_model(config: ExportConfig, *, overwrite: bool = False) -> Manifest:
    """Export, optimize, quantize, verify and publish (replacing an existing output only with `overwrite`); returns
    the written manifest."""
    require("torch", "train")
    from zhcls.models import load_classifier, load_tokenizer, model_labels

    model_dir = config.model
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: no such model directory")
    check_output(config.output, overwrite=overwrite, inputs=[model_dir])
    if config.trt:
        require("tensorrt", "trt")
    # The fusion recognizes eager attention's graph, not SDPA's (transformers 5's default). Unfused graphs keep
    # the default: static QDQ would quantize eager attention's additive mask (a huge negative) with the scores.
    model = load_classifier(model_dir, attn_implementation="eager" if config.fuses else None)
    tokenizer = load_tokenizer(model_dir)
    labels = model_labels(model)
    recorded = recorded_config(model_dir) or {}
    inputs = InputSettings.from_config(recorded, config.max_length)
    data = config.data or (DataSpec.from_dict(recorded["data"]) if "data" in recorded else None)
    if config.verify and data is not None:
        data_labels = load_splits(data).labels
        if set(data_labels) - set(labels):
            raise UserError(
                f"the labels of {data.data} ({', '.join(data_labels)}) differ from the model's ({', '.join(labels)}); "
                "the parity gate scores the export on them: give the data the model was trained on, or --no-verify"
            )

    staged = config.output.parent / f".{config.output.name}.partial"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        manifest = _build(config, model, tokenizer, labels, data, inputs, staged)
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # published or rejected by now, unless something failed
    return manifest


def _build(
    config: ExportConfig,
    model,
    tokenizer,
    labels: list[str],
    data: DataSpec | None,
    inputs: InputSettings,
    staged: Path,
) -> Manifest:
    import onnx

    model_dir = config.model
    with tempfile.TemporaryDirectory(dir=staged) as tmp:
        current = Path(tmp) / "model.onnx"
        export_graph(model, current)
        onnx.checker.check_model(str(current))
        if config.trt:  # TensorRT parses standard ONNX ops only, not ONNX Runtime's fused contrib ops
            shutil.copy2(current, staged / "model_trt.onnx")
        fusion: dict[str, int] = {}
        if config.fuses:
            fused = Path(tmp) / "fused.onnx"
            fusion = fuse(current, fused, model.config.num_attention_heads, model.config.hidden_size)
            current = fused
            log.info("fused: %s", ", ".join(f"{k} {v}" for k, v in fusion.items()) or "nothing")
        if config.web and config.int8 is not None:
            (staged / FP32_SOURCE).parent.mkdir()
            shutil.copy2(current, staged / FP32_SOURCE)
        quantization: dict = {}
        if config.int8 is not None:
            feeds = None
            if config.int8.mode == "static":
                if data is None:
                    raise UserError("--int8 static calibrates on training texts: give --data")
                texts = load_splits(data).train.texts[: config.int8.calibration_size]
                feeds = [
                    {
                        "input_ids": np.asarray([ids], dtype=np.int64),
                        "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
                        "token_type_ids": np.zeros((1, len(ids)), dtype=np.int64),
                    }
                    for ids in encode_texts(tokenizer, texts, inputs)
                ]
            quantized = Path(tmp) / "int8.onnx"
            quantization = quantize(current, quantized, config.int8, feeds)
            current = quantized
        elif config.fp16:
            half = Path(tmp) / "fp16.onnx"
            to_fp16(current, half)
            current = half
        shutil.move(str(current), staged / "model.onnx")
    model.config.to_json_file(staged / "config.json")
    tokenizer.save_pretrained(str(staged))
    input_names = [i.name for i in onnx.load(str(staged / "model.onnx"), load_external_data=False).graph.input]
    manifest = Manifest(
        labels=labels,
        max_length=inputs.max_length,
        truncation=inputs.truncation,
        input_names=input_names,
        precision=config.precision,
        special_tokens={
            "cls": tokenizer.cls_token_id,
            "sep": tokenizer.sep_token_id,
            "pad": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        },
        source_model_sha256=weights_sha256(model_dir),
        zhcls_version=zhcls.__version__,
        quantization=quantization,
        fusion=fusion,
        exported_on={"cpu": cpu_info()["model"], "flags": cpu_info()["flags"], "opset": OPSET},
    )
    manifest.write(staged)

    if config.verify:
        manifest.parity = _gate(config, model_dir, staged, data, labels, inputs)
        manifest.write(staged)
    if config.web:
        web = write_web_layout(staged, manifest)
        if config.verify and "fp32" in web["files"] and manifest.precision != "fp32":
            web["fp32_parity"] = _gate_fp32_variant(config, model_dir, staged, web["files"]["fp32"], manifest, data)
        manifest.extras["web"] = web
        manifest.write(staged)
    if config.trt:
        from zhcls.export.tensorrt import build_engine

        source = staged / ("model.onnx" if config.trt == "int8" else "model_trt.onnx")
        manifest.extras["tensorrt"] = build_engine(source, staged / "model.plan", config.trt, inputs.max_length)
        (staged / "model_trt.onnx").unlink()
        manifest.write(staged)
    if config.triton:
        from zhcls.export.triton import write_model_repository

        manifest.extras["triton"] = write_model_repository(staged, manifest)
        manifest.write(staged)
    replace_dir(staged, config.output)
    return manifest


def _gate_fp32_variant(
    config: ExportConfig, model_dir: Path, staged: Path, graph: str, manifest: Manifest, data: DataSpec | None
) -> dict:
    """The parity gate run on the fp32 graph an int8 export ships for the web, through a manifest naming it."""
    # Beside the staged export, not inside it: a failing gate moves the staged export away.
    with tempfile.TemporaryDirectory(dir=staged.parent, prefix=f".{staged.name}.fp32-") as tmp:
        view = Path(tmp)
        link_or_copy(staged / graph, view / "model.onnx")
        shutil.copy2(staged / manifest.tokenizer_file, view / manifest.tokenizer_file)
        dataclasses.replace(manifest, precision="fp32", quantization={}, parity={}, extras={}).write(view)
        inputs = InputSettings(manifest.max_length, manifest.truncation)
        return _gate(config, model_dir, staged, data, manifest.labels, inputs, checked=view)


def parity_sample(examples: Examples, size: int) -> tuple[list[str], list[str]]:
    """Texts and labels of a seeded sample of `size` examples, in their split's order. Not the first rows:
    splits keep the file's order, which is often grouped by label."""
    rows = np.sort(np.random.default_rng(0).permutation(len(examples))[:size])
    return [examples.texts[i] for i in rows], [examples.labels[i] for i in rows]


def _gate(
    config: ExportConfig,
    model_dir: Path,
    staged: Path,
    data: DataSpec | None,
    labels: list[str],
    inputs: InputSettings,
    checked: Path | None = None,
) -> dict:
    """The parity figures of `checked` (default: the staged export); below the floor it raises, keeping the
    staged export to inspect."""
    checked = checked or staged
    if data is None:
        raise UserError(f"{model_dir} records no data set to verify on: give --data, or --no-verify")
    splits = load_splits(data)
    dev = splits.dev if len(splits.dev) else splits.test
    texts, dev_labels = parity_sample(dev, config.verify_size)
    index = {label: i for i, label in enumerate(labels)}
    gold = [index.get(label, -1) for label in dev_labels]
    report = verify(model_dir, checked, texts, gold, inputs)
    precision = Manifest.read(checked).precision
    floor = config.min_agreement or AGREEMENT_FLOOR[precision]
    report["min_agreement"] = floor
    report["split"] = "dev" if len(splits.dev) else "test"
    log.info(
        "parity on %d %s texts: argmax agreement %.4f (%d near ties left out), max |Δlogit| %.4g, accuracy %.4f → %.4f",
        report["texts"],
        report["split"],
        report["argmax_agreement"],
        report["near_ties"],
        report["max_abs_logit_diff"],
        report.get("accuracy_pytorch", float("nan")),
        report.get("accuracy_export", float("nan")),
    )
    if report["argmax_agreement"] < floor:
        rejected = config.output.parent / f"{config.output.name}.rejected"
        shutil.rmtree(rejected, ignore_errors=True)
        staged.rename(rejected)
        raise UserError(
            f"parity gate failed: the {precision} export agrees with PyTorch on "
            f"{100 * report['argmax_agreement']:.2f}% of {report['texts']} {report['split']} texts, below "
            f"{100 * floor:.1f}% (max |Δlogit| {report['max_abs_logit_diff']:.3g}); kept for inspection at {rejected}; "
            "--no-verify skips the gate"
        )
    return report


def summary(output: Path, manifest: Manifest) -> str:
    """The export's precision and size, its agreement with PyTorch, and its transformers.js files if laid out."""
    parity = manifest.parity
    line = f"{output}: {manifest.precision}, {(output / manifest.model_file).stat().st_size / 1e6:.1f} MB"
    if parity:
        line += (
            f", argmax agreement {100 * parity['argmax_agreement']:.2f}% on {parity['texts']} "
            f"{parity['split']} texts, max |Δlogit| {parity['max_abs_logit_diff']:.3g}"
        )
    if "web" in manifest.extras:
        line += f"; for transformers.js: {', '.join(manifest.extras['web']['files'].values())}"
    return line
