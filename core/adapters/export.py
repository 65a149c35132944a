"""Exporting a job's adapter: its folder as it is, or the base model with the adapter merged in
(run by the trainer's Python, `core.trainer.merge`), and the Python that loads what was exported.

Everything is written into a hidden folder beside the destination and renamed at the end, so an
export that fails or is stopped leaves nothing half-written where the user looks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.adapters.files import LISTING_FILE, Progress, base_model_of, local_adapter, no_progress
from core.config import Settings
from core.errors import InvalidRequestError, LoradeskError
from core.formats.hyperparameters import TINY_MODEL
from core.records import Job
from core.trainer_python import require_trainer_python, trainer_environment


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: list[str]
    merged: bool
    snippet: str  # Python that loads the export


def check_destination(dest: Path) -> None:
    """A new or empty folder only: an export never mixes with or replaces someone's files."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidRequestError(f"{dest} already exists and is not an empty folder; choose a new one")
    if not dest.parent.is_dir():
        raise InvalidRequestError(f"the folder {dest.parent} does not exist")


def export_adapter(
    settings: Settings, job: Job, dest: Path, *, merge: bool = False, progress: Progress = no_progress
) -> ExportResult:
    dest = dest.expanduser().absolute()
    check_destination(dest)
    adapter = local_adapter(settings, job, progress)
    base_model = base_model_of(job)
    partial = dest.with_name(f".{dest.name}.export")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        if merge:
            files = _merge(require_trainer_python(settings), adapter, base_model, partial, progress)
        else:
            files = _copy(adapter, partial, progress)
        if dest.exists():
            dest.rmdir()  # empty, as checked
        partial.replace(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    progress(1, 1, "exported")
    snippet = merged_snippet(dest) if merge else adapter_snippet(dest, base_model)
    return ExportResult(dest, files, merge, snippet)


def _copy(adapter: Path, target: Path, progress: Progress) -> list[str]:
    files = sorted(p for p in adapter.iterdir() if p.is_file() and p.name != LISTING_FILE)
    total = sum(p.stat().st_size for p in files) or 1
    target.mkdir(parents=True)
    done = 0
    for source in files:
        progress(done, total, f"copying {source.name}")
        try:
            shutil.copyfile(source, target / source.name)
        except OSError as exc:
            raise LoradeskError(
                f"cannot copy {source.name} to {target.parent}: {exc.strerror or exc}"
            ) from None
        done += source.stat().st_size
    return [p.name for p in files]


def _merge(python: str, adapter: Path, base_model: str, target: Path, progress: Progress) -> list[str]:
    command = [python, "-m", "core.trainer.merge", "--adapter", str(adapter), "--base-model", base_model]
    try:
        process = subprocess.Popen(
            [*command, str(target)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=trainer_environment(),
            text=True,
            encoding="utf-8",
        )
    except OSError as exc:
        raise LoradeskError(f"cannot start the merge with {python}: {exc.strerror}") from None
    files: list[str] | None = None
    error = ""
    try:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "progress":
                progress(int(event["percent"]), 100, str(event["stage"]))
            elif event.get("event") == "done":
                files = [str(name) for name in event["files"]]
            elif event.get("event") == "error":
                error = str(event["message"])
        _, stderr = process.communicate()
    except BaseException:
        process.kill()
        process.wait()
        raise
    if files is None:
        last = (stderr.strip().splitlines() or ["no message"])[-1]
        raise LoradeskError(
            error or f"the merge ended without a model (exit {process.returncode}): {last[:300]}"
        )
    return files


def adapter_snippet(folder: Path | str, base_model: str) -> str:
    """Python that loads the base model with this adapter on top (peft)."""
    if base_model == TINY_MODEL:
        base = (
            "from core.trainer.model import build_tiny_model  # Loradesk's built-in tiny model\n\n"
            "base = build_tiny_model()\n"
        )
    else:
        base = (
            "from transformers import AutoModelForCausalLM\n\n"
            f"base = AutoModelForCausalLM.from_pretrained({base_model!r})\n"
        )
    return f"from peft import PeftModel\n{base}model = PeftModel.from_pretrained(base, {str(folder)!r})\n"


def merged_snippet(folder: Path | str) -> str:
    """Python that loads a merged export: plain transformers, no peft."""
    where = repr(str(folder))
    return (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f"model = AutoModelForCausalLM.from_pretrained({where})\n"
        f"tokenizer = AutoTokenizer.from_pretrained({where})\n"
    )
