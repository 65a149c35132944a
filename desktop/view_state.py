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


class _Smoothing(QObject):
    """The one smoothing every loss chart draws with, the monitor's and the compare view's: the
    person's choice (kept across runs), else what suits the run last shown (this session only).

    Signals:
        changed(float): the smoothing moved; every loss chart takes it, so one slider sets them all.
    """

    changed = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.suited: float | None = None


_smoothing: _Smoothing | None = None


def smoothing_changes() -> _Smoothing:
    global _smoothing
    if _smoothing is None:
        _smoothing = _Smoothing()
    return _smoothing


def current_smoothing() -> float | None:
    """What every loss chart draws with now; None before any chart was shown a run or a choice."""
    chosen = chosen_smoothing()
    return chosen if chosen is not None else smoothing_changes().suited


def remember_smoothing(weight: float) -> None:
    """The person moved a slider: every chart takes it, now and at the next start."""
    _store().setValue(SMOOTHING_KEY, round(weight, 2))
    smoothing_changes().changed.emit(round(weight, 2))


def suit_smoothing(weight: float) -> None:
    """What suits the run on screen, unless the person chose a smoothing of their own."""
    shared = smoothing_changes()
    if chosen_smoothing() is None and shared.suited != weight:
        shared.suited = weight
        shared.changed.emit(weight)


def forget_session() -> None:
    """A fresh session's view (tests: nothing suited carries over from the last window)."""
    global _smoothing
    _smoothing = None


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
