"""Data-parallel training on one node: one trainer process per GPU, started by torchrun.

A job with `gpu_count` > 1 runs as `python -m torch.distributed.run --standalone
--nproc-per-node=N -m core.trainer …` (the `local` backend, and the entrypoint of a Ray job,
which Ray gives the N GPUs on one node). transformers' Trainer reads torchrun's environment and
trains data-parallel: NCCL on GPUs, gloo on the CPU. Only the first process (rank 0) reports:
metrics, status, the exit record, the adapter and checkpoint uploads; the others train.

Standard library only: the backends build the command with it.
"""

from __future__ import annotations

import os

# torchrun on one node, before its `--nproc-per-node=N` and the trainer's `-m core.trainer`.
TORCHRUN = ("-m", "torch.distributed.run", "--standalone")


def launcher(processes: int) -> list[str]:
    """The interpreter arguments that start `processes` trainers (none for one)."""
    return [*TORCHRUN, f"--nproc-per-node={processes}"] if processes > 1 else []


def rank() -> int:
    """This process's place among the job's trainers; 0 when it is the only one."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_reporter() -> bool:
    """Whether this process writes what the app reads (the first of the job's trainers)."""
    return rank() == 0


def is_distributed() -> bool:
    return world_size() > 1
