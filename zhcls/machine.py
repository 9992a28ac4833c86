"""What a training run was measured on: the CPU (from zhcls.runtime.cpu), torch and its threads, a GPU, zhcls."""

from __future__ import annotations

import platform

import zhcls
from zhcls.runtime.cpu import cpu_info


def machine_info() -> dict:
    """The platform, CPU model, torch version and threads, the GPU if any, and the zhcls version."""
    import torch

    info = {
        "platform": platform.platform(),
        "processor": cpu_info()["model"],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "zhcls": zhcls.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
