"""Build Loradesk's own wheel from a copy of the project (the build leaves files in its source)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "tests", "benchmarks", "*.egg-info", "__pycache__", ".*_cache"
)


def copy_project(target: Path) -> Path:
    shutil.copytree(ROOT, target, ignore=_NOT_SHIPPED)
    return target


def build_wheel(work: Path) -> Path:
    """`loradesk-<version>-py3-none-any.whl` in `work/wheel`, built without an index."""
    source = copy_project(work / "source")
    out = work / "wheel"
    options = ["--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(out)]
    subprocess.run([sys.executable, "-m", "pip", "wheel", *options, str(source)], check=True)
    shutil.rmtree(source)
    return next(out.glob("loradesk-*.whl"))
