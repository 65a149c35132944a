"""Issue 21, item 5: with the app closed nothing polls, so the table says how fresh each active
job's figures are ("polled 4 min ago"), in a column a person reads without hovering, moving on as
time passes though nothing in the database changes."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QEvent, QObject, QRect

from core.records import JobStatus
from desktop import formatting as fmt
from desktop.app_state import Change
from desktop.jobs_model import Column
from tests.desktop.factories import BASE, bump, make_job
from tests.desktop.windows import show_main_window


class PaintedRegions(QObject):
    """Records the regions a widget repaints."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list[QRect] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.rect())  # type: ignore[attr-defined]
        return False


def cell(window, job_id: str, column: Column) -> str:
    return window.proxy.index_of(job_id).siblingAtColumn(column).data()


def test_each_active_job_shows_when_it_was_last_polled_and_the_words_age(qtbot, monkeypatch):
    now = BASE + timedelta(hours=1)
    monkeypatch.setattr(fmt, "now", lambda: now)
    window = show_main_window(qtbot)
    running = make_job(1, external_job_id="ext-1", polled_at=now - timedelta(minutes=4, seconds=5))
    waiting = make_job(2, status=JobStatus.INITIALIZING, external_job_id="ext-2")  # submitted, not yet asked
    queued = make_job(3, status=JobStatus.QUEUED)
    done = make_job(4, status=JobStatus.COMPLETED, external_job_id="ext-4", polled_at=now)
    window.state.apply(Change(jobs=[running, waiting, queued, done], all_jobs=True))

    header = window.table.horizontalHeader()
    assert window.model.headerData(Column.POLLED, header.orientation()) == "Polled"
    assert cell(window, running.id, Column.POLLED) == "4 min ago"
    assert cell(window, waiting.id, Column.POLLED) == "never polled"
    assert cell(window, queued.id, Column.POLLED) == ""  # nothing on a cluster to ask yet
    assert cell(window, done.id, Column.POLLED) == ""  # over: its figures are final
    # On screen at a laptop's width, without scrolling sideways.
    rect = window.table.visualRect(window.proxy.index_of(running.id).siblingAtColumn(Column.POLLED))
    assert window.table.viewport().rect().contains(rect), rect
    assert window.table.horizontalScrollBar().maximum() == 0

    # Three minutes on, nothing written anywhere: the cell repaints with the new age.
    qtbot.waitExposed(window)
    qtbot.wait(200)  # the first paint of the whole table is over
    painted = PaintedRegions()
    window.table.viewport().installEventFilter(painted)
    now += timedelta(minutes=3)
    whole = window.table.viewport().rect()
    qtbot.waitUntil(lambda: any(r.intersects(rect) and r != whole for r in painted.regions), timeout=3000)
    assert cell(window, running.id, Column.POLLED) == "7 min ago"

    # A poll lands: the row's record carries the new time.
    window.state.apply(Change(jobs=[bump(running, polled_at=now - timedelta(seconds=12))]))
    assert cell(window, running.id, Column.POLLED) == "12 s ago"
