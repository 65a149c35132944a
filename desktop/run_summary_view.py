"""A run's summary and its every setting, as the monitor's Summary tab shows them.

Pairs with `core/jobs/summary.py`. The rows (label, text) are made here once, so the monitor and
the compare view's table read the same words.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QWidget

from core.formats.hyperparameters import with_defaults
from core.jobs.summary import RunSummary
from core.records import Job
from desktop import formatting as fmt

SUMMARY_LABELS = (
    "Best validation loss",
    "Final training loss",
    "Mean throughput",
    "Tokens processed",
    "Wall time",
    "Cost",
    "Base model",
    "Dataset",
)
TOKENS_TIP = "Estimated: mean throughput × wall time (start-up and evaluation count as training)"


def summary_rows(summary: RunSummary | None) -> list[tuple[str, str]]:
    """The summary as (label, text) in SUMMARY_LABELS order; "…" while it loads, "—" for a figure
    the run has not reported."""
    if summary is None:
        return [(label, "…") for label in SUMMARY_LABELS]
    best = final = fmt.DASH
    if summary.best_validation_loss is not None:
        best = f"{fmt.loss(summary.best_validation_loss)} at step {summary.best_validation_step:,}"
    if summary.final_training_loss is not None:
        final = f"{fmt.loss(summary.final_training_loss)} at step {summary.final_training_step:,}"
    tokens = fmt.DASH if summary.tokens_processed is None else f"≈ {_count(summary.tokens_processed)}"
    dataset = fmt.DASH
    if summary.dataset_name is not None:
        dataset = f"{summary.dataset_name} ({summary.dataset_pairs:,} pairs)"
    texts = (
        best,
        final,
        fmt.throughput(summary.mean_throughput),
        tokens,
        fmt.duration(summary.wall_time_seconds),
        fmt.money(summary.cost) + ("" if summary.cost_final else " so far"),
        summary.base_model or "cluster default",
        dataset,
    )
    return list(zip(SUMMARY_LABELS, texts, strict=True))


def setting_rows(job: Job) -> list[tuple[str, str, bool]]:
    """Every hyperparameter of the job as (name, text, is_default), then its GPUs."""
    settings = with_defaults(job.hyperparameters or {})
    rows = [(name, fmt.setting(value), default) for name, (value, default) in settings.items()]
    rows.append(("gpu", fmt.gpu(job), False))
    return rows


def _count(value: int) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:,}"


class RunSummaryView(QScrollArea):
    """Two compact forms side by side: the run's summary and its every setting (defaults muted)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(4, 8, 4, 4)
        summary_box = QGroupBox("Summary")
        self.summary_form = QFormLayout(summary_box)
        self.summary_labels: dict[str, QLabel] = {}
        for label in SUMMARY_LABELS:
            value = QLabel("…")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if label == "Tokens processed":
                value.setToolTip(TOKENS_TIP)
            self.summary_form.addRow(f"{label}:", value)
            self.summary_labels[label] = value
        settings_box = QGroupBox("Settings")
        self.settings_form = QFormLayout(settings_box)
        row.addWidget(summary_box, 1, Qt.AlignmentFlag.AlignTop)
        row.addWidget(settings_box, 1, Qt.AlignmentFlag.AlignTop)
        self.setWidget(body)
        self._settings_of: tuple[object, ...] | None = None

    def show_summary(self, summary: RunSummary | None) -> None:
        for label, text in summary_rows(summary):
            self.summary_labels[label].setText(text)

    def show_settings(self, job: Job) -> None:
        key = (job.id, repr(job.hyperparameters), job.gpu_type, job.gpu_count)
        if key == self._settings_of:
            return  # settings do not change while a job runs: keep the form as it is
        self._settings_of = key
        while self.settings_form.rowCount():
            self.settings_form.removeRow(0)
        for name, text, default in setting_rows(job):
            value = QLabel(text, objectName="Muted" if default else "")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if default:
                value.setToolTip("the default")
            self.settings_form.addRow(f"{name}:", value)

    def summary(self) -> dict[str, str]:
        """What the Summary form says, label → text (as a person reads it)."""
        return {label: widget.text() for label, widget in self.summary_labels.items()}

    def settings(self) -> dict[str, str]:
        """What the Settings form says, name → text."""
        found = {}
        for row in range(self.settings_form.rowCount()):
            label = self.settings_form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            value = self.settings_form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if label is not None and value is not None:
                name, text = label.widget(), value.widget()
                if isinstance(name, QLabel) and isinstance(text, QLabel):
                    found[name.text().rstrip(":")] = text.text()
        return found
