"""A plain (non-editable) `pip install .` is whole: the icons load and the first-run demo finds its sample.

The wheel is built from a copy of the project and installed with `--no-deps` into a fresh venv. Its
dependencies come from the running interpreter's site-packages through a `.pth` line: that reuses
what is installed (no index, no downloads, a few seconds), while `core` and `desktop` come only from
the wheel, because a path added by a `.pth` line is not itself scanned for `.pth` files, so the
editable install's finder of the test venv never loads. (`--system-site-packages` would not do: it
reaches the base interpreter's packages, not the test venv's.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from tests.wheel_build import ROOT, copy_project

CHECK = """
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
import core
from desktop import theme
from core.config import load_settings
from core.datasets.catalog import list_datasets
from core.demo import start_demo_job
from core.workspace import Workspace
ws = Workspace.open(load_settings())
job = start_demo_job(ws)
dataset = next(d for d in list_datasets(ws) if d.id == job.dataset_id)
print(json.dumps({
    "core": core.__file__,
    "resources": str(theme.RESOURCES),
    "icon_sizes": [s.width() for s in theme.icon("cancel").availableSizes()],
    "app_icon_sizes": [s.width() for s in theme.app_icon().availableSizes()],
    "stylesheet": len(theme.stylesheet()),
    "demo_pairs": dataset.total_pairs,
}))
"""


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for top in ("core", "desktop", "loradesk")
        for path in (ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    resources = ROOT / "resources"
    data_folders = {
        ".".join(("core", "resources", *folder.relative_to(resources).parts))
        for folder in [resources, *resources.rglob("*")]
        if folder.is_dir() and all(part.isidentifier() for part in folder.relative_to(resources).parts)
    }
    assert found | data_folders == listed


def test_a_plain_wheel_carries_icons_and_the_sample_dataset(tmp_path):
    source = copy_project(tmp_path / "source")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = ["install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", str(source)]
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *install], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    assert "Warning" not in installed.stderr, installed.stderr  # quiet means quiet: no setuptools warnings
    shutil.rmtree(source)  # nothing may be read from the project's folder

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LORADESK_"))}
    env.update(QT_QPA_PLATFORM="offscreen", LORADESK_HOME=str(tmp_path / "home"), LORADESK_USER="wheel")
    result = subprocess.run(
        [python, "-c", CHECK], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])

    assert Path(found["core"]).is_relative_to(venv), found["core"]
    assert Path(found["resources"]) == Path(found["core"]).parent / "resources"
    assert found["icon_sizes"] == [16, 24, 32, 48]
    assert found["app_icon_sizes"], "the window icon did not load"
    assert found["stylesheet"] > 0
    shipped = (ROOT / "resources" / "sample-dataset.jsonl").read_text().splitlines()
    assert found["demo_pairs"] == len([line for line in shipped if line.strip()])
