"""What a run records of its machine: the CPU as zhcls.runtime.cpu reads it, torch, and zhcls."""

from __future__ import annotations

import zhcls
from zhcls.machine import machine_info
from zhcls.runtime.cpu import cpu_info


def test_the_machine_record_names_the_cpu_once_read():
    info = machine_info()
    assert info["processor"] == cpu_info()["model"]
    assert info["zhcls"] == zhcls.__version__ and info["threads"] >= 1 and info["torch"]
