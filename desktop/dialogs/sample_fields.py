"""The new-job dialog's sample-answer fields: the prompts answered at each evaluation, and how long
an answer may be. Empty prompts mean the default: the first validation prompts, with their
expected completions."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QPlainTextEdit, QSpinBox, QWidget

from core.formats.hyperparameters import DEFAULT_SAMPLE_PROMPTS, INT_LIMITS, Hyperparameters

_LINE_BREAK = "\\n"  # how a line break inside one prompt is typed: each line is a prompt


class SampleFields(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompts = QPlainTextEdit()
        self.prompts.setPlaceholderText(
            f"One prompt per line (\\n for a line break inside one).\n"
            f"Empty: the first {DEFAULT_SAMPLE_PROMPTS} validation prompts, with their expected answers."
        )
        self.prompts.setToolTip("Answered at each evaluation; the Samples tab shows how the answers change")
        self.prompts.setFixedHeight(self.prompts.fontMetrics().lineSpacing() * 5 + 12)
        limits = INT_LIMITS["max_new_tokens"]
        self.max_new_tokens = QSpinBox(minimum=int(limits.low), maximum=int(limits.high or 4096))
        self.max_new_tokens.setValue(Hyperparameters().max_new_tokens)
        self.max_new_tokens.setSuffix(" tokens")
        self.max_new_tokens.setToolTip("The longest sample answer, decoded greedily")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Sample prompts", self.prompts)
        form.addRow("Answer length", self.max_new_tokens)

    def values(self) -> dict[str, Any]:
        """`sample_prompts` (None: the default) and `max_new_tokens`, as create_job takes them."""
        lines = [line.replace(_LINE_BREAK, "\n") for line in self.prompts.toPlainText().splitlines()]
        prompts = [line for line in lines if line.strip()]
        return {"sample_prompts": prompts or None, "max_new_tokens": self.max_new_tokens.value()}

    def show_values(self, hyperparameters: dict[str, Any]) -> None:
        """A job's settings (clone, retry)."""
        prompts = hyperparameters.get("sample_prompts")
        if isinstance(prompts, list):
            self.prompts.setPlainText("\n".join(str(p).replace("\n", _LINE_BREAK) for p in prompts))
        if isinstance(hyperparameters.get("max_new_tokens"), int):
            self.max_new_tokens.setValue(hyperparameters["max_new_tokens"])
