"""Screenshot mode: `loradesk gui --screenshot PNG --job ID` renders the window and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from tests.desktop.demo_workspace import build_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    settings, featured = build_demo(home, cycles=8)
    return settings, featured


def run_gui(settings, *args: str, command: tuple[str, ...] = ("gui",)) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LORADESK_")}
    env.update(LORADESK_HOME=str(settings.home), LORADESK_USER=settings.user, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "loradesk", *command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", [("gui",), ()], ids=["loradesk gui", "loradesk"])
def test_screenshot_of_the_selected_job(demo, tmp_path, command):
    settings, featured = demo
    png = tmp_path / "shot.png"
    result = run_gui(settings, "--screenshot", str(png), "--job", featured, command=command)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no Qt plugin chatter, no log lines: a clean run says nothing
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1280, 800)
    assert png.stat().st_size > 40_000  # a table and filled charts, not an empty window


def test_screenshot_of_an_unknown_job_fails_clearly(demo, tmp_path):
    settings, _ = demo
    result = run_gui(settings, "--screenshot", str(tmp_path / "x.png"), "--job", "no-such-job")
    assert result.returncode == 1
    assert "no job 'no-such-job'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Path(tmp_path / "x.png").exists()
