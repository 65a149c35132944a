"""Light and dark palettes that follow the system, status colours, and the SVG icons.

Icons are drawn with `currentColor`; they are tinted with the palette's text colour when loaded, so
one set of files serves both palettes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from PySide6.QtCore import QByteArray, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from core.app_resources import resources_dir
from core.records import JobStatus

RESOURCES = resources_dir()
ICONS = RESOURCES / "icons"

# One hue per status; the badge draws it as text on a faint fill of the same hue.
STATUS_COLORS = {
    JobStatus.QUEUED: "#6366f1",
    JobStatus.INITIALIZING: "#d97706",
    JobStatus.RUNNING: "#2563eb",
    JobStatus.COMPLETED: "#16a34a",
    JobStatus.FAILED: "#dc2626",
    JobStatus.CANCELLED: "#6b7280",
}
STATUS_COLORS_DARK = {
    JobStatus.QUEUED: "#a5b4fc",
    JobStatus.INITIALIZING: "#fbbf24",
    JobStatus.RUNNING: "#60a5fa",
    JobStatus.COMPLETED: "#4ade80",
    JobStatus.FAILED: "#f87171",
    JobStatus.CANCELLED: "#9ca3af",
}


@dataclass(frozen=True)
class ChartColors:
    background: str
    foreground: str
    grid_alpha: float
    training: str
    validation: str
    gpu: str
    memory: str
    throughput: str
    crosshair: str
    learning_rate: str = "#d97706"
    grad_norm: str = "#db2777"


LIGHT_CHARTS = ChartColors(
    background="#ffffff",
    foreground="#374151",
    grid_alpha=0.12,
    training="#2563eb",
    validation="#ea580c",
    gpu="#16a34a",
    memory="#9333ea",
    throughput="#0891b2",
    crosshair="#9ca3af",
)
DARK_CHARTS = ChartColors(
    background="#232428",
    foreground="#d1d5db",
    grid_alpha=0.18,
    training="#60a5fa",
    validation="#fb923c",
    gpu="#4ade80",
    memory="#c084fc",
    throughput="#22d3ee",
    crosshair="#6b7280",
    learning_rate="#fbbf24",
    grad_norm="#f472b6",
)

_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7",
    QPalette.ColorRole.WindowText: "#111827",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f8f9fb",
    QPalette.ColorRole.Text: "#111827",
    QPalette.ColorRole.Button: "#ffffff",
    QPalette.ColorRole.ButtonText: "#111827",
    QPalette.ColorRole.Highlight: "#dbe7fe",
    QPalette.ColorRole.HighlightedText: "#111827",
    QPalette.ColorRole.ToolTipBase: "#111827",
    QPalette.ColorRole.ToolTipText: "#f9fafb",
    QPalette.ColorRole.PlaceholderText: "#9ca3af",
    QPalette.ColorRole.Mid: "#d1d5db",
    QPalette.ColorRole.Midlight: "#e5e7eb",
    QPalette.ColorRole.Dark: "#9ca3af",
    QPalette.ColorRole.Link: "#2563eb",
    QPalette.ColorRole.Accent: "#2563eb",
}
_DARK = {
    QPalette.ColorRole.Window: "#1b1c1f",
    QPalette.ColorRole.WindowText: "#e5e7eb",
    QPalette.ColorRole.Base: "#232428",
    QPalette.ColorRole.AlternateBase: "#27292d",
    QPalette.ColorRole.Text: "#e5e7eb",
    QPalette.ColorRole.Button: "#2b2d31",
    QPalette.ColorRole.ButtonText: "#e5e7eb",
    QPalette.ColorRole.Highlight: "#1e3a8a",
    QPalette.ColorRole.HighlightedText: "#f9fafb",
    QPalette.ColorRole.ToolTipBase: "#f3f4f6",
    QPalette.ColorRole.ToolTipText: "#111827",
    QPalette.ColorRole.PlaceholderText: "#6b7280",
    QPalette.ColorRole.Mid: "#3f4147",
    QPalette.ColorRole.Midlight: "#34363b",
    QPalette.ColorRole.Dark: "#111214",
    QPalette.ColorRole.Link: "#60a5fa",
    QPalette.ColorRole.Accent: "#3b82f6",
}


class Theme(QObject):
    """The palette in force; follows the system's light/dark setting while the app runs.

    Signals:
        changed(): the palette switched; widgets that paint themselves should re-read colours.
    """

    changed = Signal()

    def __init__(self, app: QApplication, *, dark: bool | None = None) -> None:
        super().__init__(app)
        self._app = app
        self._forced = dark
        self.dark = False
        app.setStyle("Fusion")
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(self._follow_system)
        self._follow_system()

    @property
    def charts(self) -> ChartColors:
        return DARK_CHARTS if self.dark else LIGHT_CHARTS

    def status_color(self, status: JobStatus) -> QColor:
        return QColor((STATUS_COLORS_DARK if self.dark else STATUS_COLORS)[status])

    def _follow_system(self, *_args: object) -> None:
        if self._forced is not None:
            dark = self._forced
        else:
            dark = QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
        self.apply(dark)

    def apply(self, dark: bool) -> None:
        self.dark = dark
        palette = QPalette()
        for role, colour in (_DARK if dark else _LIGHT).items():
            palette.setColor(role, QColor(colour))
        disabled = QColor("#6b7280" if dark else "#9ca3af")
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
        self._app.setPalette(palette)
        self._app.setStyleSheet(stylesheet())
        icon.cache_clear()
        self.changed.emit()


_current: Theme | None = None


def install(app: QApplication, *, dark: bool | None = None) -> Theme:
    """Apply the theme to the application (once) and return it."""
    global _current
    if _current is None or _current.parent() is not app:
        _current = Theme(app, dark=dark)
    elif dark is not None:
        _current.apply(dark)
    return _current


def current() -> Theme:
    app = QApplication.instance()
    assert isinstance(app, QApplication), "a QApplication must exist before the theme is used"
    return install(app)


def stylesheet() -> str:
    path = RESOURCES / "style.qss"
    return path.read_text(encoding="utf-8") if path.exists() else ""


@cache
def icon(name: str) -> QIcon:
    """The icon `resources/icons/<name>.svg`, tinted with the palette's text colour."""
    path = ICONS / f"{name}.svg"
    if not path.exists():
        return QIcon()
    app = QApplication.instance()
    colour = app.palette().color(QPalette.ColorRole.Text).name() if app else "#111827"  # type: ignore[attr-defined]
    svg = path.read_text(encoding="utf-8").replace("currentColor", colour)
    renderer = QSvgRenderer(QByteArray(svg.encode()))
    result = QIcon()
    for size in (16, 24, 32, 48):
        result.addPixmap(render_svg(renderer, size))
    return result


def app_icon() -> QIcon:
    png = ICONS / "loradesk.png"
    return QIcon(str(png)) if png.exists() else QIcon(str(ICONS / "loradesk.svg"))


def render_svg(renderer: QSvgRenderer, size: int) -> QPixmap:
    pixmap = QPixmap(QSize(size, size))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return pixmap
