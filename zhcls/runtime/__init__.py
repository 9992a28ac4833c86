"""Torch-free inference: tokenizer + ONNX Runtime session + batching (issue: runtime).

Nothing in this package imports torch, transformers or another zhcls subpackage.
"""
