"""Find a Python on this machine that can hold the trainer: 3.11 or newer, with `venv` and `ensurepip`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from core.trainer_setup.failures import NoPythonError
from core.trainer_setup.subprocess_env import outside_bundle

MIN_VERSION = (3, 11)
# Newest first: the trainer gains from a newer Python, and every one of these can hold it.
_NAMES = ("python3.14", "python3.13", "python3.12", "python3.11", "python3", "python")
# Exits 0 only when a virtual environment with pip can be made; prints the version either way.
_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3]);import venv, ensurepip; print('venv')"


@dataclass(frozen=True)
class BasePython:
    path: str
    version: tuple[int, ...]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def find_base_python(explicit: str | None = None, *, how_to_choose: str = "--python PATH") -> BasePython:
    """The Python named by the person, else the newest suitable one on PATH."""
    if explicit:
        found, problem = _probe(explicit)
        if found is None:
            raise NoPythonError(f"cannot make the trainer environment with {explicit}: {problem}")
        return found
    problems = []
    for path in _candidates():
        found, problem = _probe(path)
        if found is not None:
            return found
        if problem and "not Python" not in problem:
            problems.append(f"{path}: {problem}")
    raise NoPythonError(no_python_message(problems, how_to_choose=how_to_choose))


def no_python_message(problems: list[str], *, how_to_choose: str, platform: str = sys.platform) -> str:
    """What to install, for this platform, when no suitable Python was found."""
    if platform == "win32":
        install = "install Python 3.12 (winget install Python.Python.3.12, or the Python website's installer)"
    elif platform == "darwin":
        install = "install Python 3.12 (brew install python@3.12, or the Python website's installer)"
    else:
        install = (
            "install Python 3.11 or newer with its venv module"
            " (Debian/Ubuntu: sudo apt install python3 python3-venv; Fedora: sudo dnf install python3)"
        )
    seen = f" ({'; '.join(problems)})" if problems else ""
    return (
        f"no Python 3.11 or newer that can make a virtual environment was found{seen}:"
        f" {install}, or choose one with {how_to_choose}"
    )


def _candidates() -> list[str]:
    paths: list[str] = []
    for name in _NAMES:
        path = shutil.which(name)
        if path and os.path.realpath(path) not in {os.path.realpath(p) for p in paths}:
            paths.append(path)
    if sys.platform == "win32" and shutil.which("py"):  # the Python launcher knows installed versions
        paths.append(shutil.which("py") or "py")
    return paths


def _probe(path: str) -> tuple[BasePython | None, str | None]:
    """(the Python, None) when it can hold the trainer, else (None, why not)."""
    try:
        done = subprocess.run(
            [path, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            env=outside_bundle(dict(os.environ)),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"not Python ({exc.__class__.__name__})"
    lines = done.stdout.split()
    try:
        version = tuple(int(part) for part in lines[0].split("."))
    except (IndexError, ValueError):
        return None, "not Python"
    text = ".".join(map(str, version))
    if version < MIN_VERSION:
        return None, f"Python {text} is older than 3.11"
    if done.returncode != 0 or "venv" not in lines:
        minor = f"{version[0]}.{version[1]}"
        return None, f"Python {text} has no venv module (Debian/Ubuntu: sudo apt install python{minor}-venv)"
    return BasePython(path, version), None
