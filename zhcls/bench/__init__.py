"""Benchmark harness: contenders, interleaved timing, reports."""
