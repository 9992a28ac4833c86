"""ONNX export, graph fusion, quantization, TensorRT and Triton artifacts (issue: export)."""
