"""A chart's own right-click menu, and double-click to reset the zoom: Reset zoom, Export as PNG,
Export as CSV, Log scale, and nothing raw from pyqtgraph (plot_style turns its menus off)."""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtWidgets import QMenu, QWidget

from desktop.plot_style import reset_zoom


class ChartMenu(QObject):
    """Installs the menu on `plot_widget`; `menu` is the one open now (for tests)."""

    def __init__(
        self,
        plot_widget: pg.PlotWidget,
        *,
        export_png: Callable[[], object],
        export_csv: Callable[[], object] | None = None,
        log_scale: tuple[Callable[[], bool], Callable[[bool], None]] | None = None,
    ) -> None:
        super().__init__(plot_widget)
        self.plot_widget = plot_widget
        self.plot_item: pg.PlotItem = plot_widget.getPlotItem()
        self.export_png, self.export_csv, self.log_scale = export_png, export_csv, log_scale
        self.menu: QMenu | None = None
        plot_widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        plot_widget.customContextMenuRequested.connect(self.open)
        plot_widget.viewport().installEventFilter(self)  # a double-click resets the zoom

    def entries(self, parent: QWidget) -> QMenu:
        menu = QMenu(parent)
        menu.addAction("Reset zoom", self.reset)
        menu.addSeparator()
        menu.addAction("Export as PNG…", self.export_png)
        if self.export_csv is not None:
            menu.addAction("Export as CSV…", self.export_csv)
        if self.log_scale is not None:
            menu.addSeparator()
            is_log, set_log = self.log_scale
            log = menu.addAction("Log scale")
            log.setCheckable(True)
            log.setChecked(is_log())
            log.toggled.connect(set_log)
        return menu

    def open(self, position: QPoint) -> QMenu:
        menu = self.entries(self.plot_widget)
        menu.aboutToHide.connect(menu.deleteLater)
        self.menu = menu
        menu.popup(self.plot_widget.mapToGlobal(position))
        return menu

    def reset(self) -> None:
        reset_zoom(self.plot_item)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonDblClick and event.button() == Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            self.reset()
            return True
        return False
