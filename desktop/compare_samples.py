"""The compare view's Samples tab: each compared run's answer to the same prompt, side by side.

A row per prompt (by its position in the runs' sample prompts), a column per run. Each column
shows its run's answers at the run's latest evaluation, or at the step chosen in the column's
box; a run loaded again (it moved on) keeps a chosen step and moves a "latest" one on.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFrame, QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from core.records import Job, Sample

LATEST = -1  # the column box's value for "the run's latest evaluation"
NO_ANSWER = "—"


class CompareSamples(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs: list[Job] = []
        self.colours: list[str] = []
        self._samples: dict[str, dict[int, dict[int, Sample]]] = {}  # job → step → prompt index
        self.step_boxes: dict[str, QComboBox] = {}
        self.cells: dict[tuple[int, str], QLabel] = {}  # (prompt index, job id) → its answer
        self.prompt_labels: dict[int, QLabel] = {}
        self.empty = QLabel("None of these runs has sample answers yet.", objectName="EmptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._grid_holder = QWidget()
        self._grid = QGridLayout(self._grid_holder)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        self._grid.setHorizontalSpacing(12)
        self.scroll_area = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(self._grid_holder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.scroll_area, 1)
        self._rebuild()

    def set_jobs(self, jobs: list[Job], colours: list[str]) -> None:
        """Compare these runs; their samples follow through `set_samples`."""
        self.jobs, self.colours = list(jobs), list(colours)
        self._samples = {job.id: {} for job in jobs}
        self._rebuild()

    def set_samples(self, job_id: str, samples: tuple[Sample, ...] | list[Sample]) -> None:
        """A compared run's samples, all of them as loaded (ignored for a run not compared)."""
        if job_id not in self._samples:
            return
        by_step: dict[int, dict[int, Sample]] = {}
        for sample in samples:
            by_step.setdefault(sample.step, {})[sample.prompt_index] = sample
        self._samples[job_id] = by_step
        self._rebuild()

    def shown_step(self, job_id: str) -> int | None:
        """The step whose answers the run's column shows (None: it has none)."""
        steps = sorted(self._samples.get(job_id, {}))
        if not steps:
            return None
        box = self.step_boxes.get(job_id)
        chosen = box.currentData() if box is not None else LATEST
        return steps[-1] if chosen in (None, LATEST) or chosen not in steps else int(chosen)

    def choose_step(self, job_id: str, step: int | None) -> None:
        """Show the run's answers at `step` (None: its latest), as the column's box does."""
        box = self.step_boxes[job_id]
        box.setCurrentIndex(max(0, box.findData(LATEST if step is None else step)))

    # -- the grid --------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        chosen = {job_id: box.currentData() for job_id, box in self.step_boxes.items()}
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # off the screen now; deleted once the event loop comes round
                widget.deleteLater()
        self.step_boxes, self.cells, self.prompt_labels = {}, {}, {}
        indices = sorted({i for steps in self._samples.values() for s in steps.values() for i in s})
        self.empty.setVisible(not indices)
        self.scroll_area.setVisible(bool(indices))
        if not indices:
            return
        self._grid.addWidget(QLabel("<b>Prompt</b>"), 0, 0)
        for column, (job, colour) in enumerate(zip(self.jobs, self.colours, strict=False), start=1):
            name = QLabel(f'<b style="color: {colour}">■</b> {_escape(job.name)}', wordWrap=True)
            self._grid.addWidget(name, 0, column)
            box = self._step_box(job.id, chosen.get(job.id, LATEST))
            self._grid.addWidget(box, 1, column)
            self._grid.setColumnStretch(column, 1)
        for row, index in enumerate(indices, start=2):
            first = self._first_sample(index)
            expected = f"\nExpected: {first.expected}" if first and first.expected is not None else ""
            label = _cell(f"#{index + 1}  {first.prompt if first else ''}{expected}")
            label.setProperty("prompt", first.prompt if first else None)
            self.prompt_labels[index] = label
            self._grid.addWidget(label, row, 0)
            for column, job in enumerate(self.jobs, start=1):
                self.cells[(index, job.id)] = cell = _cell("")
                cell.setFrameShape(QFrame.Shape.StyledPanel)
                self._grid.addWidget(cell, row, column)
        self._fill()

    def _step_box(self, job_id: str, chosen: object) -> QComboBox:
        box = QComboBox()
        steps = sorted(self._samples.get(job_id, {}))
        box.addItem(f"latest (step {steps[-1]})" if steps else "no samples yet", LATEST)
        for step in reversed(steps):
            box.addItem(f"step {step}", step)
        box.setCurrentIndex(max(0, box.findData(chosen)))
        box.setEnabled(bool(steps))
        box.currentIndexChanged.connect(lambda _index: self._fill())
        self.step_boxes[job_id] = box
        return box

    def _fill(self) -> None:
        for (index, job_id), cell in self.cells.items():
            step = self.shown_step(job_id)
            sample = self._samples[job_id].get(step, {}).get(index) if step is not None else None
            if sample is None:
                cell.setText(NO_ANSWER)
                continue
            asked = self.prompt_labels[index].property("prompt")
            prompt_note = f"(asked: {sample.prompt})\n" if sample.prompt != asked else ""
            cell.setText(prompt_note + sample.output)

    def _first_sample(self, index: int) -> Sample | None:
        """The first run's earliest sample at this prompt position: the row's prompt."""
        for job in self.jobs:
            for step in sorted(self._samples[job.id]):
                sample = self._samples[job.id][step].get(index)
                if sample is not None:
                    return sample
        return None


def _cell(text: str) -> QLabel:
    label = QLabel(text, wordWrap=True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
