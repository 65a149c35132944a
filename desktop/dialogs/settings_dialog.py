"""Settings: database, cluster, API token, poll interval, user, tray behaviour, notifications.

The token goes to the OS keyring (service `loradesk`, user = cluster URL) and the database password
too (user = the database URL without password, see core.secrets.password_key); neither ever goes
into settings.toml. The other fields are written there. A field whose environment variable is set
says so, since the variable wins over the file.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.config import (
    CLUSTER_BACKENDS,
    ENV_VARIABLES,
    REMOTE_BACKENDS,
    SETTINGS,
    ConfigError,
    Setting,
    Settings,
    has_password,
    save_settings,
    validate,
)
from core.db.team import check_identity
from core.records import NotificationType as N
from core.secrets import TOKEN_ENV, get_cluster_token, set_cluster_token, set_database_password
from desktop.dialogs.form import FormDialog
from desktop.operations import Runner, describe

# Every setting saved to settings.toml has a field here named for it (core.config.SETTINGS), but
# the demo's offer (asked once, not set) and the notification types (the grid of boxes below).
FIELDS = tuple(s for s in SETTINGS if s.saved and s.name not in ("demo_offered", "notify"))

# The notification types a person can have announced, in their words.
ANNOUNCED = {
    N.JOB_STARTED: "Job started",
    N.JOB_PROGRESS: "Milestones (25, 50, 75 %)",
    N.JOB_COMPLETED: "Job completed",
    N.JOB_FAILED: "Job failed",
    N.JOB_CANCELLED: "Job cancelled",
    N.JOB_WARNING: "Warnings (NaN loss, 80 % of a cap or budget)",
    N.CLUSTER_AUTH_FAILED: "Cluster refused the API token",
}


def check_database(settings: Settings, password: str = "") -> str:
    """Connect without migrating; the answer for the "Test connection" button."""
    identity = check_identity(settings, password=password or None)
    return f"Connected as {identity.describe()}." if identity else "Connected."


def store(settings: Settings, changes: dict[str, Any], token: str, password: str = "") -> Settings:
    """Write the changed fields to settings.toml and, when a token or database password was typed,
    put it in the keyring (worker thread)."""
    if token and settings.cluster_url:
        set_cluster_token(settings.cluster_url, token)  # SecretStoreError: shown like any other
    if password:
        set_database_password(settings.database_url, password)
    save_settings(settings.home, changes)
    return settings


class SettingsDialog(FormDialog):
    """Signals:
    saved(Settings): the settings were written (and the token stored); the app reopens with them.
    """

    saved = Signal(object)

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        *,
        reason: str | None = None,
        connected_as: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Settings", parent)
        self.settings = settings
        self.runner = runner
        self.database_url = QLineEdit(settings.database_url)
        self.database_password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.database_password.setPlaceholderText("PostgreSQL: kept in the OS keyring, never in a file")
        self.connected_as = QLabel(connected_as or "", objectName="Muted", wordWrap=True)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel(objectName="Muted", wordWrap=True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.hide()
        self.cluster = QComboBox()
        self.cluster.addItems(CLUSTER_BACKENDS)
        self.cluster_url = QLineEdit(placeholderText="https://gpu.example.com/api")
        self.storage_url = QLineEdit(placeholderText="folders under Home; or s3://bucket/prefix")
        self.storage_url.setToolTip(
            "Where datasets and adapters live. S3 storage (credentials, region and endpoint from the "
            "standard AWS configuration) lets a cluster on other machines reach them."
        )
        self.token = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("kept in the OS keyring")
        self.poll_interval = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=3600, suffix=" s")
        self.user = QLineEdit()
        self.trainer_python = QLineEdit(placeholderText="this Python (needs the trainer extra)")
        self.local_max_jobs = QSpinBox(minimum=1, maximum=64)
        self.local_rate = QDoubleSpinBox(decimals=2, minimum=0, maximum=1000, prefix="$", suffix=" /h")
        self.local_rate.setToolTip(
            "What an hour of this machine's own hardware costs (per GPU, the CPU counting as one): "
            "local jobs are billed at it against the monthly budget"
        )
        self.max_resumes = QSpinBox(minimum=0, maximum=100)
        self.max_resumes.setToolTip(
            "Times a local job whose trainer died (out of memory, killed, a reboot) is continued"
            " from its last checkpoint before it fails"
        )
        self.max_submit_attempts = QSpinBox(minimum=1, maximum=100)
        self.max_in_flight = QSpinBox(minimum=1, maximum=10_000)
        self.max_in_flight.setToolTip(
            "Requests to the GPU cluster at once, at most (and jobs a scheduler claims at a time);"
            " halved while the cluster answers 429 or slows down, then grown back"
        )
        self.monthly_budget = QDoubleSpinBox(decimals=2, minimum=0, maximum=10_000_000, prefix="$")
        self.monthly_budget.setSpecialValueText("No budget")
        self.monthly_budget.setToolTip(
            "US$ you may spend per calendar month: a warning at 80 % and 100 %, and a new job that "
            "would pass it asks first"
        )
        self.keep_in_tray = QCheckBox("Keep running in the tray when the window is closed")
        for setting in FIELDS:
            _put(self.field(setting.name), getattr(settings, setting.name))
        self.announce = {kind: QCheckBox(text) for kind, text in ANNOUNCED.items()}
        for kind, box in self.announce.items():
            box.setChecked(kind.value in settings.notify)
        self.cluster.currentTextChanged.connect(self._cluster_changed)
        self._build(reason)
        self._cluster_changed(settings.cluster)
        self._shown = self.field_values()
        self.set_ok_text("Save")
        self.resize(620, self.sizeHint().height())
        if settings.cluster_url:
            runner.run(
                get_cluster_token, settings.cluster_url, on_done=self._token_known, on_error=lambda e: None
            )

    def _build(self, reason: str | None) -> None:
        layout = QVBoxLayout(self)
        if reason:
            problem = QLabel(f"Loradesk could not open its database:\n{reason}", objectName="FieldError")
            problem.setWordWrap(True)
            layout.addWidget(problem)
        row = QHBoxLayout()
        row.addWidget(self.database_url, 1)
        row.addWidget(self.test_button)
        database = QWidget()
        column = QVBoxLayout(database)  # the answer right under the URL, as wide as the field
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.test_result)
        form = QFormLayout()
        form.addRow("Database URL", self._with_env_note(database, "database_url"))
        form.addRow("Database password", self.database_password)
        if self.connected_as.text():
            form.addRow("Connected as", self.connected_as)
        rows = (
            ("Cluster backend", "cluster"),
            ("Cluster URL", "cluster_url"),
            ("API token", None),
            ("Storage", "storage_url"),
            ("Poll interval", "poll_interval"),
            ("Submit attempts", "max_submit_attempts"),
            ("Requests in flight", "max_in_flight"),
            ("Monthly budget", "monthly_budget"),
            ("User", "user"),
            ("Trainer Python", "trainer_python"),
            ("Local jobs at once", "local_max_jobs"),
            ("Resumes after a crash", "max_resumes"),
            ("Own hardware costs", "local_rate"),
        )
        for label, name in rows:
            form.addRow(label, self.token if name is None else self._with_env_note(self.field(name), name))
        form.addRow("", self.keep_in_tray)
        form.addRow("Announce", self._with_env_note(self._announce_grid(), "notify"))
        form.addRow("Home", QLabel(str(self.settings.home), objectName="Muted"))
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def _announce_grid(self) -> QWidget:
        """One checkbox per notification type, in two columns; unticked ones are listed, not shown."""
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        for n, check in enumerate(self.announce.values()):
            grid.addWidget(check, n // 2, n % 2)
        box.setToolTip("Tray (or in-window) announcements; every notification stays in the list")
        return box

    def _with_env_note(self, field: QWidget | QHBoxLayout, name: str) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        if isinstance(field, QHBoxLayout):
            column.addLayout(field)
        else:
            column.addWidget(field)
        if os.environ.get(ENV_VARIABLES[name]):
            column.addWidget(
                QLabel(f"{ENV_VARIABLES[name]} is set and wins over this value", objectName="Muted")
            )
        return box

    def _cluster_changed(self, backend: str) -> None:
        remote = backend in REMOTE_BACKENDS
        self.cluster_url.setEnabled(remote)
        self.cluster_url.setPlaceholderText(
            "http://ray-head:8265 (the Ray dashboard)" if backend == "ray" else "https://gpu.example.com/api"
        )
        self.token.setEnabled(remote)
        self.trainer_python.setEnabled(not remote)
        self.local_max_jobs.setEnabled(not remote)
        self.max_resumes.setEnabled(not remote)
        self.local_rate.setEnabled(not remote)

    def _token_known(self, token: str | None) -> None:
        if os.environ.get(TOKEN_ENV):
            self.token.setPlaceholderText(f"{TOKEN_ENV} is set and is used")
        elif token:
            self.token.setPlaceholderText("a token is stored in the keyring; type to replace it")

    def field(self, name: str) -> QWidget:
        """The field of a setting: the attribute named for it."""
        field = getattr(self, name)
        assert isinstance(field, QWidget)
        return field

    def field_values(self) -> dict[str, Any]:
        """The saved settings as the fields hold them now, read as the table reads a value."""
        values = {setting.name: _held(setting, self.field(setting.name)) for setting in FIELDS}
        values["notify"] = tuple(kind.value for kind, box in self.announce.items() if box.isChecked())
        return values

    def changes(self) -> dict[str, Any]:
        """What the person changed in the fields. Compared with what the fields first showed (not
        with the settings), so a value a field rounds or trims does not count as a change."""
        return {k: v for k, v in self.field_values().items() if v != self._shown[k]}

    def edited(self) -> Settings:
        """The settings as edited; ConfigError names a field Loradesk cannot use."""
        values = self.field_values()
        for name, words in (("database_url", "database URL"), ("user", "user")):
            if not values[name]:
                raise ConfigError(f"{words} must not be empty")
        settings = self.settings.with_changes(**values)
        validate(settings)
        return settings

    def test_connection(self) -> None:
        try:
            settings = self.edited()
        except ConfigError as exc:
            self.show_error(str(exc))
            return
        self.test_button.setEnabled(False)
        self.test_result.setText("Connecting…")
        self.test_result.show()
        self.runner.run(
            check_database,
            settings,
            self.database_password.text(),
            on_done=self._tested,
            on_error=self._tested,
        )

    def _tested(self, result: str | BaseException) -> None:
        self.test_button.setEnabled(True)
        failed = not isinstance(result, str)
        self.test_result.setText(str(result) if isinstance(result, str) else f"Failed: {describe(result)}")
        self.test_result.setObjectName("FieldError" if failed else "Muted")
        self.test_result.style().unpolish(self.test_result)
        self.test_result.style().polish(self.test_result)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow to show a long answer whole: a form does not ask a wrapped label how tall it gets,
        so the label asks for its height at its width, and the dialog grows to its new minimum."""
        _activate(self)
        label = self.test_result
        label.setMinimumHeight(max(0, label.heightForWidth(label.width())))
        _activate(self)
        self.resize(self.width(), max(self.height(), self.minimumSizeHint().height()))

    def submit(self) -> None:
        try:
            settings = self.edited()
            changes = self.changes()
            if has_password(changes.get("database_url")):
                raise ConfigError(
                    "leave the password out of the database URL (it would be saved to "
                    "settings.toml); type it under Database password, which keeps it in the OS keyring"
                )
        except ConfigError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self.set_busy(True, "Saving…")
        token = self.token.text().strip() if settings.cluster in REMOTE_BACKENDS else ""
        password = self.database_password.text()
        # Only what the person changed here: the fields also show values from the environment
        # and the command line, which must not become the file's.
        self.runner.run(store, settings, changes, token, password, on_done=self._stored, on_error=self.failed)

    def _stored(self, settings: Settings) -> None:
        self.set_busy(False)
        self.token.clear()
        self.database_password.clear()
        self.saved.emit(settings)
        self.accept()


def _put(field: QWidget, value: Any) -> None:
    """Show a setting's value in its field (a spin box's special text for none)."""
    if isinstance(field, QLineEdit):
        field.setText("" if value is None else str(value))
    elif isinstance(field, QComboBox):
        field.setCurrentText(str(value))
    elif isinstance(field, QCheckBox):
        field.setChecked(bool(value))
    elif isinstance(field, QSpinBox):
        field.setValue(int(value))
    elif isinstance(field, QDoubleSpinBox):
        field.setValue(field.minimum() if value is None else float(value))


def _held(setting: Setting, field: QWidget) -> Any:
    """A field's value as the setting's: text read as the table reads it (empty: none), a spin box
    on its special text none."""
    if isinstance(field, QLineEdit):
        return setting.read(field.text().strip())
    if isinstance(field, QComboBox):
        return field.currentText()
    if isinstance(field, QCheckBox):
        return field.isChecked()
    if isinstance(field, QSpinBox):
        return field.value()
    if isinstance(field, QDoubleSpinBox):
        at_none = bool(field.specialValueText()) and field.value() == field.minimum()
        return None if at_none else float(field.value())
    raise TypeError(f"no reading for a {type(field).__name__}")


def _activate(widget: QWidget) -> None:
    """Lay the widget out now (not at the next turn of the event loop)."""
    layout = widget.layout()
    if layout is not None:
        layout.activate()
