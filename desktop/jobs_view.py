"""The job table on screen: status badges, progress bars, and a view that keeps its place.

Pairs with `core/jobs/service.py`. The view reports the selected job by id; rows inserted above the
viewport do not push what the user is looking at out of sight.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from core.formats.hyperparameters import SETTING_NAMES
from core.records import Job
from desktop import theme, view_state
from desktop.jobs_model import JOB_ROLE, Column, JobFilterProxy, JobTableModel

ROW_HEIGHT = 30
SETTING_WIDTH = 96
NO_MATCH = "No job matches the search or the status filter."
_WIDTHS = {
    Column.NAME: 220,
    Column.STATUS: 112,
    Column.PROGRESS: 130,
    Column.LOSS: 80,
    Column.THROUGHPUT: 110,
    Column.GPU: 120,
    Column.COST: 80,
    Column.ELAPSED: 84,
    Column.ETA: 84,
    Column.POLLED: 96,
    Column.CREATED: 120,
}


class RowDelegate(QStyledItemDelegate):
    """Plain cells without the focus frame: the whole row is what is selected."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.state &= ~QStyle.StateFlag.State_HasFocus


class StatusBadgeDelegate(QStyledItemDelegate):
    """A rounded badge in the status's colour."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        _paint_background(painter, option)
        job: Job | None = index.data(JOB_ROLE)
        if job is None:
            return
        text = index.data()
        colour = theme.current().status_color(job.status)
        font = option.font
        font.setPointSizeF(font.pointSizeF() * 0.9)
        font.setWeight(font.Weight.DemiBold)
        painter.save()
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(text) + 18
        height = min(20, option.rect.height() - 8)
        rect = QRectF(option.rect.left() + 6, option.rect.center().y() - height / 2 + 1, width, height)
        fill = QColor(colour)
        fill.setAlpha(40)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(colour)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class ProgressDelegate(QStyledItemDelegate):
    """A thin bar with the percentage beside it."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        _paint_background(painter, option)
        job: Job | None = index.data(JOB_ROLE)
        if job is None:
            return
        palette = option.palette
        rect = option.rect.adjusted(8, 0, -8, 0)
        text_width = 40
        bar = QRectF(rect.left(), rect.center().y() - 2.5, rect.width() - text_width - 6, 6)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Midlight))
        painter.drawRoundedRect(bar, 3, 3)
        fraction = max(0.0, min(1.0, job.progress / 100.0))
        if fraction > 0:
            done = QRectF(bar.left(), bar.top(), max(6.0, bar.width() * fraction), bar.height())
            painter.setBrush(theme.current().status_color(job.status))
            painter.drawRoundedRect(done, 3, 3)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        text_rect = QRectF(rect.right() - text_width, rect.top(), text_width, rect.height())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, index.data())
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(_WIDTHS[Column.PROGRESS], ROW_HEIGHT)


def _paint_background(painter: QPainter, option: QStyleOptionViewItem) -> None:
    style = option.widget.style() if option.widget else None
    if style is not None:
        opt = QStyleOptionViewItem(option)
        opt.text = ""
        opt.state &= ~QStyle.StateFlag.State_HasFocus
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, option.widget)


class StayOpenMenu(QMenu):
    """A menu that stays open while its check boxes are ticked (a click toggles, as in a list)."""

    def mouseReleaseEvent(self, event: Any) -> None:
        action = self.activeAction()
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: Any) -> None:
        action = self.activeAction()
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
        if action is not None and action.isCheckable() and action.isEnabled() and event.key() in keys:
            action.trigger()
            return
        super().keyPressEvent(event)


class JobTableView(QTableView):
    """The table of jobs.

    Signals:
        job_selected(str): the id of the one job the user selected ("" when none is, or several).
        jobs_selected(list): the ids of every selected job, in table order (Ctrl/Shift-click).
    """

    job_selected = Signal(str)
    jobs_selected = Signal(list)

    def __init__(self, model: JobTableModel, proxy: JobFilterProxy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("JobTable")
        self._model, self._proxy = model, proxy
        self._hidden_selection: str | None = None  # the selected job while a filter hides it
        proxy.setSourceModel(model)
        # Before setModel, so this runs before the view moves the selection to a neighbouring row.
        proxy.rowsAboutToBeRemoved.connect(self._selected_row_leaving)
        self.setModel(proxy)
        self._setup_look()
        self.setItemDelegate(RowDelegate(self))
        self.setItemDelegateForColumn(Column.STATUS, StatusBadgeDelegate(self))
        self.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self))
        self.horizontalHeader().setSortIndicator(model.sort_column, model.sort_order)
        self.setSortingEnabled(True)  # sorts by the indicator set just above
        # Right-click on the header: choose hyperparameters to show as columns (remembered).
        header = self.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self.show_column_chooser)
        self.column_menu: QMenu | None = None
        self.set_setting_columns(view_state.chosen_setting_columns(), remember=False)
        # The selection, not the current index: when a filter hides the selected row, Qt moves the
        # current index to a neighbour without selecting it, and nothing should follow that.
        self.selectionModel().selectionChanged.connect(self._selection_changed)
        self._anchor: QPersistentModelIndex | None = None
        proxy.rowsAboutToBeInserted.connect(self._remember_top_row)
        proxy.rowsInserted.connect(self._restore_top_row)
        proxy.rowsInserted.connect(self._selected_row_back)
        self._ticker = QTimer(self, interval=1000, timeout=self._tick)
        self._ticker.start()
        self._empty_text = ""
        self.empty_label = QLabel(self.viewport(), objectName="TableEmptyState", wordWrap=True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.hide()
        for signal in (proxy.rowsInserted, proxy.rowsRemoved, proxy.modelReset, proxy.layoutChanged):
            signal.connect(self._show_empty_state)

    @property
    def proxy(self) -> JobFilterProxy:
        """The filter and sort between the model and the rows shown (the search box sets it)."""
        return self._proxy

    def set_empty_text(self, text: str) -> None:
        """What the table says when there are no jobs at all ("" while they are still loading)."""
        self._empty_text = text
        self._show_empty_state()

    def empty_state(self) -> str:
        """The words on the empty table, "" when it shows rows."""
        return self.empty_label.text() if self.empty_label.isVisible() else ""

    def _show_empty_state(self, *_args: Any) -> None:
        if self._proxy.rowCount() > 0:
            self.empty_label.hide()
            return
        text = NO_MATCH if self._model.rowCount() > 0 else self._empty_text
        self.empty_label.setText(text)
        self.empty_label.setVisible(bool(text))
        self.empty_label.setGeometry(self.viewport().rect().adjusted(24, 12, -24, -12))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.empty_label.setGeometry(self.viewport().rect().adjusted(24, 12, -24, -12))
        # The monitor opening below a selection shrinks the table: keep the selected row in sight.
        current = self.currentIndex()
        if event.size().height() < event.oldSize().height() and current.isValid():
            self.scrollTo(current)

    def _setup_look(self) -> None:
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # A click selects one job (the monitor); Ctrl- and Shift-clicks select several (compare).
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no measuring 100,000 rows
        vertical.setDefaultSectionSize(ROW_HEIGHT)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column, width in _WIDTHS.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)

    # -- the column chooser ----------------------------------------------------------------------
    def set_setting_columns(self, names: list[str], *, remember: bool = True) -> None:
        """Show these hyperparameters as columns after the fixed ones (sortable like any other)."""
        self._model.set_setting_columns(names)
        header = self.horizontalHeader()
        for name in self._model.setting_columns:
            if (column := self._model.column_of_setting(name)) is not None:
                header.resizeSection(column, SETTING_WIDTH)
        # The name stretches into spare room; with setting columns there is none, so it keeps
        # its width and the table scrolls sideways rather than squeezing names to "gemm…".
        if self._model.setting_columns:
            header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(Column.NAME, _WIDTHS[Column.NAME])
        else:
            header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setSortIndicator(self._model.sort_column, self._model.sort_order)
        if remember:
            view_state.remember_setting_columns(self._model.setting_columns)

    def setting_names(self) -> list[str]:
        """What the chooser offers: every hyperparameter a job can have, then any other key the
        jobs in the table carry (a cluster's own)."""
        names = dict.fromkeys(SETTING_NAMES)
        for job in self._model.jobs():
            names.update(dict.fromkeys(job.hyperparameters or {}))
        return list(names)

    def show_column_chooser(self, position: Any = None) -> QMenu:
        """The header's menu of settings to show as columns; returns it (open, not blocking)."""
        menu = StayOpenMenu(self)  # several columns are ticked in one go
        menu.addSection("Show settings as columns")
        shown = self._model.setting_columns
        for name in self.setting_names():
            action = menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in shown)
            action.toggled.connect(lambda on, name=name: self._setting_toggled(name, on))
        if shown:
            menu.addSeparator()
            menu.addAction("Hide all setting columns", lambda: self.set_setting_columns([]))
        menu.aboutToHide.connect(menu.deleteLater)
        self.column_menu = menu
        header = self.horizontalHeader()
        menu.popup(header.mapToGlobal(position if position is not None else header.rect().center()))
        return menu

    def _setting_toggled(self, name: str, on: bool) -> None:
        names = [n for n in self._model.setting_columns if n != name]
        self.set_setting_columns([*names, name] if on else names)

    def _tick(self) -> None:
        """Elapsed, ETA and Polled are computed when painted: repainting their visible cells moves
        them on.

        (A `dataChanged` per running job would cost a second per 100,000 jobs.)
        """
        viewport = self.viewport()
        for column in (Column.ELAPSED, Column.ETA, Column.POLLED):
            left = self.columnViewportPosition(column)
            if left >= 0:
                viewport.update(QRect(left, 0, self.columnWidth(column), viewport.height()))

    def job_at(self, index: QModelIndex) -> Job:
        """The job of a row of this view (an index of the filter)."""
        return self._proxy.job_at(index.row())

    def selected_job_ids(self) -> list[str]:
        """Every selected job, in table order."""
        rows = sorted(self.selectionModel().selectedRows(), key=lambda index: index.row())
        jobs: list[Job | None] = [index.data(JOB_ROLE) for index in rows]
        return [job.id for job in jobs if job is not None]

    def selected_job_id(self) -> str | None:
        """The selected job when exactly one is (what the monitor, Del and Export act on)."""
        ids = self.selected_job_ids()
        return ids[0] if len(ids) == 1 else None

    def select_job(self, job_id: str) -> bool:
        """Select the job's row and scroll to it; False when it is not in the (filtered) table."""
        index = self._proxy.index_of(job_id)
        if not index.isValid():
            return False
        flags = self.selectionModel().SelectionFlag
        self.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
        self.scrollTo(index)
        return True

    def row_of(self, job_id: str) -> int | None:
        """The job's row in the table as shown (filtered and sorted), or None."""
        index = self._proxy.index_of(job_id)
        return index.row() if index.isValid() else None

    def select_row(self, row: int) -> bool:
        """Select the row at `row`, or the last one when the table has fewer; False when empty."""
        count = self._proxy.rowCount()
        if count == 0:
            return False
        return self.select_job(self._proxy.job_at(min(row, count - 1)).id)

    def select_jobs(self, job_ids: list[str]) -> list[str]:
        """Select these jobs' rows at once (one selection change); returns those in the table."""
        found = [(job_id, self._proxy.index_of(job_id)) for job_id in job_ids]
        found = [(job_id, index) for job_id, index in found if index.isValid()]
        if len(found) <= 1:
            return [job_id for job_id, _ in found if self.select_job(job_id)]
        indexes = [index for _, index in found]
        selection = QItemSelection()
        for index in indexes:
            selection.select(index, index)
        flags = self.selectionModel().SelectionFlag
        self.selectionModel().setCurrentIndex(indexes[0], flags.NoUpdate)
        self.selectionModel().select(selection, flags.ClearAndSelect | flags.Rows)
        return self.selected_job_ids()

    def _selection_changed(self, *_args: Any) -> None:
        ids = self.selected_job_ids()
        if ids:
            self._hidden_selection = None
        self.job_selected.emit(ids[0] if len(ids) == 1 else "")
        self.jobs_selected.emit(ids)

    def _selected_row_leaving(self, _parent: Any, first: int, last: int) -> None:
        """A filter hides the one selected row: nothing is selected (the user did not pick a
        neighbour), and the job is selected again when the filter shows it again. (Of several
        selected jobs, those hidden simply leave the selection.)"""
        rows = self.selectionModel().selectedRows()
        if len(rows) == 1 and first <= rows[0].row() <= last:
            self._hidden_selection = self.selected_job_id()
            self.selectionModel().clear()

    def _selected_row_back(self, *_args: Any) -> None:
        if self._hidden_selection is not None and self.selected_job_id() is None:
            self.select_job(self._hidden_selection)

    def _remember_top_row(self, _parent: Any, first: int, _last: int) -> None:
        top = self.indexAt(self.viewport().rect().topLeft())
        # At the very top the user wants to see new jobs arrive; further down, keep their place.
        self._anchor = QPersistentModelIndex(top) if top.isValid() and top.row() > 0 else None

    def _restore_top_row(self, *_args: Any) -> None:
        if self._anchor is not None and self._anchor.isValid():
            self.scrollTo(QModelIndex(self._anchor), QAbstractItemView.ScrollHint.PositionAtTop)
        self._anchor = None
