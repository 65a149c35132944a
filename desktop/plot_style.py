"""How every Loradesk plot behaves and takes the theme's chart colours, monitor and compare alike."""

from __future__ import annotations

import pyqtgraph as pg

from desktop import theme


def set_up_plot(plot_item: pg.PlotItem) -> None:
    """Peak-keeping downsampling and clip to view for every curve, rubber-band zoom, no "A" button."""
    # The plot item hands these to every curve added to it, overriding the curve's own.
    plot_item.setDownsampling(auto=True, mode="peak")
    plot_item.setClipToView(True)
    plot_item.hideButtons()
    plot_item.getViewBox().setMouseMode(pg.ViewBox.RectMode)


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
