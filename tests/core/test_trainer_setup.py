"""`loradesk trainer setup` with the real pip, on a stand-in index in tmp (tests/core/stub_index.py)."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

from core.config import load_settings
from core.trainer_python import MARKER_FILE, env_dir, env_python, needs_setup, read_marker, trainer_python
from core.trainer_setup import (
    NoPackageIndexError,
    NoPythonError,
    SetupCancelled,
    SetupOptions,
    SetupReporter,
    setup_trainer,
)
from core.trainer_setup.environment import CUDA_LIBRARIES, GPU_LIBRARIES, TRAINER_LIBRARIES
from core.trainer_setup.pythons import find_base_python, no_python_message
from tests.core.stub_index import STUB_VERSIONS, make_index, use_only
from tests.wheel_build import ROOT, build_wheel


class Recorder(SetupReporter):
    def __init__(self) -> None:
        self.percents: list[float] = []
        self.stages: list[str] = []
        self.lines: list[str] = []

    def progress(self, percent: float, stage: str) -> None:
        self.percents.append(percent)
        self.stages.append(stage)

    def log(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture
def stub_index(tmp_path, monkeypatch) -> Path:
    index = make_index(tmp_path / "index")
    use_only(monkeypatch, index_url=index.as_uri(), find_links=tmp_path / "no-links")
    return index


@pytest.fixture(scope="module")
def trainer_wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("trainer-wheel"))


def leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir() if p.name.startswith("trainer-env") and not p.suffix)


def test_setup_installs_then_changes_nothing_then_repairs_a_broken_env(tmp_path, stub_index, trainer_wheel):
    home = tmp_path / "home"
    env_dir(home).mkdir(parents=True)  # without a marker: made by hand, or by an older setup
    (env_dir(home) / "junk").write_text("left by hand")
    (home / "trainer-env.partial-99999").mkdir()  # a setup killed mid-way
    options = SetupOptions(trainer_wheel=trainer_wheel, gpu=False)
    first = Recorder()
    result = setup_trainer(home, options, reporter=first)

    assert result.changed and result.repaired
    assert not (env_dir(home) / "junk").exists()
    assert result.versions == {**STUB_VERSIONS, "loradesk": trainer_wheel.name.split("-")[1]}
    python = env_python(env_dir(home))
    assert result.python == python and python.exists()
    assert first.percents == sorted(first.percents) and first.percents[-1] == 100.0
    assert any(stage.startswith("Fetching torch") for stage in first.stages)
    assert any("Successfully installed" in line for line in first.lines)  # pip's own words, for Details
    # The trainer runs from the wheel inside the environment, without the app's dependencies.
    done = subprocess.run(
        [python, "-I", "-c", "import core.trainer.run, core; print(core.__file__)"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(env_dir(home))
    # Renamed into place: its scripts name the final folder, and nothing is left beside it.
    assert (env_dir(home) / "bin" / "pip").read_text().startswith(f"#!{python}")
    assert leftovers(home) == ["trainer-env"]
    marker = read_marker(env_dir(home))
    assert marker is not None and marker["versions"]["torch"] == "2.13.0"
    assert marker["trainer_wheel"]["file"] == trainer_wheel.name
    settings = load_settings({"home": str(home)})
    assert trainer_python(settings) == str(python)

    made = (env_dir(home) / MARKER_FILE).stat().st_mtime_ns
    again = setup_trainer(home, options, reporter=Recorder())
    assert not again.changed
    assert (env_dir(home) / MARKER_FILE).stat().st_mtime_ns == made

    shutil.rmtree(next((env_dir(home) / "lib").glob("python3*/site-packages/torch")))
    repair = Recorder()
    repaired = setup_trainer(home, options, reporter=repair)
    assert repaired.changed and repaired.repaired
    assert any("broken" in line and "torch" in line for line in repair.lines)
    check = subprocess.run([python, "-I", "-c", "import torch"], capture_output=True)
    assert check.returncode == 0
    assert leftovers(home) == ["trainer-env"]


def test_with_indexes_turned_off_it_says_so(tmp_path, monkeypatch):
    home = tmp_path / "home"
    use_only(monkeypatch, index_url="http://127.0.0.1:9/simple", find_links=tmp_path / "links")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(NoPackageIndexError):
        setup_trainer(home, SetupOptions(gpu=False), reporter=Recorder())
    assert leftovers(home) == []


def test_without_a_reachable_index_the_cli_says_so_in_one_line_and_changes_nothing(tmp_path, monkeypatch):
    index = make_index(tmp_path / "index")
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy(next((index.parent / "files").glob("torch-*.whl")), links)  # torch "cached", the rest not
    use_only(monkeypatch, index_url="http://127.0.0.1:9/simple", find_links=links)
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.toml").write_text('user = "offline"\n')
    before = {p.name: p.stat().st_mtime_ns for p in home.iterdir()}
    done = subprocess.run(
        [sys.executable, "-m", "loradesk", "trainer", "setup", "--home", str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "loradesk: no network access to a package index: pip could not reach one (check the network,"
        " a proxy or pip's configuration), so nothing was changed"
    ]
    assert {p.name: p.stat().st_mtime_ns for p in home.iterdir() if p.name != "trainer-env.lock"} == before


class _StallingIndex(http.server.BaseHTTPRequestHandler):
    """An index that takes the request and never answers, until the test ends."""

    asked = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        type(self).asked.set()
        type(self).release.wait(60)

    def log_message(self, *args: object) -> None:
        pass


def test_cancel_stops_pip_and_leaves_nothing(tmp_path, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StallingIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    use_only(
        monkeypatch, index_url=f"http://127.0.0.1:{server.server_port}/simple", find_links=tmp_path / "l"
    )
    monkeypatch.setenv("PIP_TIMEOUT", "60")
    home = tmp_path / "home"
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            setup_trainer(home, SetupOptions(gpu=False), reporter=Recorder(), cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert _StallingIndex.asked.wait(120), "pip never asked the index"
        assert any(p.name.startswith("trainer-env.partial-") for p in home.iterdir())  # mid-way
        cancel.set()
        worker.join(30)
        assert not worker.is_alive()
    finally:
        _StallingIndex.release.set()
        server.shutdown()
    assert len(outcome) == 1 and isinstance(outcome[0], SetupCancelled)
    assert leftovers(home) == []


def test_an_unusable_python_is_named(tmp_path):
    with pytest.raises(NoPythonError, match="cannot make the trainer environment with /no/such/python"):
        setup_trainer(tmp_path / "home", SetupOptions(python="/no/such/python", gpu=False))
    assert leftovers(tmp_path / "home") == []


def test_no_python_on_path_says_what_to_install(tmp_path, monkeypatch):
    old = tmp_path / "bin" / "python3"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho 3.9.18\nexit 1\n")  # an old Python, as the probe sees it
    old.chmod(0o755)
    monkeypatch.setenv("PATH", str(old.parent))
    with pytest.raises(NoPythonError) as raised:
        find_base_python()
    message = str(raised.value)
    assert "python3: Python 3.9.18 is older than 3.11" in message
    assert "sudo apt install python3 python3-venv" in message and "--python PATH" in message


@pytest.mark.parametrize(
    ("platform", "words"),
    [("linux", "apt install"), ("darwin", "brew install python@3.12"), ("win32", "winget install")],
)
def test_the_no_python_message_fits_the_platform(platform, words):
    message = no_python_message([], how_to_choose="Choose Python…", platform=platform)
    assert words in message and message.endswith("or choose one with Choose Python…")


def test_found_python_is_3_11_or_newer():
    found = find_base_python(sys.executable)
    assert found.version >= (3, 11)


def test_the_libraries_are_those_of_the_trainer_and_cuda_extras():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert sorted(extras["trainer"]) == sorted(["torch>=2.4", *TRAINER_LIBRARIES, *GPU_LIBRARIES])
    assert sorted(extras["cuda"]) == sorted(["loradesk[trainer]", *CUDA_LIBRARIES])


def test_trainer_python_order(tmp_path, monkeypatch):
    home = tmp_path / "home"
    settings = load_settings({"home": str(home)})
    assert trainer_python(settings) == sys.executable  # a checkout with the trainer extra
    assert not needs_setup(settings)
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # the installed app
    assert trainer_python(settings) == "" and needs_setup(settings)
    python = env_python(env_dir(home))
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    assert trainer_python(settings) == ""  # no marker: not finished
    (env_dir(home) / MARKER_FILE).write_text("{}")
    assert trainer_python(settings) == str(python) and not needs_setup(settings)
    assert trainer_python(settings.with_changes(trainer_python="/opt/py/bin/python")) == "/opt/py/bin/python"
