"""New job: dataset, name, hyperparameters, GPUs and stop rules, with the cost estimate and the
month's spend against the monthly budget following each edit."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.formats.hyperparameters import (
    DEFAULT_GPU_COUNT,
    DEFAULT_LEARNING_RATE,
    GPU_COUNT_LIMITS,
    INT_LIMITS,
    TINY_LEARNING_RATE,
    Hyperparameters,
)
from core.jobs.request import JobOrder
from core.money.budget import BudgetExceededError, MonthSpend, would_pass
from core.money.estimate import DEFAULT_RUN_HOURS, CostEstimate, RunTimeEstimate, guessed_basis, price
from core.money.gpu_offer import gpu_offer
from core.names import NAME_MAX_CHARS
from core.records import Dataset, Job
from desktop import formatting as fmt
from desktop.dialogs.advanced_fields import NAMES as ADVANCED_NAMES
from desktop.dialogs.advanced_fields import AdvancedFields
from desktop.dialogs.fitting_scroll import FittingScroll
from desktop.dialogs.form import FormDialog
from desktop.dialogs.rule_fields import RuleFields
from desktop.dialogs.sample_fields import SampleFields
from desktop.dialogs.spin_fields import DurationSpinBox
from desktop.operations import describe
from desktop.session import Session


def _spin(name: str, value: int) -> QSpinBox:
    limits = INT_LIMITS[name]
    spin = QSpinBox()
    spin.setRange(int(limits.low), int(limits.high or 2**31 - 1))
    spin.setValue(value)
    return spin


class NewJobDialog(FormDialog):
    """Signals:
    job_created(Job): the job was recorded as queued (the scheduler submits it).
    """

    job_created = Signal(object)

    def __init__(
        self, session: Session, parent: QWidget | None = None, *, like: Job | None = None, mode: str = "new"
    ) -> None:
        """`like`: the job whose dataset and settings the form starts from; `mode` "clone" or
        "retry" (which keeps its name too) says so in the title."""
        retry = mode == "retry"
        title = "New training job"
        if like is not None and mode != "new":
            title = f"{mode.capitalize()} “{like.name}”"
        super().__init__(title, parent)
        self.session = session
        self.like = like
        # A retry names the job it runs again as its parent (shown as "retried from …").
        self.parent_job_id = like.id if like is not None and retry else None
        self.dataset_combo = QComboBox()
        self.dataset_combo.setMinimumWidth(280)
        self.dataset_combo.setPlaceholderText("Loading datasets…")
        self.name_edit = QLineEdit(placeholderText="defaults to “dataset · rank · epochs”")
        self.base_model = QLineEdit(
            "tiny" if session.settings.cluster == "local" else "",
            placeholderText="tiny (built in), a local model folder, or the cluster's model name",
        )
        hp = Hyperparameters()  # the defaults and limits create_job checks against
        self.epochs = _spin("epochs", hp.epochs)
        self.learning_rate = QLineEdit(
            placeholderText=f"{fmt.learning_rate(TINY_LEARNING_RATE)} for the tiny model, "
            f"{fmt.learning_rate(DEFAULT_LEARNING_RATE)} otherwise"
        )
        self.rank = _spin("lora_rank", hp.lora_rank)
        self.alpha = _spin("lora_alpha", 2 * hp.lora_rank)
        self.batch_size = _spin("batch_size", hp.batch_size)
        self.gpu_type = QComboBox()
        # A cluster's rates table, or what this machine has (the local backend bills no H100 it lacks).
        rates = gpu_offer(session.settings).rates
        for name in sorted(rates, key=lambda n: (rates[n], n.lower())):
            self.gpu_type.addItem(f"{name}  ({fmt.money(rates[name])}/h)", name)
        self.gpu_type.setCurrentIndex(self.gpu_type.findData(session.default_gpu_type()))
        self.gpu_count = QSpinBox(minimum=int(GPU_COUNT_LIMITS.low), maximum=int(GPU_COUNT_LIMITS.high or 1))
        self.gpu_count.setValue(DEFAULT_GPU_COUNT)
        self.hours = DurationSpinBox(minimum=1 / 60, maximum=10_000, value=DEFAULT_RUN_HOURS)
        self.hours_hint = QLabel(guessed_basis(None), objectName="Muted")
        self._hours_set = False  # the user typed a time: estimates no longer replace it
        self.hours.editingFinished.connect(lambda: setattr(self, "_hours_set", True))
        self.estimate = QLabel(objectName="MonitorTitle")
        self.rules = RuleFields()
        # Advanced: settings most runs leave at their defaults, hidden until asked for.
        self.advanced_toggle = QCheckBox("Advanced settings")
        self.advanced = QWidget()
        self.training_fields = AdvancedFields()  # every other hyperparameter the trainer takes
        self.sample_fields = SampleFields()
        advanced_form = QVBoxLayout(self.advanced)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        advanced_form.addWidget(self.training_fields)
        advanced_form.addWidget(self.sample_fields)
        self.advanced.setVisible(False)
        self.advanced_toggle.toggled.connect(self._show_advanced)
        self.name_edit.textChanged.connect(self._check_name_length)
        self.spend = QLabel("Loading this month's spend…", objectName="Muted", wordWrap=True)
        self.month: MonthSpend | None = None
        self._budget_box: QMessageBox | None = None
        self._build()
        for signal in (
            self.gpu_type.currentIndexChanged,
            self.gpu_count.valueChanged,
            self.hours.valueChanged,
            self.rules.changed,
        ):
            signal.connect(self.update_estimate)
        self.learning_rate.textChanged.connect(lambda _text: self.show_error(""))
        # alpha follows 2 × rank, the usual choice, until the user sets it
        self._alpha_set = False
        self.alpha.editingFinished.connect(lambda: setattr(self, "_alpha_set", True))
        self.rank.valueChanged.connect(self._rank_changed)
        if like is not None:
            self.start_from(like, keep_name=retry)
        self.dataset_combo.currentIndexChanged.connect(lambda _i: self.estimate_hours())
        self.epochs.valueChanged.connect(lambda _v: self.estimate_hours())
        self.update_estimate()
        self.set_ok_text("Retry job" if retry else "Create job")
        session.list_datasets(on_done=self.set_datasets, on_error=self.failed)
        session.month_spend(on_done=self.set_month_spend, on_error=self._spend_unknown)

    def _show_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        if self.isVisible():
            self.adjustSize()  # grows to show it (or scrolls, on a short screen), shrinks after

    def _rank_changed(self, rank: int) -> None:
        if not self._alpha_set:  # alpha follows the rank (2 × rank) until it is set by hand
            self.alpha.setValue(2 * rank)

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow("Dataset", self.dataset_combo)
        form.addRow("Name", self.name_edit)
        form.addRow("Base model", self.base_model)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("LoRA rank", self.rank)
        form.addRow("LoRA alpha", self.alpha)
        form.addRow("Batch size", self.batch_size)
        form.addRow("GPU type", self.gpu_type)
        form.addRow("GPU count", self.gpu_count)
        form.addRow("Expected run time", self.hours)
        form.addRow("", self.hours_hint)
        form.addRow("Estimated cost", self.estimate)
        form.addRow("This month", self.spend)
        form.addRow("Stop rules", self.rules)
        body = QWidget()
        fields = QVBoxLayout(body)
        fields.setContentsMargins(0, 0, 0, 0)
        fields.addLayout(form)
        fields.addWidget(self.advanced_toggle)
        fields.addWidget(self.advanced)
        fields.addStretch(1)
        self.body = FittingScroll(body)  # scrolls when Advanced makes it taller than the screen
        layout = QVBoxLayout(self)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def set_datasets(self, datasets: list[Dataset]) -> None:
        if not shiboken6.isValid(self.dataset_combo):
            return  # the dialog was closed (and deleted) while the list loaded
        self.dataset_combo.clear()
        for dataset in sorted(datasets, key=lambda d: fmt.utc(d.created_at), reverse=True):
            self.dataset_combo.addItem(f"{dataset.name}  ({dataset.total_pairs:,} pairs)", dataset.id)
        if not datasets:
            self.dataset_combo.setPlaceholderText("No datasets yet")
            self.show_error("Add a dataset first (Datasets → Add dataset).")
        self.dataset_combo.setCurrentIndex(0 if datasets else -1)
        if self.like is not None:
            if self.dataset_combo.findData(self.like.dataset_id) < 0:
                self.show_error("The dataset of that job is gone; choose another.")
            self.select_dataset(self.like.dataset_id)
        self.estimate_hours()

    def start_from(self, job: Job, *, keep_name: bool) -> None:
        """Fill the form with the job's settings (its dataset once the list has loaded)."""
        hp = job.hyperparameters or {}
        if keep_name:
            self.name_edit.setText(job.name)
        if hp.get("base_model") is not None:
            self.base_model.setText(str(hp["base_model"]))
        for spin, name in (
            (self.epochs, "epochs"),
            (self.rank, "lora_rank"),
            (self.alpha, "lora_alpha"),
            (self.batch_size, "batch_size"),
        ):
            if isinstance(hp.get(name), int):
                spin.setValue(hp[name])
        self._alpha_set = self.alpha.value() != 2 * self.rank.value()
        self.training_fields.show_values(hp)
        if isinstance(hp.get("learning_rate"), int | float):
            self.learning_rate.setText(f"{hp['learning_rate']:g}")
        if self.gpu_type.findData(job.gpu_type) >= 0:
            self.gpu_type.setCurrentIndex(self.gpu_type.findData(job.gpu_type))
        self.gpu_count.setValue(job.gpu_count)
        self.rules.show_rules(job)  # its stop rules too, to keep or change
        self.sample_fields.show_values(hp)
        if any(name in hp for name in ("sample_prompts", "max_new_tokens", *ADVANCED_NAMES)):
            self.advanced_toggle.setChecked(True)  # settings of its own: show them

    def _check_name_length(self, text: str) -> None:
        """Flag a name past the limit while it is typed, not only when the job is created."""
        over = len(text.strip()) - NAME_MAX_CHARS
        if over > 0:
            self.show_error(
                f"The name has {len(text.strip())} characters; at most {NAME_MAX_CHARS} ({over} too many)."
            )
        elif self.error.text().startswith("The name has"):
            self.show_error("")
        self.name_edit.setProperty("invalid", over > 0)
        self.name_edit.style().unpolish(self.name_edit)
        self.name_edit.style().polish(self.name_edit)

    def estimate_hours(self) -> None:
        """Ask how long runs of this dataset took (off the UI thread); the answer fills the field."""
        dataset_id = self.dataset_combo.currentData()
        if dataset_id is None:
            return
        epochs = self.epochs.value()
        self.session.estimate_run_time(
            dataset_id=dataset_id,
            epochs=epochs,
            on_done=lambda found: self._hours_estimated(dataset_id, epochs, found),
            on_error=lambda _error: None,  # the guess stays; creating the job is what matters
        )

    def _hours_estimated(self, dataset_id: str, epochs: int, found: RunTimeEstimate | None) -> None:
        if not shiboken6.isValid(self.hours):
            return  # the dialog was closed meanwhile
        if (dataset_id, epochs) != (self.dataset_combo.currentData(), self.epochs.value()):
            return  # the form moved on while it was asked
        if found is None:
            self.hours_hint.setText(guessed_basis(None))
            return
        self.hours_hint.setText(f"estimated {found.describe()}")
        if not self._hours_set:
            self.hours.setValue(max(self.hours.minimum(), found.hours))

    def select_dataset(self, dataset_id: str) -> None:
        index = self.dataset_combo.findData(dataset_id)
        if index >= 0:
            self.dataset_combo.setCurrentIndex(index)

    def update_estimate(self) -> None:
        """The job's cost over its expected run time (no more than its caps allow), and the
        month's spend with it against the monthly budget."""
        estimate = self.cost_estimate()
        within = "; within the stop rules" if estimate.capped else ""
        self.estimate.setText(f"{fmt.money(estimate.amount)}  ({fmt.money(estimate.hourly)}/h{within})")
        self._show_spend()

    def cost_estimate(self) -> CostEstimate:
        """The estimate `jobs submit` makes too (core.money.estimate), over the time shown here."""
        hourly = self.session.estimate_cost(
            gpu_type=self.gpu_type.currentData(), gpu_count=self.gpu_count.value(), hours=1.0
        )
        caps = self.rules.rules()
        return price(
            hourly,
            self.hours.value(),
            basis=self.hours_hint.text(),
            max_cost=caps["max_cost"],
            max_hours=caps["max_hours"],
        )

    def job_estimate(self) -> float:
        return self.cost_estimate().amount

    def set_month_spend(self, month: MonthSpend) -> None:
        if not shiboken6.isValid(self.spend):
            return  # the dialog was closed (and deleted) while the spend loaded
        self.month = month
        self._show_spend()

    def _spend_unknown(self, error: BaseException) -> None:
        if shiboken6.isValid(self.spend):
            self.spend.setText(f"This month's spend could not be read: {describe(error)}")

    def _show_spend(self) -> None:
        month = self.month
        if month is None:
            return
        spent = f"{fmt.money(month.total)} spent in {month.month}"
        if month.budget is None:
            self._set_spend_text(f"{spent}; no monthly budget (Settings)", past=False)
            return
        estimate = self.job_estimate()
        after = month.total + estimate
        hourly = self.session.estimate_cost(
            gpu_type=self.gpu_type.currentData(), gpu_count=self.gpu_count.value(), hours=1.0
        )
        past = would_pass(month, estimate, hourly)
        text = (
            f"{fmt.money(month.total)} of your {fmt.money(month.budget)} budget spent in {month.month}; "
            f"with this job about {fmt.money(after)} ({after / month.budget:.0%})"
        )
        self._set_spend_text(text + (": past the budget" if past else ""), past=past)

    def _set_spend_text(self, text: str, *, past: bool) -> None:
        self.spend.setText(text)
        name = "FieldError" if past else "Muted"
        if self.spend.objectName() != name:
            self.spend.setObjectName(name)
            self.spend.style().unpolish(self.spend)
            self.spend.style().polish(self.spend)

    def order(self) -> JobOrder:
        """The job the form asks for, or ValueError with a message naming the field.

        Only what a form can't say is checked here; the values' limits are queue_job's, whose
        message the dialog shows the same way.
        """
        if self.dataset_combo.currentIndex() < 0:
            raise ValueError("Choose a dataset (add one first if the list is empty).")
        rate_text = self.learning_rate.text().strip()
        try:
            rate = float(rate_text) if rate_text else None
        except ValueError:
            raise ValueError("Learning rate must be a number, e.g. 2e-4.") from None
        return JobOrder(
            dataset_id=self.dataset_combo.currentData(),
            name=self.name_edit.text() if self.name_edit.text().strip() else None,
            hyperparameters={
                "base_model": self.base_model.text().strip() or None,
                "epochs": self.epochs.value(),
                "learning_rate": rate,
                "lora_rank": self.rank.value(),
                "lora_alpha": self.alpha.value(),
                "batch_size": self.batch_size.value(),
                **self.training_fields.values(),
                **self.sample_fields.values(),
            },
            gpu_type=self.gpu_type.currentData(),
            gpu_count=self.gpu_count.value(),
            rules=self.rules.rules(),
            expected_hours=self.hours.value(),
            parent_job_id=self.parent_job_id,
        )

    def submit(self, *, force: bool = False) -> None:
        if self._budget_box is not None:
            return
        try:
            order = self.order()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self.set_busy(True, "Creating…")
        self.session.create_job(order, force=force, on_done=self._created, on_error=self.failed)

    def failed(self, error: BaseException) -> None:
        if isinstance(error, BudgetExceededError):
            self.set_busy(False)
            self.ask_past_budget(str(error))
            return
        super().failed(error)

    def ask_past_budget(self, reason: str) -> None:
        """The job would pass the monthly budget: create it only if the person says so."""
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Past your monthly budget",
            "This job would take you past your monthly budget.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setInformativeText(reason[:1].upper() + reason[1:] + ".")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Create anyway")
        box.button(QMessageBox.StandardButton.No).setText("Go back")
        box.finished.connect(self._budget_answered)
        self._budget_box = box
        box.open()

    def _budget_answered(self, result: int) -> None:
        box, self._budget_box = self._budget_box, None
        if box is not None:
            box.deleteLater()
        if result == QMessageBox.StandardButton.Yes:
            self.submit(force=True)

    def _created(self, job: Job) -> None:
        self.set_busy(False)
        self.job_created.emit(job)
        self.accept()
