"""Make (or check) the trainer environment: find a Python, build beside, verify, rename into place."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.trainer.report import write_json_atomic
from core.trainer_python import ENV_FOLDER, MARKER_FILE, env_dir, env_python, read_marker
from core.trainer_setup.failures import TrainerSetupError
from core.trainer_setup.nvml import nvml_gpu_count
from core.trainer_setup.pip_runner import run_pip, run_streaming
from core.trainer_setup.progress import STEPS, PipProgress, SetupReporter
from core.trainer_setup.pythons import BasePython, find_base_python

try:
    import fcntl
except ImportError:  # Windows: two setups at once are not guarded against
    fcntl = None  # type: ignore[assignment]

# The torch release Loradesk is tested with (scripts/install takes the same); --torch changes it.
DEFAULT_TORCH = "torch==2.13.0"
# The `trainer` extra of pyproject.toml besides torch (tests/core/test_trainer_setup.py keeps them equal).
TRAINER_LIBRARIES = ("transformers>=4.56", "peft>=0.17", "safetensors>=0.4", "accelerate>=1.0")
GPU_LIBRARIES = ("nvidia-ml-py>=12",)  # GPU utilisation and memory for the charts
# The `cuda` extra besides the trainer: QLoRA's 4- and 8-bit weights, where NVML finds a GPU.
CUDA_LIBRARIES = ("bitsandbytes>=0.43; sys_platform != 'darwin'",)
_VERIFY = """
import importlib.metadata as m, json, sys
import torch
names = sys.argv[1:]
if "loradesk" in names:
    import core.trainer.run  # the trainer wheel, without the app's own dependencies
print(json.dumps({"cuda": torch.cuda.is_available(), **{n: m.version(n) for n in names}}))
"""
_VERIFIED = ("torch", "transformers", "peft", "safetensors", "accelerate")


@dataclass(frozen=True)
class SetupOptions:
    python: str | None = None  # the Python to build on; None: the newest suitable one on PATH
    torch: str = DEFAULT_TORCH  # the torch requirement pip is given
    trainer_wheel: Path | None = None  # None: the one the bundle carries, if any
    rebuild: bool = False  # make it again even when it works
    gpu: bool | None = None  # None: ask NVML
    how_to_choose: str = "--python PATH"  # how the person names a Python, for the error message


@dataclass(frozen=True)
class SetupResult:
    env: Path
    python: Path
    changed: bool
    repaired: bool
    versions: dict[str, str]
    cuda: bool
    seconds: float

    def summary(self) -> str:
        libraries = ", ".join(f"{name} {self.versions[name]}" for name in _VERIFIED if name in self.versions)
        return f"{libraries}; {'CUDA' if self.cuda else 'CPU'}"


def bundled_trainer_wheel() -> Path | None:
    """The trainer wheel scripts/bundle put inside the installed app (its `trainer/` folder)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or bundle is None:
        return None
    wheels = sorted((Path(bundle) / "trainer").glob("loradesk-*.whl"))
    return wheels[-1] if wheels else None


def setup_trainer(
    home: Path,
    options: SetupOptions | None = None,
    *,
    reporter: SetupReporter | None = None,
    cancel: threading.Event | None = None,
) -> SetupResult:
    """Make the trainer environment under `home`, or check the one there; see the package docstring."""
    options = options or SetupOptions()
    reporter = reporter or SetupReporter()
    cancel = cancel or threading.Event()
    started = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    with _setup_lock(home):
        _remove_leftovers(home)
        wanted = _wanted(options)
        final = env_dir(home)
        marker = read_marker(final)
        repaired = False
        if marker is not None and not options.rebuild and _same_request(marker, wanted, options):
            reporter.progress(STEPS["verify"], "Checking the trainer environment")
            found, problem = _verify(env_python(final), cancel)
            if found is not None:
                reporter.log(f"the trainer environment in {final} works; nothing to do")
                reporter.progress(100.0, "Ready")
                return _result(final, found, changed=False, repaired=False, started=started)
            reporter.log(f"the trainer environment in {final} is broken ({problem}); making it again")
            repaired = True
        elif final.exists():
            why = "was asked to" if options.rebuild else "it is incomplete or was made for other packages"
            reporter.log(f"making {final} again: {why}")
            repaired = marker is None
        found = _build(home, wanted, options, reporter, cancel)
        reporter.progress(100.0, "Ready")
        return _result(final, found, changed=True, repaired=repaired, started=started)


def _wanted(options: SetupOptions) -> dict[str, Any]:
    gpu = nvml_gpu_count() > 0 if options.gpu is None else options.gpu
    wheel = options.trainer_wheel or bundled_trainer_wheel()
    return {
        "requirements": [
            options.torch,
            *TRAINER_LIBRARIES,
            *((*GPU_LIBRARIES, *CUDA_LIBRARIES) if gpu else ()),
        ],
        "gpu": gpu,
        "trainer_wheel": {"file": wheel.name, "sha256": _sha256(wheel)} if wheel else None,
        "wheel_path": wheel,
    }


def _same_request(marker: dict[str, Any], wanted: dict[str, Any], options: SetupOptions) -> bool:
    same_python = not options.python or os.path.realpath(options.python) == os.path.realpath(
        str(marker.get("base_python", ""))
    )
    return (
        marker.get("requirements") == wanted["requirements"]
        and marker.get("trainer_wheel") == wanted["trainer_wheel"]
        and same_python
    )


def _build(
    home: Path,
    wanted: dict[str, Any],
    options: SetupOptions,
    reporter: SetupReporter,
    cancel: threading.Event,
) -> dict[str, Any]:
    partial = home / f"{ENV_FOLDER}.partial-{os.getpid()}"
    try:
        reporter.progress(STEPS["python"], "Looking for Python 3.11 or newer")
        base = find_base_python(options.python, how_to_choose=options.how_to_choose)
        reporter.log(f"building on Python {base.version_text} at {base.path}")
        reporter.progress(STEPS["venv"], f"Making a virtual environment with Python {base.version_text}")
        status, lines = run_streaming(
            [base.path, "-m", "venv", str(partial)], on_line=reporter.log, cancel=cancel
        )
        if status != 0:
            raise TrainerSetupError(f"{base.path} could not make a virtual environment: {lines[-1:]}")
        python = env_python(partial)
        pins = _resolve(python, wanted["requirements"], partial / "resolved.json", reporter, cancel)
        wheel: Path | None = wanted["wheel_path"]
        install = ["install", "--no-deps", "--progress-bar", "off", *pins, *([str(wheel)] if wheel else [])]
        fetch = PipProgress(reporter, STEPS["fetch"], STEPS["install"], expected=len(pins) + bool(wheel))
        run_pip(python, install, on_line=fetch.feed, cancel=cancel)
        reporter.progress(STEPS["verify"], "Checking that torch imports")
        found, problem = _verify(python, cancel, trainer=wheel is not None)
        if found is None:
            raise TrainerSetupError(f"the new trainer environment does not work: {problem}")
        reporter.progress(STEPS["finish"], "Moving the environment into place")
        final = env_dir(home)
        _relocate(partial, final)
        write_json_atomic(partial / MARKER_FILE, _marker(base, wanted, found))
        _swap_into_place(partial, final)
        return found
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _resolve(
    python: Path, requirements: list[str], report: Path, reporter: SetupReporter, cancel: threading.Event
) -> list[str]:
    """What pip would install, as exact pins: a dry run, which also finds out whether an index is
    reachable before anything is installed."""
    reporter.progress(STEPS["resolve"], "Finding the packages")
    resolve = PipProgress(reporter, STEPS["resolve"], STEPS["fetch"])
    args = ["install", "--dry-run", "--ignore-installed", "--report", str(report), "--progress-bar", "off"]
    run_pip(python, [*args, *requirements], on_line=resolve.feed, cancel=cancel)
    try:
        planned = json.loads(report.read_text(encoding="utf-8"))["install"]
        pins = [f"{item['metadata']['name']}=={item['metadata']['version']}" for item in planned]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainerSetupError(f"pip's install report could not be read: {exc}") from None
    reporter.log(f"to install: {' '.join(pins)}")
    return pins


def _verify(
    python: Path, cancel: threading.Event, *, trainer: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """(versions, None) when torch imports and the libraries are there, else (None, the reason)."""
    if not python.exists():
        return None, f"{python} is missing"
    names = [*_VERIFIED, *(["loradesk"] if trainer else [])]
    output: list[str] = []
    status, lines = run_streaming(
        [str(python), "-I", "-c", _VERIFY, *names], on_line=output.append, cancel=cancel
    )
    if status != 0:
        errors = [line for line in lines if line.strip()]
        return None, errors[-1].strip() if errors else f"{python} exited with status {status}"
    try:
        found = json.loads(output[-1])
    except (IndexError, ValueError):
        return None, f"{python} did not report its libraries"
    return found, None


def _marker(base: BasePython, wanted: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_python": base.path,
        "python_version": base.version_text,
        "requirements": wanted["requirements"],
        "gpu": wanted["gpu"],
        "trainer_wheel": wanted["trainer_wheel"],
        "versions": {k: v for k, v in found.items() if k != "cuda"},
        "cuda": found.get("cuda", False),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _relocate(partial: Path, final: Path) -> None:
    """A venv names its own folder in its scripts (shebangs, activate): point them at `final`,
    where it is renamed to. The interpreter itself finds its prefix from where it runs."""
    old, new = str(partial).encode(), str(final).encode()
    for folder, names in ((partial / "bin", None), (partial / "Scripts", None), (partial, ["pyvenv.cfg"])):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if (names and path.name not in names) or path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if old in data and b"\0" not in data[:1024]:  # text files only
                path.write_bytes(data.replace(old, new))


def _swap_into_place(partial: Path, final: Path) -> None:
    """Rename the finished environment to its final name; an old one goes only once it is replaced."""
    old = final.with_name(f"{ENV_FOLDER}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    partial.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(home: Path) -> None:
    """Partial environments of setups that were killed, and old ones a swap left behind."""
    for pattern in (f"{ENV_FOLDER}.partial-*", f"{ENV_FOLDER}.old-*"):
        for leftover in home.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _setup_lock(home: Path) -> Iterator[None]:
    with (home / f"{ENV_FOLDER}.lock").open("a") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TrainerSetupError("another trainer setup is running for this home") from None
        yield


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _result(
    env: Path, found: dict[str, Any], *, changed: bool, repaired: bool, started: float
) -> SetupResult:
    versions = {k: str(v) for k, v in found.items() if k != "cuda"}
    return SetupResult(
        env=env,
        python=env_python(env),
        changed=changed,
        repaired=repaired,
        versions=versions,
        cuda=bool(found.get("cuda")),
        seconds=time.monotonic() - started,
    )
