"""How the user left the view (chart smoothing, the table's setting columns), remembered across
runs in Qt's own settings store.

This is not configuration (nothing a scheduler or the command line needs): it lives beside the
window state Qt keeps per user, not in settings.toml.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal

SMOOTHING_KEY = "charts/loss_smoothing"
SETTING_COLUMNS_KEY = "jobs/setting_columns"


def _store() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Loradesk", "view")


def chosen_smoothing() -> float | None:
    """The smoothing the user last picked, None when they never moved the slider."""
    value = _store().value(SMOOTHING_KEY)
    try:
        return None if value is None else float(value)  # type: ignore[arg-type,unused-ignore]
    except (TypeError, ValueError):
        return None


class _SmoothingChoice(QObject):
    """Signals:
    chosen(float): the person moved a smoothing slider (the monitor's or the compare view's);
        every loss chart takes it, so one slider sets them all.
    """

    chosen = Signal(float)


_choice: _SmoothingChoice | None = None


def smoothing_choice() -> _SmoothingChoice:
    global _choice
    if _choice is None:
        _choice = _SmoothingChoice()
    return _choice


def remember_smoothing(weight: float) -> None:
    _store().setValue(SMOOTHING_KEY, round(weight, 2))
    smoothing_choice().chosen.emit(round(weight, 2))


def chosen_setting_columns() -> list[str]:
    """The hyperparameters the user chose to see as table columns, in their order."""
    value = _store().value(SETTING_COLUMNS_KEY)
    if isinstance(value, str):  # QSettings gives a one-item list back as a plain string
        value = [value]
    if not isinstance(value, list):
        return []
    return [str(name) for name in value if isinstance(name, str) and name]


def remember_setting_columns(names: list[str]) -> None:
    if names:
        _store().setValue(SETTING_COLUMNS_KEY, list(names))
    else:
        _store().remove(SETTING_COLUMNS_KEY)
