"""Contenders, timing harness and report writer for `zhcls bench` (issue: bench)."""
