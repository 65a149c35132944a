"""The job table: a model over the user's jobs that updates in place, and its filter.

Rows are `Job` records in display order, with an id → row dict so an update finds its row in
O(1). An update touches only the cells whose fields changed (`dataChanged`, never a reset); new
jobs are inserted at their sorted place. Sorting happens here, in Python's sort, because a proxy
comparing 100,000 rows through `data()` calls is too slow; the proxy only filters.
Live updates do not move rows (the table must not jump under the pointer); sorting again does.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from core.formats.hyperparameters import setting_value
from core.jobs.freshness import polled
from core.records import Job, JobStatus
from core.safe_text import printable
from desktop import formatting as fmt
from desktop.app_state import AppState, Deleted
from desktop.eta import StepRates, seconds_left_from_start

Index = QModelIndex | QPersistentModelIndex
JOB_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class Column(enum.IntEnum):
    NAME = 0
    STATUS = 1
    PROGRESS = 2
    LOSS = 3
    THROUGHPUT = 4
    GPU = 5
    COST = 6
    ELAPSED = 7
    ETA = 8
    POLLED = 9
    CREATED = 10


@dataclass(frozen=True)
class ColumnSpec:
    title: str
    text: Callable[[Job], str]
    key: Callable[[Job], Any]
    fields: tuple[str, ...]  # the Job fields the cell is made from
    align: int = _LEFT


def _nones_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


def _status_text(job: Job) -> str:
    return "Cancelling…" if job.is_cancelling else job.status.value.capitalize()


_STATUS_ORDER = {status: n for n, status in enumerate(JobStatus)}
_TIMES = ("status", "started_at", "completed_at", "current_step", "total_steps", "progress")


def eta_column(rates: StepRates | None) -> ColumnSpec:
    """The ETA from these step rates (the pace since the start while they have none; without
    rates, always: a table that follows no state)."""
    seconds_left = rates.seconds_left if rates is not None else seconds_left_from_start
    return ColumnSpec(
        "ETA",
        lambda j: fmt.duration(seconds_left(j)),
        lambda j: _nones_last(seconds_left(j)),
        _TIMES,
        _RIGHT,
    )


COLUMNS: dict[Column, ColumnSpec] = {
    # Tags and notes show in the name's tooltip and are searched: a change to them is the name's.
    Column.NAME: ColumnSpec("Name", lambda j: j.name, lambda j: j.name.casefold(), ("name", "tags", "notes")),
    Column.STATUS: ColumnSpec(
        "Status", _status_text, lambda j: _STATUS_ORDER[j.status], ("status", "cancel_requested_at")
    ),
    Column.PROGRESS: ColumnSpec(
        "Progress", lambda j: f"{j.progress:.0f}%", lambda j: j.progress, ("progress",), _RIGHT
    ),
    Column.LOSS: ColumnSpec(
        "Loss",
        lambda j: fmt.loss(fmt.metric(j, "training_loss")),
        lambda j: _nones_last(fmt.metric(j, "training_loss")),
        ("current_metrics",),
        _RIGHT,
    ),
    Column.THROUGHPUT: ColumnSpec(
        "Throughput",
        lambda j: fmt.throughput(fmt.metric(j, "throughput")),
        lambda j: _nones_last(fmt.metric(j, "throughput")),
        ("current_metrics",),
        _RIGHT,
    ),
    Column.GPU: ColumnSpec("GPU", fmt.gpu, lambda j: (j.gpu_type, j.gpu_count), ("gpu_type", "gpu_count")),
    Column.COST: ColumnSpec(
        "Cost", lambda j: fmt.money(j.cost), lambda j: j.cost, ("current_cost", "final_cost"), _RIGHT
    ),
    Column.ELAPSED: ColumnSpec(
        "Elapsed",
        lambda j: fmt.duration(fmt.elapsed_seconds(j)),
        lambda j: _nones_last(fmt.elapsed_seconds(j)),
        _TIMES,
        _RIGHT,
    ),
    Column.ETA: eta_column(None),  # a model with a state reads that state's rates instead
    # How fresh an active job's figures are ("4 min ago"): with the app closed nothing polls, and
    # a stale 65 % should not pass for the trainer's 82 %. Computed when painted, as Elapsed is.
    Column.POLLED: ColumnSpec(
        "Polled",
        lambda j: polled(j, fmt.now()).removeprefix("polled "),
        lambda j: _nones_last(fmt.utc(j.polled_at) if polled(j, fmt.now()) and j.polled_at else None),
        ("polled_at", "status", "external_job_id"),
        _RIGHT,
    ),
    Column.CREATED: ColumnSpec(
        "Created", lambda j: fmt.timestamp(j.created_at), lambda j: fmt.utc(j.created_at), ("created_at",)
    ),
}
_FIELD_COLUMNS: dict[str, list[int]] = {}
for _column, _spec in COLUMNS.items():
    for _field in _spec.fields:
        _FIELD_COLUMNS.setdefault(_field, []).append(int(_column))


def setting_column(name: str) -> ColumnSpec:
    """A column of one hyperparameter (the column chooser's), sortable: numbers before text,
    jobs without the setting last."""

    def key(job: Job) -> Any:
        value = setting_value(job.hyperparameters or {}, name)
        if value is None:
            return (True, 0, 0)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (False, 0, float(value))
        return (False, 1, fmt.setting(value).casefold())

    def text(job: Job) -> str:
        return fmt.setting(setting_value(job.hyperparameters or {}, name))

    return ColumnSpec(name, text, key, ("hyperparameters",), _RIGHT)


class _Descending:
    """Wraps a sort key so that bisect on a descending list works."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.key < self.key)


class JobTableModel(QAbstractTableModel):
    """The user's jobs, one row each, in the current sort order; with a state, its jobs."""

    def __init__(self, parent: Any = None, *, state: AppState | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []
        self._rows: dict[str, int] = {}
        self._rows_valid = True
        self._sort_column = int(Column.CREATED)
        self._sort_order = Qt.SortOrder.DescendingOrder
        self._setting_columns: list[str] = []  # hyperparameters shown as columns after COLUMNS
        self._specs = list(COLUMNS.values())
        if state is not None:
            self._specs[Column.ETA] = eta_column(state.rates)
            state.jobs_reset.connect(self.set_jobs)
            state.jobs_changed.connect(self.apply_jobs)
            state.jobs_deleted.connect(self._jobs_deleted)

    # -- columns ---------------------------------------------------------------------------------
    @property
    def setting_columns(self) -> list[str]:
        return list(self._setting_columns)

    def set_setting_columns(self, names: Iterable[str]) -> None:
        """Show these hyperparameters as columns after the fixed ones, in this order."""
        names = list(dict.fromkeys(names))
        if names == self._setting_columns:
            return
        fixed = len(COLUMNS)
        sorted_by = self._setting_columns[self._sort_column - fixed] if self._sort_column >= fixed else None
        if self._setting_columns:
            self.beginRemoveColumns(QModelIndex(), fixed, fixed + len(self._setting_columns) - 1)
            self._setting_columns, self._specs = [], self._specs[:fixed]
            self.endRemoveColumns()
        if sorted_by is not None:
            self._sort_column = int(Column.CREATED)  # for now; sorted by that setting again below
        if names:
            self.beginInsertColumns(QModelIndex(), fixed, fixed + len(names) - 1)
            self._setting_columns = names
            self._specs = self._specs + [setting_column(name) for name in names]
            self.endInsertColumns()
        if sorted_by in names:
            self.sort(fixed + names.index(sorted_by), self._sort_order)
        elif sorted_by is not None:  # sorted by a column now gone: back to the default order
            self.sort(int(Column.CREATED), Qt.SortOrder.DescendingOrder)

    def column_of_setting(self, name: str) -> int | None:
        return len(COLUMNS) + self._setting_columns.index(name) if name in self._setting_columns else None

    # -- reading ---------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._specs)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._specs[section].title if 0 <= section < len(self._specs) else None
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self._jobs[index.row()]
        spec = self._specs[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            text = spec.text(job)  # names and tags come from people and clusters: shown escaped
            return printable(text) if isinstance(text, str) else text
        if role == JOB_ROLE:
            return job
        if role == SORT_ROLE:
            return spec.key(job)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return spec.align
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(job, index.column())
        return None

    def job_at(self, row: int) -> Job:
        return self._jobs[row]

    def job(self, job_id: str) -> Job | None:
        row = self.row_of(job_id)
        return None if row is None else self._jobs[row]

    def row_of(self, job_id: str) -> int | None:
        if not self._rows_valid:
            self._rows = {job.id: row for row, job in enumerate(self._jobs)}
            self._rows_valid = True
        return self._rows.get(job_id)

    def index_of(self, job_id: str, column: int = 0) -> QModelIndex:
        row = self.row_of(job_id)
        return QModelIndex() if row is None else self.index(row, column)

    def jobs(self) -> list[Job]:
        return list(self._jobs)

    # -- writing ---------------------------------------------------------------------------------
    def set_jobs(self, jobs: Iterable[Job]) -> None:
        """Replace every row (first load, full refresh)."""
        self.beginResetModel()
        self._jobs = sorted(jobs, key=self._sort_key(), reverse=self._descending())
        self._rows_valid = False
        self.endResetModel()

    def apply_jobs(self, jobs: Iterable[Job]) -> None:
        """Take in changed and new jobs: changed cells get `dataChanged`, new jobs a row."""
        new: dict[str, Job] = {}
        for job in jobs:
            row = self.row_of(job.id)
            if row is None:
                new[job.id] = job
                continue
            old = self._jobs[row]
            if job == old or fmt.utc(job.updated_at) < fmt.utc(old.updated_at):
                continue  # same record, or an older snapshot arriving late
            self._jobs[row] = job
            columns = _changed_columns(old, job)
            if columns:
                self.dataChanged.emit(self.index(row, min(columns)), self.index(row, max(columns)))
        for job in new.values():
            self._insert(job)

    def _jobs_deleted(self, deleted: Deleted) -> None:
        for job_id in deleted.job_ids:
            self.remove_job(job_id)

    def remove_job(self, job_id: str) -> None:
        row = self.row_of(job_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._jobs[row]
        self._rows_valid = False
        self.endRemoveRows()

    def _insert(self, job: Job) -> None:
        key = self._sort_key()
        if self._descending():
            keys = _KeyView(self._jobs, lambda j: _Descending(key(j)))
            row = bisect.bisect_right(keys, _Descending(key(job)))
        else:
            row = bisect.bisect_right(_KeyView(self._jobs, key), key(job))
        self.beginInsertRows(QModelIndex(), row, row)
        self._jobs.insert(row, job)
        self._rows_valid = False
        self.endInsertRows()

    # -- sorting ---------------------------------------------------------------------------------
    @property
    def sort_column(self) -> int:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self._specs):
            return
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        kept = [(index, self._jobs[index.row()].id) for index in persistent if index.isValid()]
        self._jobs.sort(key=self._sort_key(), reverse=self._descending())
        self._rows_valid = False
        self.changePersistentIndexList(
            [index for index, _ in kept],
            [self.index(self.row_of(job_id) or 0, index.column()) for index, job_id in kept],
        )
        self.layoutChanged.emit()

    def _sort_key(self) -> Callable[[Job], Any]:
        key = self._specs[self._sort_column].key
        return lambda job: (key(job), job.id)

    def _descending(self) -> bool:
        return self._sort_order == Qt.SortOrder.DescendingOrder


class _KeyView:
    """A read-only sequence of sort keys over the job list, for bisect (computes keys lazily)."""

    def __init__(self, jobs: list[Job], key: Callable[[Job], Any]) -> None:
        self._jobs, self._key = jobs, key

    def __len__(self) -> int:
        return len(self._jobs)

    def __getitem__(self, row: int) -> Any:
        return self._key(self._jobs[row])


def _changed_columns(old: Job, new: Job) -> set[int]:
    columns: set[int] = set()
    for field, field_columns in _FIELD_COLUMNS.items():
        if getattr(old, field) != getattr(new, field):
            columns.update(field_columns)
    return columns


def _tooltip(job: Job, column: int) -> str | None:
    if column == Column.STATUS:
        if job.error_message:
            return printable(job.error_message, lines=True)
        if job.is_cancelling:
            return "Cancel requested; waiting for the cluster to confirm."
        fresh = polled(job, fmt.now())  # how fresh its progress is: "polled 4 min ago"
        if fresh:
            return f"{job.status.value.capitalize()}, {fresh}"
    if column == Column.NAME:
        tags = "  ".join(f"#{tag}" for tag in job.tags)
        return printable(f"{job.name}\n{job.id}" + (f"\n{tags}" if tags else ""), lines=True)
    return None


class JobFilterProxy(QSortFilterProxyModel):
    """Filters the job table by status and by text; sorting is passed on to the source model."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._statuses: frozenset[JobStatus] | None = None
        self._text = ""

    @property
    def statuses(self) -> frozenset[JobStatus] | None:
        return self._statuses

    @property
    def text(self) -> str:
        return self._text

    def set_statuses(self, statuses: Iterable[JobStatus] | None) -> None:
        """Show only jobs with one of these statuses (None: every status)."""
        wanted = None if statuses is None else frozenset(statuses)
        if wanted != self._statuses:
            self._change_filter(lambda: setattr(self, "_statuses", wanted))

    def set_text(self, text: str) -> None:
        """Show only jobs whose name, id, status, GPU, tags or notes contain `text` (any case);
        "#tag" finds the jobs tagged so."""
        wanted = text.strip().casefold()
        if wanted != self._text:
            self._change_filter(lambda: setattr(self, "_text", wanted))

    def _change_filter(self, change: Callable[[], None]) -> None:
        self.beginFilterChange()
        change()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self._statuses is None and not self._text:
            return True
        job = self.sourceModel().job_at(source_row)  # type: ignore[attr-defined]
        if self._statuses is not None and job.status not in self._statuses:
            return False
        if not self._text:
            return True
        tags = "\n".join(f"#{tag}" for tag in job.tags)
        haystack = f"{job.name}\n{job.id}\n{job.status.value}\n{job.gpu_type}\n{tags}\n{job.notes}".casefold()
        return self._text in haystack

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)

    def job_at(self, row: int) -> Job:
        return self.data(self.index(row, 0), JOB_ROLE)  # type: ignore[no-any-return]

    def index_of(self, job_id: str) -> QModelIndex:
        source: JobTableModel = self.sourceModel()  # type: ignore[assignment]
        return self.mapFromSource(source.index_of(job_id))
