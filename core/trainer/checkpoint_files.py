"""Where a run's checkpoints lie, which one is the latest, and the one-file form they travel in.

The trainer saves a checkpoint every `checkpoint_interval` steps and when it is stopped, in the
Hugging Face layout: `<output_dir>/checkpoints/checkpoint-<step>/` (adapter, optimizer,
scheduler, RNG state, `trainer_state.json`). The `local` backend reads them from the job's folder
to continue a job; a run on Ray sends its latest one to storage as one archive
(core.trainer.checkpoint_upload) for a continued job to download.

Standard library only: the backend and the trainer's plumbing share it without torch.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from pathlib import Path

CHECKPOINTS_DIR = "checkpoints"
# Written last of a checkpoint's files by transformers' Trainer: a folder without it is one the
# trainer was still writing when it died, and is never resumed from.
STATE_FILE = "trainer_state.json"
ARCHIVE_NAME = "checkpoint.tar"
_NAME = re.compile(r"checkpoint-(\d+)")


def checkpoints_dir(output_dir: Path) -> Path:
    return output_dir / CHECKPOINTS_DIR


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return checkpoints_dir(output_dir) / f"checkpoint-{step}"


def latest_checkpoint(output_dir: Path) -> tuple[int, Path] | None:
    """(step, folder) of the run's latest complete checkpoint, None when it has none."""
    try:
        entries = list(checkpoints_dir(output_dir).iterdir())
    except OSError:
        return None
    found = []
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match and (entry / STATE_FILE).is_file():
            found.append((int(match.group(1)), entry))
    return max(found) if found else None


def pack(folder: Path, archive: Path) -> Path:
    """The checkpoint folder as one uncompressed tar (its weights do not compress)."""
    partial = archive.with_name(f".{archive.name}.part")
    with tarfile.open(partial, "w") as tar:
        tar.add(folder, arcname=folder.name)
    partial.replace(archive)
    return archive


def unpack(archive: Path, into: Path) -> Path:
    """The checkpoint folder an archive of `pack` holds, extracted under `into`."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        names = {member.name.split("/", 1)[0] for member in tar.getmembers()}
        if len(names) != 1 or not _NAME.fullmatch(next(iter(names))):
            raise ValueError(f"{archive.name} is not a checkpoint archive")
        target = into / next(iter(names))
        shutil.rmtree(target, ignore_errors=True)
        tar.extractall(into, filter="data")  # no links out of the folder, no absolute paths
    return target
