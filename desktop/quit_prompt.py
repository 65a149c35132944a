"""Quitting with jobs still training: they keep training (a local trainer is its own process, a
cluster job lives on the cluster), so the person is told that, and how to stop them, first."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtWidgets import QMessageBox, QWidget

from core.records import Job


def still_training(jobs: Sequence[Job]) -> list[Job]:
    return [job for job in jobs if not job.status.is_terminal]


def quit_words(active: Sequence[Job]) -> tuple[str, str]:
    """(text, informative text) of the question."""
    count = len(active)
    which = f"“{active[0].name}” is" if count == 1 else f"{count} jobs are"
    keeps = "It keeps" if count == 1 else "They keep"
    text = f"{which} still queued or training. {keeps} training after you quit."
    more = (
        "Loradesk picks up their progress when it starts again; a scheduler running elsewhere "
        "(loradesk scheduler) carries on meanwhile. To stop a job, cancel it first: select it "
        "and press Del, or run `loradesk jobs cancel ID`."
    )
    return text, more


def confirm_quit(parent: QWidget, jobs: Sequence[Job], quit_now: Callable[[], None]) -> QMessageBox | None:
    """Quit at once when nothing is training; otherwise ask, saying what goes on. Returns the
    question box, if one was shown."""
    active = still_training(jobs)
    if not active:
        quit_now()
        return None
    text, more = quit_words(active)
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Quit Loradesk?",
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    box.setInformativeText(more)
    box.button(QMessageBox.StandardButton.Yes).setText("Quit, keep them training")
    box.button(QMessageBox.StandardButton.No).setText("Stay")
    box.setDefaultButton(QMessageBox.StandardButton.Yes)

    def answered(result: int) -> None:
        if result == QMessageBox.StandardButton.Yes:
            quit_now()

    box.finished.connect(answered)
    box.finished.connect(box.deleteLater)
    box.open()
    return box
