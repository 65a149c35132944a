"""*Continue from step N*: the monitor's button, beside Retry, for a failed or cancelled job that
saved a checkpoint. It makes the job that continues it (core.jobs.resume) and says so.

Whether a job has a checkpoint is the backend's to know (a folder, or storage): the button asks
off the UI thread when a job becomes failed or cancelled on screen, and shows itself once the
answer names a step.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QWidget

from core.jobs.resume import CONTINUABLE
from core.records import Job
from desktop.operations import describe
from desktop.session import Session


class ContinueButton(QPushButton):
    """Signals:
    job_created(object): the `Job` that continues the one shown, once queued.
    message(str): why it could not be made, for the window's banner.
    """

    job_created = Signal(object)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Continue…", parent)
        self.session: Session | None = None  # set while a workspace is open
        self.job: Job | None = None
        self.step: int | None = None
        self._asked: tuple[str, str] | None = None  # (job id, status) last asked about
        self.clicked.connect(self.continue_job)
        self.hide()

    def show_job(self, job: Job | None) -> None:
        """The job on screen (None: none); asks for its checkpoint when it is newly ended."""
        same_job = job is not None and self.job is not None and job.id == self.job.id
        self.job = job
        if not same_job:
            self.step = None
            self.hide()
        if job is None or job.status not in CONTINUABLE or self.session is None:
            self.hide()
            return
        if self._asked == (job.id, job.status.value):
            return
        self._asked = (job.id, job.status.value)
        self.session.continuable_step(
            job_id=job.id,
            on_done=functools.partial(self._answered, job.id),
            on_error=lambda _error: None,  # no checkpoint we can see: no button
        )

    def _answered(self, job_id: str, step: int | None) -> None:
        if self.job is None or self.job.id != job_id or self.job.status not in CONTINUABLE:
            return
        self.step = step
        if step is None:
            self.hide()
            return
        self.setText(f"Continue from step {step:,}")
        self.setToolTip(
            "A new job that starts from this run's last checkpoint (adapter, optimizer and"
            f" schedule) at step {step:,} and numbers its steps on from there"
        )
        self.setEnabled(True)
        self.show()

    def continue_job(self) -> None:
        job = self.job
        if job is None or self.step is None or self.session is None:
            return
        self.setEnabled(False)
        self.session.continue_job(job_id=job.id, on_done=self._created, on_error=self._failed)

    def _created(self, job: Job) -> None:
        self.setEnabled(True)
        self.job_created.emit(job)

    def _failed(self, error: BaseException) -> None:
        self.setEnabled(True)
        self.message.emit(f"Could not continue the job: {describe(error)}")
