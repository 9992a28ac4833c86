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
from zhcls.export import select
from zhcls.export.quantize import QuantizeSettings, fuse, quantize, to_fp16
from zhcls.export.web import FP32_SOURCE, check_web_precision, link_or_copy, write_web_layout
from zhcls.models import InputSettings, encode_texts, first_line, recorded_config, weights_sha256
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
        if self.auto and not self.verify:
            raise UserError("--int8 auto keeps only graphs that pass the parity gate: leave out --no-verify")
        if self.auto and (self.web or self.trt):
            raise UserError("--int8 auto picks the graph for this CPU; --web and --trt take --int8 dynamic or static")
        if self.web:
            check_web_precision(self.precision)

    @property
    def fuses(self) -> bool:
        """Whether ONNX Runtime's transformer fusion runs. Not before static QDQ: its calibration needs ONNX shape
        inference, which stops at the fused contrib ops; ONNX Runtime fuses the quantized graph when it loads it."""
        return self.fuse and not (self.int8 is not None and self.int8.mode == "static")

    @property
    def auto(self) -> bool:
        """Whether the graph is chosen among candidates (`--int8 auto`, zhcls.export.select)."""
        return self.int8 is not None and self.int8.mode == "auto"

    @property
    def precision(self) -> str:
        """fp32, fp16 or int8 (with --int8 auto, that of the candidate chosen later, int8 or fp32)."""
        return "int8" if self.int8 is not None else "fp16" if self.fp16 else "fp32"


def reference_logits(model_dir: Path, texts: list[str], inputs: InputSettings) -> np.ndarray:
    """The PyTorch model's logits on `texts`, what an export is compared with."""
    from zhcls.models import classify_logits, load_classifier, load_tokenizer

    return classify_logits(load_classifier(model_dir), load_tokenizer(model_dir), texts, inputs=inputs)


def verify(
    model_dir: Path,
    export_dir: Path,
    texts: list[str],
    gold: list[int] | None,
    inputs: InputSettings,
    reference: np.ndarray | None = None,
) -> dict:
    """Run the PyTorch model (unless its logits are given as `reference`) and the exported artifact on `texts`;
    compare logits, labels and accuracy."""
    from zhcls.runtime import Classifier

    if reference is None:
        reference = reference_logits(model_dir, texts, inputs)
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


def export_model(config: ExportConfig, *, overwrite: bool = False, timer: select.Timer | None = None) -> Manifest:
    """Export, optimize, quantize, verify and publish (replacing an existing output only with `overwrite`); returns
    the written manifest. `timer` times --int8 auto's candidates (default: zhcls.export.select.median_ms)."""
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
        manifest = _build(config, model, tokenizer, labels, data, inputs, staged, timer)
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
    timer: select.Timer | None = None,
) -> Manifest:
    import onnx

    model_dir = config.model
    with tempfile.TemporaryDirectory(dir=staged) as tmp:
        exported = current = Path(tmp) / "model.onnx"
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
        precision, selection, parity = config.precision, {}, {}
        if config.auto:
            # Static QDQ calibrates a graph of the model's default attention (see export_model), unfused.
            graphs = {"fp32": current, "unfused": None if config.fuses else exported}
            chosen, selection = _choose_graph(config, tokenizer, labels, data, inputs, graphs, fusion, Path(tmp), timer)
            current, precision, parity = chosen.folder / "model.onnx", chosen.precision, chosen.parity
            quantization, fusion = chosen.quantization, chosen.fusion
        elif config.int8 is not None:
            feeds = calibration_feeds(config.int8, data, tokenizer, inputs) if config.int8.mode == "static" else None
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
    manifest = graph_manifest(
        staged / "model.onnx",
        labels,
        inputs,
        tokenizer,
        precision=precision,
        source_model_sha256=weights_sha256(model_dir),
        zhcls_version=zhcls.__version__,
        quantization=quantization,
        fusion=fusion,
        exported_on={"cpu": cpu_info()["model"], "flags": cpu_info()["flags"], "opset": OPSET},
        selection=selection,
    )
    manifest.write(staged)

    if parity:  # --int8 auto gated the chosen graph among the others
        manifest.parity = parity
        manifest.write(staged)
    elif config.verify:
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


def graph_manifest(graph: Path, labels: list[str], inputs: InputSettings, tokenizer, **fields) -> Manifest:
    """The manifest of the ONNX graph at `graph` (its input names read from it) and `tokenizer`, with `fields`."""
    import onnx

    input_names = [i.name for i in onnx.load(str(graph), load_external_data=False).graph.input]
    return Manifest(
        labels=labels,
        max_length=inputs.max_length,
        truncation=inputs.truncation,
        input_names=input_names,
        special_tokens={
            "cls": tokenizer.cls_token_id,
            "sep": tokenizer.sep_token_id,
            "pad": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        },
        **fields,
    )


def calibration_feeds(
    settings: QuantizeSettings, data: DataSpec | None, tokenizer, inputs: InputSettings
) -> list[dict[str, np.ndarray]]:
    """Static int8's calibration inputs: the first `calibration_size` training texts, one feed each."""
    if data is None:
        raise UserError("--int8 static calibrates on training texts: give --data")
    texts = load_splits(data).train.texts[: settings.calibration_size]
    return [
        {
            "input_ids": np.asarray([ids], dtype=np.int64),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
            "token_type_ids": np.zeros((1, len(ids)), dtype=np.int64),
        }
        for ids in encode_texts(tokenizer, texts, inputs)
    ]


def _choose_graph(
    config: ExportConfig,
    tokenizer,
    labels: list[str],
    data: DataSpec | None,
    inputs: InputSettings,
    graphs: dict[str, Path | None],
    fusion: dict,
    work: Path,
    timer: select.Timer | None,
) -> tuple[select.Candidate, dict]:
    """--int8 auto: each candidate of zhcls.export.select built as an export directory in `work` from `graphs` (fp32:
    the graph dynamic int8 quantizes; unfused: the one static int8 calibrates on, None: made when needed), gated on
    parity, those that pass timed here by `timer` (default: medians of interleaved calls); the one chosen, and the
    manifest's `selection`."""
    from zhcls.runtime import Classifier

    tokenizer.save_pretrained(str(work / "tokenizer"))
    tried, memo = select.candidates(config.int8), {}
    for index, candidate in enumerate(tried):
        folder = work / f"candidate-{index}"
        folder.mkdir()
        try:
            _build_candidate(candidate, config, tokenizer, data, inputs, graphs, fusion, folder)
        except Exception as exc:  # a quantizer failing on this graph, --keep-float matching none of its nodes
            candidate.error = first_line(exc)[:300]
            log.warning("--int8 auto: %s left out (%s)", candidate.name, candidate.error)
            continue
        shutil.copy2(work / "tokenizer" / "tokenizer.json", folder / "tokenizer.json")
        fields = {"precision": candidate.precision, "quantization": candidate.quantization, "fusion": candidate.fusion}
        graph_manifest(folder / "model.onnx", labels, inputs, tokenizer, **fields).write(folder)
        candidate.folder = folder
        candidate.parity = _parity(config, config.model, folder, data, labels, inputs, memo)
        candidate.passed = candidate.parity["argmax_agreement"] >= candidate.parity["min_agreement"]
    # Workers that do not busy-wait: the candidates take turns on the same cores.
    predictors = {c.name: Classifier.load(c.folder, spin=False).predict_logits for c in tried if c.passed}
    if predictors:
        texts, _, _ = _parity_texts(data, config.verify_size)
        select.time_candidates(tried, predictors, texts, timer or select.median_ms)
    chosen = select.choose(tried)
    if chosen is None:
        reasons = "; ".join(f"{c.name}: {c.outcome()}" for c in tried)
        raise UserError(f"--int8 auto: no candidate graph passed the parity gate ({reasons})")
    log.info(
        "--int8 auto chose %s: %s",
        chosen.name,
        ", ".join(f"{c.name} {c.timings_ms.get('batch1', '-')} ms at batch 1" for c in tried if c.passed),
    )
    return chosen, select.selection_record(tried, chosen)


def _build_candidate(
    candidate: select.Candidate,
    config: ExportConfig,
    tokenizer,
    data: DataSpec | None,
    inputs: InputSettings,
    graphs: dict[str, Path | None],
    fusion: dict,
    folder: Path,
) -> None:
    """The candidate's graph as folder/model.onnx, and its precision, quantization and fusion."""
    target, settings = folder / "model.onnx", candidate.quantize
    if settings is None:
        shutil.copy2(graphs["fp32"], target)
        candidate.fusion = fusion
        return
    candidate.precision = "int8"
    if settings.mode == "dynamic":
        candidate.quantization, candidate.fusion = quantize(graphs["fp32"], target, settings), fusion
        return
    if graphs["unfused"] is None:
        from zhcls.models import load_classifier

        graphs["unfused"] = folder.parent / "unfused.onnx"
        export_graph(load_classifier(config.model), graphs["unfused"])
    feeds = calibration_feeds(settings, data, tokenizer, inputs)
    candidate.quantization = quantize(graphs["unfused"], target, settings, feeds)


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
    report = _parity(config, model_dir, checked or staged, data, labels, inputs)
    precision, floor = Manifest.read(checked or staged).precision, report["min_agreement"]
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


def _parity_texts(data: DataSpec, size: int) -> tuple[list[str], list[str], str]:
    """The parity gate's sample: texts and labels of the dev split (the test split where dev is empty), and which."""
    splits = load_splits(data)
    split = "dev" if len(splits.dev) else "test"
    texts, labels = parity_sample(splits.dev if split == "dev" else splits.test, size)
    return texts, labels, split


def _parity(
    config: ExportConfig,
    model_dir: Path,
    checked: Path,
    data: DataSpec | None,
    labels: list[str],
    inputs: InputSettings,
    memo: dict | None = None,
) -> dict:
    """The parity figures of the export in `checked` and the floor its precision must reach (`min_agreement`);
    `memo` keeps the PyTorch logits for the next export checked."""
    if data is None:
        raise UserError(f"{model_dir} records no data set to verify on: give --data, or --no-verify")
    texts, dev_labels, split = _parity_texts(data, config.verify_size)
    index = {label: i for i, label in enumerate(labels)}
    gold = [index.get(label, -1) for label in dev_labels]
    if memo is not None and "reference" not in memo:
        memo["reference"] = reference_logits(model_dir, texts, inputs)
    report = verify(model_dir, checked, texts, gold, inputs, memo["reference"] if memo is not None else None)
    precision = Manifest.read(checked).precision
    report["min_agreement"] = config.min_agreement or AGREEMENT_FLOOR[precision]
    report["split"] = split
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
    if manifest.selection:
        timed = [c for c in manifest.selection["candidates"] if c.get("timings_ms")]
        line += f"; --int8 auto chose {manifest.selection['chosen']} among " + ", ".join(
            f"{c['name']} {c['timings_ms']['batch1']:.2f} ms" for c in timed
        )
        line += " (batch 1, here)"
    if "web" in manifest.extras:
        line += f"; for transformers.js: {', '.join(manifest.extras['web']['files'].values())}"
    return line
