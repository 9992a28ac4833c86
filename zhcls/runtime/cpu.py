"""What the CPU can do and this process's peak memory, for benchmarks and int8 choices (no third-party imports)."""

from __future__ import annotations

import os
import platform
import sys
from functools import lru_cache
from pathlib import Path

FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    """CPU model, core count and the instruction-set flags that matter for int8 and bf16 kernels."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
                if model != platform.machine():
                    break
    return {
        "model": model,
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "flags": {name: name in flags for name in FLAGS},
    }


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's share; `cpu_info` records the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def has_vnni() -> bool:
    """Whether int8 dot products run without 16-bit saturation (AVX-512 VNNI or AVX-VNNI)."""
    flags = cpu_info()["flags"]
    return flags["avx512_vnni"] or flags["avx_vnni"]


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started its program.

    Linux carries `ru_maxrss` across fork and exec, so a spawned child would report its parent's peak
    whenever that is larger; VmHWM belongs to the new program's address space alone.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource  # not on Windows, which has neither /proc nor this fallback

    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
