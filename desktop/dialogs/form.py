"""What the dialogs share: an error line under the form and a busy state while the core works."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QWidget


class FormDialog(QDialog):
    """A dialog whose OK runs an operation off the UI thread and stays open if it fails."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.error = QLabel(objectName="FieldError", wordWrap=True)
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self._ok_text = "OK"

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def set_ok_text(self, text: str) -> None:
        self._ok_text = text
        self.ok_button.setText(text)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def set_busy(self, busy: bool, text: str = "Working…") -> None:
        self.ok_button.setEnabled(not busy)
        self.ok_button.setText(text if busy else self._ok_text)

    def failed(self, error: BaseException) -> None:
        from desktop.operations import describe

        self.set_busy(False)
        self.show_error(describe(error))

    def submit(self) -> None:
        raise NotImplementedError
