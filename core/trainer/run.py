"""One training run from start to exit record: the process's `main`.

The order matters for the user: the spec and the dataset are checked before torch is imported,
so their mistakes are reported in a fraction of a second instead of after seconds of imports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path
from types import FrameType

from core.trainer.checkpoint_transfer import CheckpointUploader, fetch_checkpoint
from core.trainer.data import dataset_path, read_examples, split_examples
from core.trainer.distributed import is_distributed, is_reporter, rank
from core.trainer.report import EXIT_FILE, RunReport, SilentReport, write_json_atomic
from core.trainer.spec import (
    SpecError,
    TrainerError,
    TrainerSpec,
    base_model_source,
    load_spec,
    parse_spec,
)

TRAINER_EXTRA_HINT = "install the trainer extra: pip install 'loradesk[trainer]'"
NOT_SET_UP = "local training is not set up"  # the words the app offers Set up local training for


def missing_modules(python: str, missing: list[str]) -> str:
    """Why a Python cannot train, naming it, and the ways out (core.trainer_python repeats them)."""
    names = ", ".join(missing)
    return (
        f"{NOT_SET_UP}: {python} has no {names}; run `loradesk trainer setup` (or Set up local training "
        f"in the app), or point Trainer Python (Settings) at a Python where you can {TRAINER_EXTRA_HINT}"
    )


_TRAINER_MODULES = {"torch", "transformers", "peft", "safetensors", "accelerate"}


class StopFlag:
    """Set by SIGTERM (or Ctrl-C); the loop finishes its step, saves and exits as cancelled."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> StopFlag:
        signal.signal(signal.SIGTERM, self._request)
        signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def log(message: str) -> None:
    print(f"loradesk-trainer: {message}", flush=True)


USAGE = "usage: python -m core.trainer SPEC.json | --spec-json JSON"


def main(argv: list[str]) -> int:
    stop = StopFlag().install()  # first: a SIGTERM during the slow imports must not kill us
    inline = len(argv) == 2 and argv[0] == "--spec-json"  # a cluster job: the spec on the command line
    if len(argv) != 1 and not inline:
        print(USAGE, file=sys.stderr)
        return 2
    spec_path = None if inline else Path(argv[0])
    try:
        spec = parse_spec(argv[1], "the --spec-json spec") if spec_path is None else load_spec(spec_path)
        # Of a data-parallel run's processes, the first alone writes the job's files.
        report = (RunReport if is_reporter() else SilentReport)(
            spec.output_dir, log_metrics=spec.log_metrics, continued=spec.resume_from_checkpoint is not None
        )
    except (SpecError, OSError) as exc:
        message = str(exc) if isinstance(exc, SpecError) else f"cannot write the run's files: {exc}"
        # Without a usable output folder, report beside the spec: the local backend's job folder.
        if spec_path is not None:
            with contextlib.suppress(OSError):
                record = {"status": "failed", "error_message": message, "artifact_dir": None}
                write_json_atomic(spec_path.parent / EXIT_FILE, record)
        print(f"loradesk-trainer: failed: {message}", file=sys.stderr)
        return 1
    status, error = "failed", None
    uploader = _checkpoint_uploader(spec)
    try:
        spec = _fetch_parent_checkpoint(spec)
        try:
            status = _train(spec, report, stop)
        finally:
            if uploader is not None:  # the latest checkpoint, even of a failed run: it can go on
                uploader.finish()
        if spec.adapter_upload and is_reporter():
            from core.trainer.transfer import upload_adapter

            uploaded = upload_adapter(report.adapter_dir, spec.adapter_upload)
            log(f"adapter uploaded ({', '.join(uploaded)})")
    except TrainerError as exc:
        error = str(exc)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _TRAINER_MODULES:
            error = _unexpected(exc, report)
        else:
            error = missing_modules(sys.executable, [(exc.name or "").split(".")[0]])
    except Exception as exc:
        error = _unexpected(exc, report)
    if error:
        status = "failed"  # e.g. the adapter trained but could not be uploaded
    adapter = report.adapter_dir if status != "failed" else None
    report.finish(status, error, adapter, spec.artifact_url if adapter else None)
    if error:
        print(f"loradesk-trainer: job {spec.job_id} failed: {error}", file=sys.stderr)
        return 1
    return 0


def _checkpoint_uploader(spec: TrainerSpec) -> CheckpointUploader | None:
    """On a cluster with S3 storage, the first process sends each checkpoint as it is saved."""
    if not spec.checkpoint_upload or not is_reporter():
        return None
    return CheckpointUploader(spec.output_dir, spec.checkpoint_upload, log).start()


def _fetch_parent_checkpoint(spec: TrainerSpec) -> TrainerSpec:
    """A continued run on a cluster downloads the checkpoint it starts from (each process its
    own copy: they read their own RNG state from it)."""
    if spec.resume_checkpoint_url is None:
        return spec
    into = spec.output_dir / (f"parent-{rank()}" if is_distributed() else "parent")
    folder = fetch_checkpoint(spec.resume_checkpoint_url, into)
    log(f"continuing from the parent's checkpoint {folder.name}")
    return dataclasses.replace(spec, resume_from_checkpoint=folder)


def _train(spec: TrainerSpec, report: RunReport, stop: StopFlag) -> str:
    hp = spec.hyperparameters
    if spec.ignored_hyperparameters:
        log(f"ignoring unknown hyperparameters: {', '.join(spec.ignored_hyperparameters)}")
    base_model_source(hp.base_model)
    if spec.resume_from_checkpoint is not None and not spec.resume_from_checkpoint.is_dir():
        raise SpecError(f"the checkpoint to continue from, {spec.resume_from_checkpoint}, does not exist")
    examples = read_examples(dataset_path(spec.dataset_url, spec.storage_root, spec.output_dir))
    split = split_examples(examples, hp.validation_split, hp.seed)
    quiet_libraries()
    from core.trainer.train import train  # torch, transformers, peft: seconds of imports

    return train(spec, split, report, stop, log)


def quiet_libraries() -> None:
    """Quiet libraries: stderr.log is where users look for errors.

    The Hugging Face Hub is left as the user set it up (HF_HOME, HF_TOKEN, HF_HUB_OFFLINE): the
    tiny model and model folders never reach for it, and a model id is looked up in the Hub's
    cache before the Hub is asked (core.trainer.model).
    """
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _unexpected(exc: BaseException, report: RunReport) -> str:
    """A one-line message for the user; the traceback goes to a file for whoever debugs it."""
    trace = "".join(traceback.format_exception(exc))
    (report.output_dir / "traceback.log").write_text(trace, encoding="utf-8")
    text = str(exc).strip()
    detail = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
