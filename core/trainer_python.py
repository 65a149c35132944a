"""Which Python trains local jobs: the one named in the settings, else the environment
`loradesk trainer setup` made under `LORADESK_HOME`, else this interpreter (not in the bundle).

Cheap enough to ask on every start: file checks only, nothing is imported or run. The setup
itself is `core.trainer_setup`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import core
from core.config import Settings
from core.errors import LoradeskError
from core.trainer.run import NOT_SET_UP

# What the app holds and no trainer needs: it reads its dataset and writes its adapter through
# signed URLs and the job folder, and takes nothing from Loradesk's own variables.
SECRET_VARIABLES = frozenset(
    {"PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
)
ENV_FOLDER = "trainer-env"


def without_app_secrets(env: dict[str, str]) -> dict[str, str]:
    """`env` without Loradesk's own variables (the cluster token and database password among
    them: core.secrets) and the database and storage credentials the app may run with."""
    for name in [n for n in env if n.startswith("LORADESK_") or n in SECRET_VARIABLES]:
        del env[name]
    return env


# Written last, once the environment is complete; its absence means "not set up".
MARKER_FILE = "loradesk-trainer.json"
TRAINER_MODULES = ("torch", "transformers", "peft", "safetensors")
NO_TRAINER_HINT = (
    f"{NOT_SET_UP}: run `loradesk trainer setup` (or Set up local training in the app), or set"
    " Trainer Python in Settings (LORADESK_TRAINER_PYTHON) to a Python 3.11+ with torch, transformers,"
    " peft and safetensors"
)


def env_dir(home: Path) -> Path:
    return home / ENV_FOLDER


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def read_marker(env: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((env / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def set_up_python(home: Path) -> Path | None:
    """The Python of the environment the setup made, when it is complete."""
    env = env_dir(home)
    python = env_python(env)
    return python if read_marker(env) is not None and python.exists() else None


def trainer_python(settings: Settings) -> str:
    """The Python the local backend runs `core.trainer` with; "" when there is none."""
    if settings.trainer_python:
        return settings.trainer_python
    made = set_up_python(settings.home)
    if made is not None:
        return str(made)
    # In the installed app (a PyInstaller bundle) sys.executable is `loradesk`, not a Python.
    return "" if getattr(sys, "frozen", False) else sys.executable


def needs_setup(settings: Settings) -> bool:
    """Whether local jobs would fail for want of a trainer, so the app should offer the setup."""
    python = trainer_python(settings)
    if not python:
        return True
    return python == sys.executable and bool(missing_trainer_modules())


def missing_trainer_modules() -> list[str]:
    """The trainer's libraries this interpreter lacks (found without importing them)."""
    return [name for name in TRAINER_MODULES if importlib.util.find_spec(name) is None]


def trainer_environment() -> dict[str, str]:
    """The environment of a process run with the trainer's Python: the same `core` as this app,
    installed or not, outside the bundle's own libraries, and holding none of the app's secrets
    (SPEC §4c)."""
    env = without_app_secrets(dict(os.environ, PYTHONUNBUFFERED="1"))
    if getattr(sys, "frozen", False):
        leave_bundle_environment(env)
    source_root = str(Path(core.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    return env


def require_trainer_python(settings: Settings) -> str:
    """The trainer's Python for a tool that runs a model here (playground, merged export); a
    clear error when this machine has none."""
    python = trainer_python(settings)
    if not python:
        raise LoradeskError(NO_TRAINER_HINT)
    if python == sys.executable:
        missing = missing_trainer_modules()
        if missing:
            raise LoradeskError(f"{NO_TRAINER_HINT} ({', '.join(missing)} missing here)")
    return python


def leave_bundle_environment(env: dict[str, str]) -> None:
    """The bundle's loader points LD_LIBRARY_PATH at its own libraries; the trainer's Python must
    load those of its own environment (torch needs a newer libstdc++ than the bundle may hold)."""
    original = env.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is None:
        env.pop("LD_LIBRARY_PATH", None)
    else:
        env["LD_LIBRARY_PATH"] = original
    for name in [name for name in env if name.startswith("_PYI_")]:
        del env[name]
