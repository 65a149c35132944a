"""Whether NVML sees an NVIDIA GPU, asked through ctypes: the app carries no pynvml, and the
setup must decide between the CPU and the CUDA build of torch before torch exists."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


def nvml_gpu_count() -> int:
    """GPUs the NVIDIA driver reports; 0 without a driver, a GPU or a working NVML."""
    names = ["nvml.dll"] if sys.platform == "win32" else ["libnvidia-ml.so.1", "libnvidia-ml.so"]
    found = ctypes.util.find_library("nvidia-ml")
    for name in [*names, *([found] if found else [])]:
        try:
            nvml = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if nvml.nvmlInit_v2() != 0:
                return 0
            count = ctypes.c_uint(0)
            ok = nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0
            nvml.nvmlShutdown()
        except AttributeError:  # a library by that name without these entry points
            return 0
        return count.value if ok else 0
    return 0
