"""The settings dialog in team mode: who you are connected as, and the database password's keyring.

The team database is a throwaway one with roles of its own (tests/team_db.py); its server trusts
local connections, so the password typed here is checked for where it goes, not by the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from PySide6.QtCore import Qt

from core.config import load_settings
from core.db.engine import Database
from core.db.migrate import upgrade
from core.db.team import add_user
from core.secrets import password_key
from desktop.dialogs.settings_dialog import SettingsDialog
from desktop.operations import Runner
from tests.team_db import TeamDatabase, team_database

pytestmark = pytest.mark.postgres
LEFT = Qt.MouseButton.LeftButton


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self):
        super().__init__()
        self.entries = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username), None)


@pytest.fixture(scope="module")
def team() -> Iterator[TeamDatabase]:
    with team_database() as db:
        owner = Database(db.url(db.owner))
        upgrade(owner)
        add_user(owner, db.role("alice"), scheduler=False, password=lambda: "alice-pw")
        owner.dispose()
        yield db


@pytest.fixture
def memory_keyring(monkeypatch) -> Iterator[MemoryKeyring]:
    monkeypatch.delenv("LORADESK_DATABASE_PASSWORD", raising=False)
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def open_dialog(qtbot, tmp_path, memory_keyring):
    runner = Runner()

    def make(settings, **kwargs) -> SettingsDialog:
        widget = SettingsDialog(settings, runner, **kwargs)
        qtbot.addWidget(widget)
        return widget

    yield make
    runner.shutdown()


def test_test_connection_says_who_you_are_connected_as(team, qtbot, tmp_path, open_dialog):
    alice = team.role("alice")
    dialog = open_dialog(load_settings({"home": str(tmp_path), "database_url": team.url(alice)}, environ={}))
    qtbot.mouseClick(dialog.test_button, LEFT)
    qtbot.waitUntil(lambda: dialog.test_result.text() != "Connecting…", timeout=10000)
    assert dialog.test_result.text() == (
        f"Connected as {alice} (team mode: you see and change only your own rows)."
    )


def test_test_connection_refuses_a_user_naming_someone_else(team, qtbot, tmp_path, open_dialog):
    alice = team.role("alice")
    settings = load_settings(
        {"home": str(tmp_path), "database_url": team.url(alice)}, environ={"LORADESK_USER": "bob"}
    )
    dialog = open_dialog(settings)
    qtbot.mouseClick(dialog.test_button, LEFT)
    qtbot.waitUntil(lambda: dialog.test_result.text() != "Connecting…", timeout=10000)
    assert dialog.test_result.text().startswith(
        f"Failed: LORADESK_USER=bob is refused: this database connects you as {alice}"
    )


def test_the_open_dialog_shows_the_session_identity(tmp_path, open_dialog):
    settings = load_settings({"home": str(tmp_path)}, environ={})
    dialog = open_dialog(settings, connected_as="alice (team mode: you see and change only your own rows)")
    assert dialog.connected_as.text() == "alice (team mode: you see and change only your own rows)"
    assert dialog.connected_as.isVisibleTo(dialog)
    plain = open_dialog(settings)
    assert not plain.connected_as.isVisibleTo(plain)


def test_a_typed_database_password_goes_to_the_keyring_not_the_settings_file(
    team, qtbot, tmp_path, open_dialog, memory_keyring
):
    url = team.url(team.role("alice"))
    dialog = open_dialog(load_settings({"home": str(tmp_path)}, environ={}))
    dialog.database_url.setText(url)
    dialog.database_password.setText("typed-s3cret")
    with qtbot.waitSignal(dialog.saved, timeout=10000):
        dialog.ok_button.click()
    assert memory_keyring.entries == {("loradesk", password_key(url)): "typed-s3cret"}
    stored = (tmp_path / "settings.toml").read_text()
    assert f'database_url = "{url}"' in stored and "s3cret" not in stored
    assert dialog.database_password.text() == ""
