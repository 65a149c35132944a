"""The environment for Pythons the setup starts: not the bundle's."""

from __future__ import annotations

import sys

from core.trainer_python import leave_bundle_environment, without_app_secrets


def outside_bundle(env: dict[str, str]) -> dict[str, str]:
    """`env` without what the bundle's loader set for itself (its LD_LIBRARY_PATH would make
    another Python load the bundle's libraries) and without PYTHON* variables that would point
    another interpreter at this app's modules, and without the app's secrets."""
    if getattr(sys, "frozen", False):
        leave_bundle_environment(env)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONNOUSERSITE"):
        env.pop(name, None)
    return without_app_secrets(env)
