"""GPU utilisation and memory from NVML, read once per step on a CUDA machine."""

from __future__ import annotations

from typing import Any


class GpuProbe:
    """Reads the GPU a run trains on; every reading is (None, None) without one.

    NVML failing mid-run (driver reset, missing library) turns the probe off rather than the run:
    the figures are for watching, not for training.
    """

    def __init__(self, device: Any) -> None:
        self._handle: Any = None
        if getattr(device, "type", None) != "cuda":
            return
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            # Find the device by UUID: CUDA_VISIBLE_DEVICES renumbers CUDA's view, not NVML's.
            uuid = str(torch.cuda.get_device_properties(device).uuid)
            uuid = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
            try:
                self._handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
            except pynvml.NVMLError:
                index = device.index if device.index is not None else torch.cuda.current_device()
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception:
            self._handle = None

    def read(self) -> tuple[float | None, float | None]:
        """(utilisation in %, memory used in GB)."""
        if self._handle is None:
            return None, None
        try:
            utilization = self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
            memory = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used
        except Exception:
            self._handle = None
            return None, None
        return float(utilization), round(memory / 1e9, 3)
