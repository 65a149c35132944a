"""The monitor's Samples tab: the run's answers to its sample prompts, evaluation by evaluation.

One row per prompt: the prompt, the expected completion, and the answer at the step the slider
chooses, with what changed since the previous evaluation marked word by word. The slider sits on
the latest evaluation by default and follows new ones as they arrive; moved back, it stays where
the user put it until moved to the end again.

Pairs with `core/jobs/samples.py`. The view reads nothing itself: the answers come through the one
update route (`desktop/updates.py`) into the state, which the view follows, as the monitor does
its points.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.records import Job, Sample
from desktop.app_state import AppState
from desktop.sample_diff import changes_html

NO_SAMPLES = "No samples yet: the run answers its sample prompts at each evaluation."


class SampleRow(QFrame):
    """One prompt: what was asked, what was expected, what the model answered."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="SampleRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.prompt = _label(objectName="SamplePrompt")
        self.expected = _label(objectName="Muted")
        self.answer = _label(objectName="SampleAnswer")
        self.answer.setTextFormat(Qt.TextFormat.RichText)
        self.change = QLabel(objectName="Muted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        for widget in (self.prompt, self.expected, self.answer, self.change):
            layout.addWidget(widget)

    def show_sample(self, sample: Sample, previous: Sample | None, previous_step: int | None) -> None:
        self.prompt.setText(f"#{sample.prompt_index + 1}  {sample.prompt}")
        self.expected.setVisible(sample.expected is not None)
        self.expected.setText(f"Expected: {sample.expected}" if sample.expected is not None else "")
        old = previous.output if previous is not None else None
        self.answer.setText(f'<p style="white-space: pre-wrap">{changes_html(old, sample.output)}</p>')
        self.answer.setToolTip(sample.output)
        self.answer_text = sample.output
        if previous_step is None:
            self.change.setText("First evaluation")
        elif previous is None:
            self.change.setText(f"No answer at step {previous_step}")
        elif previous.output == sample.output:
            self.change.setText(f"Same as at step {previous_step}")
        else:
            self.change.setText(f"Changed since step {previous_step} (new words highlighted)")


class SamplesView(QWidget):
    """The answers of the job shown, as the state holds them (`AppState.samples`) and adds them
    (`samples_added`); alone, of a state of its own.

    Signals:
        step_shown(int): the evaluation step the rows now show.
    """

    step_shown = Signal(int)

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else AppState(self)
        self.job: Job | None = None
        self.steps: list[int] = []
        self.follow = True  # the slider is on the latest evaluation and moves on with new ones
        self._by_step: dict[int, dict[int, Sample]] = {}
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setPageStep(1)
        self.slider.setToolTip("The evaluation to show (the latest follows the run)")
        self.slider.valueChanged.connect(self._slider_moved)
        self.step_label = QLabel(objectName="Muted")
        self.empty = QLabel(NO_SAMPLES, objectName="EmptyState", wordWrap=True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.rows: list[SampleRow] = []
        self._rows_box = QVBoxLayout()
        self._rows_box.setSpacing(8)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(self._rows_box)
        column.addStretch(1)
        self.scroll_area = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(holder)
        top = QHBoxLayout()
        top.addWidget(QLabel("Step"))
        top.addWidget(self.slider, 1)
        top.addWidget(self.step_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.scroll_area, 1)
        self._render()
        self.state.samples_added.connect(self.add_samples)

    # -- the job ---------------------------------------------------------------------------------
    def show_job(self, job: Job | None) -> None:
        """Show this job's samples (None: no job); a job already shown keeps what it shows."""
        if job is not None and self.job is not None and job.id == self.job.id:
            self.job = job
            return
        self.job = job
        self.steps, self._by_step = [], {}
        self.follow = True
        if job is not None and self.state.series_job == job.id:  # what the state holds of it already
            self._take(self.state.samples.values())
        self._render()

    def add_samples(self, job_id: str, samples: list[Sample]) -> None:
        """Samples of the job (some perhaps known already: they are kept once)."""
        if self.job is None or job_id != self.job.id or not samples:
            return
        self._take(samples)
        self._render()

    def _take(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self._by_step.setdefault(sample.step, {})[sample.prompt_index] = sample
        self.steps = sorted(self._by_step)

    # -- the slider ------------------------------------------------------------------------------
    @property
    def shown_step(self) -> int | None:
        if not self.steps:
            return None
        return self.steps[min(self.slider.value(), len(self.steps) - 1)]

    def show_step(self, step: int) -> None:
        """Move the slider to the evaluation at `step` (or the last one before it)."""
        if self.steps:
            self.slider.setValue(max(0, bisect_right(self.steps, step) - 1))

    def _slider_moved(self, value: int) -> None:
        self.follow = value >= self.slider.maximum()
        self._show_rows()

    def _render(self) -> None:
        has = bool(self.steps)
        self.empty.setVisible(not has)
        self.scroll_area.setVisible(has)
        self.slider.setEnabled(len(self.steps) > 1)
        self.empty.setText(NO_SAMPLES if self.job is not None else "")
        last = max(0, len(self.steps) - 1)
        value = last if self.follow else min(self.slider.value(), last)
        self.slider.blockSignals(True)
        self.slider.setRange(0, last)
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self._show_rows()

    def _show_rows(self) -> None:
        step = self.shown_step
        if step is None:
            self.step_label.setText("")
            return
        position = self.steps.index(step)
        latest = " (latest)" if position == len(self.steps) - 1 else ""
        self.step_label.setText(f"step {step} · evaluation {position + 1} of {len(self.steps)}{latest}")
        previous_step = self.steps[position - 1] if position else None
        previous = self._by_step.get(previous_step, {}) if previous_step is not None else {}
        shown = [self._by_step[step][index] for index in sorted(self._by_step[step])]
        while len(self.rows) < len(shown):
            row = SampleRow()
            self.rows.append(row)
            self._rows_box.addWidget(row)
        for row, sample in zip(self.rows, shown, strict=False):
            row.show_sample(sample, previous.get(sample.prompt_index), previous_step)
            row.show()
        for row in self.rows[len(shown) :]:
            row.hide()
        self.step_shown.emit(step)


def _label(**options: Any) -> QLabel:
    label = QLabel(wordWrap=True, **options)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
