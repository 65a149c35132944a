"""Starting the app: a database that cannot be opened leads to the settings dialog, not a crash."""

from __future__ import annotations

from pathlib import Path

from core.config import load_settings
from desktop.app import DesktopApp
from desktop.dialogs.settings_dialog import SettingsDialog


def test_unopenable_database_opens_the_settings_with_the_reason(qapp, qtbot, home: Path):
    # A database that is not there (a server that is down is waited for: tests/e2e/test_database_waits.py)
    bad = "postgresql+psycopg://postgres@127.0.0.1:5432/no_such_loradesk_database"
    settings = load_settings({"home": str(home), "user": "erin", "database_url": bad})
    app = DesktopApp(qapp, settings)
    try:
        app.start()
        qtbot.waitUntil(lambda: app.window.findChild(SettingsDialog) is not None, timeout=10_000)
        dialog = app.window.findChild(SettingsDialog)
        qtbot.waitUntil(dialog.isVisible)
        texts = " ".join(label.text() for label in dialog.findChildren(type(dialog.error)))
        assert "could not open its database" in texts
        assert app.window.state_label.text() == "No database"

        dialog.database_url.setText(f"sqlite:///{home / 'loradesk.db'}")
        with qtbot.waitSignal(app.window.loaded, timeout=10_000):
            dialog.ok_button.click()
        assert app.session is not None and app.session.settings.database_url.endswith("loradesk.db")
        assert app.window.named_actions["new_job_action"].isEnabled()
    finally:
        app.shutdown()
        app.window.close()
        app.deleteLater()
