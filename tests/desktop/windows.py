"""The main window and the job monitor as the desktop tests show them, and a workspace whose
cluster is the fake HTTP cluster."""

from __future__ import annotations

from typing import Any

from core.cluster.http import HttpCluster
from core.config import load_settings
from core.workspace import Workspace
from desktop.main_window import MainWindow
from desktop.monitor import JobMonitor
from tests.conftest import TOKEN
from tests.fakes.cluster import FakeCluster


def show_main_window(qtbot) -> MainWindow:
    """A main window at a laptop's size, shown, attached to no session yet."""
    widget = MainWindow()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    return widget


def show_monitor(qtbot, *, height: int = 600) -> JobMonitor:
    """The job monitor alone, shown at the width it has beside the table."""
    widget = JobMonitor()
    qtbot.addWidget(widget)
    widget.resize(1100, height)
    widget.show()
    return widget


def open_on_fake_cluster(fake_cluster: FakeCluster, **settings: Any) -> Workspace:
    """A workspace whose `http` cluster is the fake one, with short timeouts; `settings` adds to it."""
    settings = {"user": "alice", "cluster": "http", "cluster_url": fake_cluster.url, **settings}
    ws = Workspace.open(load_settings(settings))
    ws.use_backend(HttpCluster(fake_cluster.url, TOKEN, connect_timeout=2, read_timeout=5))
    return ws
