"""Settings: the token lands in the keyring and never in settings.toml; fields are validated."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.config import load_settings
from core.records import NotificationType
from desktop.dialogs.settings_dialog import SettingsDialog
from desktop.operations import Runner

URL = "https://gpu.example.com/api"


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


@pytest.fixture
def memory_keyring(monkeypatch):
    monkeypatch.delenv("LORADESK_CLUSTER_TOKEN", raising=False)
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def dialog(qtbot, tmp_path, memory_keyring, monkeypatch):
    for name in ("LORADESK_DATABASE_URL", "LORADESK_CLUSTER", "LORADESK_CLUSTER_URL", "LORADESK_USER"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings({"home": str(tmp_path), "user": "alice"}, environ={})
    runner = Runner()
    widget = SettingsDialog(settings, runner)
    qtbot.addWidget(widget)
    yield widget
    runner.shutdown()


def test_token_goes_to_the_keyring_not_the_settings_file(dialog, qtbot, memory_keyring, tmp_path):
    dialog.cluster.setCurrentText("http")
    dialog.cluster_url.setText(URL)
    dialog.token.setText("s3cret-token")
    with qtbot.waitSignal(dialog.saved, timeout=5000) as signal:
        dialog.ok_button.click()
    assert memory_keyring.entries == {("loradesk", URL): "s3cret-token"}
    stored = (tmp_path / "settings.toml").read_text()
    assert f'cluster_url = "{URL}"' in stored
    assert "s3cret" not in stored
    assert signal.args[0].cluster == "http"
    assert load_settings({"home": str(tmp_path)}, environ={}).cluster_url == URL


def test_every_saved_setting_of_the_table_has_a_field_showing_its_value(dialog):
    """A setting saved to settings.toml (core.config.SETTINGS) has a field here named for it, which
    shows the setting's value and reads back as it; only the demo's offer has none."""
    from core.config import SETTINGS

    held = dialog.field_values()
    assert set(held) == {s.name for s in SETTINGS if s.saved} - {"demo_offered"}
    assert held == {name: getattr(dialog.settings, name) for name in held}
    assert dialog.monthly_budget.text() == "No budget" and dialog.cluster_url.text() == ""


def test_invalid_fields_are_refused_with_a_message(dialog, qtbot, tmp_path):
    dialog.cluster.setCurrentText("http")
    dialog.cluster_url.setText("")
    with qtbot.assertNotEmitted(dialog.saved, wait=100):
        dialog.ok_button.click()
    assert "cluster URL" in dialog.error.text()
    dialog.cluster_url.setText("ftp://nope")
    dialog.ok_button.click()
    assert "must start with http" in dialog.error.text()
    dialog.database_url.setText("")
    dialog.ok_button.click()
    assert "database URL" in dialog.error.text()
    assert not (tmp_path / "settings.toml").exists()


def test_test_connection_reports_success_and_failure(dialog, qtbot, tmp_path):
    dialog.database_url.setText(f"sqlite:///{tmp_path / 'ok.db'}")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.test_result.text() == "Connected.", timeout=5000)
    dialog.database_url.setText("nosuchdialect://x")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith("Failed:"), timeout=5000)


def test_reason_is_shown_when_the_database_could_not_be_opened(qtbot, tmp_path, memory_keyring):
    settings = load_settings({"home": str(tmp_path), "user": "alice"}, environ={})
    runner = Runner()
    widget = SettingsDialog(settings, runner, reason="could not connect to server")
    qtbot.addWidget(widget)
    labels = [label.text() for label in widget.findChildren(type(widget.error))]
    assert any("could not connect to server" in text for text in labels)
    runner.shutdown()


def test_local_trainer_settings_are_saved(dialog, qtbot, tmp_path):
    dialog.trainer_python.setText("/opt/trainer-env/bin/python")
    dialog.local_max_jobs.setValue(2)
    assert dialog.max_resumes.value() == 2  # the default
    dialog.max_resumes.setValue(5)
    assert dialog.local_rate.text() == "$0.00 /h"  # own hardware is free until said otherwise
    dialog.local_rate.selectAll()
    qtbot.keyClicks(dialog.local_rate, "0.40")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        dialog.ok_button.click()
    saved = load_settings({"home": str(tmp_path)}, environ={})
    assert saved.local_rate == 0.4
    assert (saved.trainer_python, saved.local_max_jobs) == ("/opt/trainer-env/bin/python", 2)
    assert saved.max_resumes == 5
    assert load_settings({"home": str(tmp_path)}, environ={"LORADESK_MAX_RESUMES": "0"}).max_resumes == 0
    dialog.cluster.setCurrentText("http")
    assert not dialog.trainer_python.isEnabled() and not dialog.max_resumes.isEnabled()


def test_saving_writes_only_what_the_person_changed(qtbot, tmp_path, memory_keyring):
    """The dialog shows values from the environment and the command line (a database URL with a
    password, a user, a poll interval the field rounds); saving one changed field writes that
    field alone."""
    secret_url = "postgresql+psycopg://team:hunter2@127.0.0.1:1/loradesk"
    environ = {"LORADESK_DATABASE_URL": secret_url, "LORADESK_USER": "from-env"}
    settings = load_settings({"home": str(tmp_path), "poll_interval": 0.25}, environ=environ)
    runner = Runner()
    widget = SettingsDialog(settings, runner)
    qtbot.addWidget(widget)
    assert widget.database_url.text() == secret_url and widget.user.text() == "from-env"

    qtbot.mouseClick(widget.keep_in_tray, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(widget.saved, timeout=5000):
        widget.ok_button.click()
    runner.shutdown()

    assert (tmp_path / "settings.toml").read_text() == "keep_in_tray = false\n"


def test_a_typed_database_password_is_refused_not_saved(dialog, qtbot, tmp_path):
    dialog.database_url.setText("postgresql+psycopg://me:hunter2@127.0.0.1:1/db")
    with qtbot.assertNotEmitted(dialog.saved, wait=100):
        dialog.ok_button.click()
    assert "password" in dialog.error.text()
    assert not (tmp_path / "settings.toml").exists()


def test_test_connection_failure_is_shown_whole(dialog, qtbot, tmp_path):
    dialog.show()
    qtbot.waitExposed(dialog)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    dialog.database_url.setText(f"sqlite:///{blocker}/{'deeper-and-deeper/' * 6}loradesk.db")
    QTest.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith("Failed:"), timeout=5000)
    label = dialog.test_result
    assert label.objectName() == "FieldError"  # red like the other errors, not faint grey
    assert str(blocker) in label.text()
    assert label.heightForWidth(label.width()) > 2 * label.fontMetrics().height()  # it wraps

    def readable() -> bool:
        whole = label.height() >= label.heightForWidth(label.width())
        bottom = label.mapTo(dialog, label.rect().bottomLeft()).y()
        next_row = dialog.cluster.mapTo(dialog, dialog.cluster.rect().topLeft()).y()
        return whole and bottom < next_row and dialog.rect().contains(label.geometry())

    qtbot.waitUntil(readable, timeout=2000)


def test_notification_preferences_are_saved(dialog, qtbot, tmp_path):
    dialog.show()
    qtbot.waitExposed(dialog)
    milestones = dialog.announce[NotificationType.JOB_PROGRESS]
    assert milestones.text() == "Milestones (25, 50, 75 %)"
    # announced by default: everything but milestones, which go to the drawer only
    assert not milestones.isChecked()
    assert all(box.isChecked() for kind, box in dialog.announce.items() if box is not milestones)
    QTest.mouseClick(milestones, Qt.MouseButton.LeftButton)
    started = dialog.announce[NotificationType.JOB_STARTED]
    started.setFocus()
    QTest.keyClick(started, Qt.Key.Key_Space)  # a second click this soon would be a double-click
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        dialog.ok_button.click()
    assert "job_progress" in saved.args[0].notify  # asked for: milestones reach the tray too
    assert "job_started" not in saved.args[0].notify
    assert "job_failed" in saved.args[0].notify
    reloaded = load_settings({"home": str(tmp_path)}, environ={})
    assert reloaded.notify == saved.args[0].notify


def test_ray_cluster_with_s3_storage_is_saved_and_its_token_kept_in_the_keyring(
    dialog, qtbot, memory_keyring, tmp_path, monkeypatch
):
    monkeypatch.delenv("LORADESK_STORAGE_URL", raising=False)
    ray_url = "http://ray-head.example:8265"
    dialog.cluster.setCurrentText("ray")
    assert dialog.cluster_url.isEnabled() and dialog.token.isEnabled()
    assert "Ray dashboard" in dialog.cluster_url.placeholderText()
    dialog.cluster_url.setText(ray_url)
    dialog.token.setText("ray-token")
    dialog.storage_url.setText("gs://not-s3")
    dialog.ok_button.click()
    assert "local folder or s3://" in dialog.error.text()  # one line, nothing saved
    assert not (tmp_path / "settings.toml").exists()

    dialog.storage_url.setText("s3://team-bucket/loradesk")
    with qtbot.waitSignal(dialog.saved, timeout=5000) as signal:
        dialog.ok_button.click()
    stored = (tmp_path / "settings.toml").read_text()
    assert 'storage_url = "s3://team-bucket/loradesk"' in stored and 'cluster = "ray"' in stored
    assert "ray-token" not in stored
    assert memory_keyring.entries == {("loradesk", ray_url): "ray-token"}
    assert signal.args[0].storage_url == "s3://team-bucket/loradesk"
