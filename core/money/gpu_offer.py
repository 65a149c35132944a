"""The GPU types a new job may ask for, and what each costs per hour.

A cluster offers the types of the rates table (`[gpu_rates]` of settings.toml). The local backend
offers what this machine has: `cpu`, and the GPUs that NVML finds, by name and count; any other
type is refused, so no job is billed for hardware that is not there. Own hardware costs
`local_rate` US$ per device-hour (default 0; the CPU counts as one device).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from dataclasses import dataclass

from core.config import Settings
from core.errors import InvalidRequestError

log = logging.getLogger(__name__)

CPU = "cpu"


@dataclass(frozen=True)
class GpuOffer:
    rates: dict[str, float]  # type → US$ per device-hour
    counts: dict[str, int] | None  # local: how many of each this machine has; None: the cluster's to say

    def choose(self, gpu_type: str, gpu_count: int) -> tuple[str, float]:
        """The type as offered (a GPU named by part of its name, such as `H100`) and its rate,
        or InvalidRequestError in one line saying what there is."""
        name = self._match(gpu_type)
        if self.counts is not None and name != CPU and gpu_count > self.counts[name]:
            raise InvalidRequestError(
                f"this machine has {self.counts[name]} {name}; a local job cannot use {gpu_count}"
            )
        return name, self.rates[name]

    def _match(self, gpu_type: str) -> str:
        if gpu_type in self.rates:
            return gpu_type
        if self.counts is None:
            known = ", ".join(sorted(self.rates))
            raise InvalidRequestError(f"unknown GPU type {gpu_type!r}; known types: {known}")
        wanted = gpu_type.strip().lower()
        found = [name for name in self.rates if wanted and wanted in name.lower()]
        if len(found) == 1:
            return found[0]
        raise InvalidRequestError(
            f"GPU type {gpu_type!r} is not on this machine; the local backend offers {self.describe()}"
        )

    def describe(self) -> str:
        """ "cpu, NVIDIA H100 80GB HBM3 (×2)"."""
        counts = self.counts or {}
        return ", ".join(
            f"{name} (×{counts[name]})" if name != CPU and counts.get(name) else name for name in self.rates
        )


def gpu_offer(settings: Settings) -> GpuOffer:
    if settings.cluster != "local":
        return GpuOffer(dict(settings.gpu_rates), None)
    found = local_gpus()
    rates = {CPU: settings.local_rate, **{name: settings.local_rate for name in found}}
    return GpuOffer(rates, {CPU: 1, **found})


@functools.cache
def local_gpus() -> dict[str, int]:
    """The GPUs of this machine by NVML name, with their count; none without NVML (no NVIDIA
    driver, or nvidia-ml-py not installed in this Python)."""
    try:
        import pynvml
    except ImportError:
        return {}
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver: a machine without NVIDIA GPUs
        log.debug("NVML unavailable: %s", exc)
        return {}
    try:
        names = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return dict(Counter(names))
    except Exception as exc:
        log.debug("NVML could not list the GPUs: %s", exc)
        return {}
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
