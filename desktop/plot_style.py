"""How every Loradesk plot behaves and takes the theme's chart colours, monitor and compare alike."""

from __future__ import annotations

import pyqtgraph as pg

from desktop import theme


def set_up_plot(plot_item: pg.PlotItem) -> None:
    """Peak-keeping downsampling and clip to view for every curve; the mouse (wheel, drag)
    zooms and pans the step axis only, while y follows the points in view; no "A" button and
    none of pyqtgraph's own menus ("Plot Options", "Mouse Mode"): the chart offers its own."""
    # The plot item hands these to every curve added to it, overriding the curve's own.
    plot_item.setDownsampling(auto=True, mode="peak")
    plot_item.setClipToView(True)
    plot_item.hideButtons()
    plot_item.setMenuEnabled(False)
    view = plot_item.getViewBox()
    view.setMouseMode(pg.ViewBox.PanMode)
    view.setMouseEnabled(x=True, y=False)
    view.setAutoVisible(y=True)


def reset_zoom(plot_item: pg.PlotItem) -> None:
    """Back to the whole run: both axes fit the data again."""
    plot_item.getViewBox().enableAutoRange(x=True, y=True)


def color_plot(plot_widget: pg.PlotWidget, colours: theme.ChartColors) -> None:
    """The background, both axes (line, ticks, title) and the grid in the theme's chart colours."""
    plot_widget.setBackground(colours.background)
    plot_item = plot_widget.getPlotItem()
    for axis in ("left", "bottom"):
        item = plot_item.getAxis(axis)
        item.setPen(pg.mkPen(colours.foreground))
        item.setTextPen(pg.mkPen(colours.foreground))
        item.setLabel(item.labelText, color=colours.foreground)
    plot_item.showGrid(x=True, y=True, alpha=colours.grid_alpha)
