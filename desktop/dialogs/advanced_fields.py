"""The new-job dialog's advanced training fields: every other hyperparameter the trainer takes,
with the record's defaults and limits (core.formats.hyperparameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from core.formats.hyperparameters import ADVANCED, CHOICES, FLOAT_LIMITS, INT_LIMITS, Hyperparameters
from desktop.dialogs.spin_fields import fit_text

AUTO = "Auto"


def _int(name: str, value: int | None, special: str | None = None) -> QSpinBox:
    limits = INT_LIMITS[name]
    spin = QSpinBox()
    low = int(limits.low) - (1 if special else 0)  # one below the lowest: the special value
    spin.setRange(low, min(int(limits.high or 2**31 - 1), 2**31 - 1))  # a QSpinBox holds an int32
    if special:
        spin.setSpecialValueText(special)
    spin.setValue(low if value is None else value)
    fit_text(spin, f"{spin.maximum():,}", special or "")
    return spin


def _real(name: str, value: float) -> QDoubleSpinBox:
    limits = FLOAT_LIMITS[name]
    spin = QDoubleSpinBox(decimals=3, singleStep=0.01)
    spin.setRange(limits.low, (limits.high or 1.0) - 0.001)
    spin.setValue(value)
    return spin


def _choice(name: str, tip: str) -> QComboBox:
    combo = QComboBox(toolTip=tip)
    for word in CHOICES[name]:
        combo.addItem(word, word)
    return combo


def _unless_special(spin: QSpinBox) -> int | None:
    return None if spin.value() == spin.minimum() else spin.value()


# The hyperparameters these fields set: a job that set any of them opens the section.
NAMES = ADVANCED


class AdvancedFields(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        hp = Hyperparameters()
        self.warmup_ratio = _real("warmup_ratio", hp.warmup_ratio)
        self.lora_dropout = _real("lora_dropout", hp.lora_dropout)
        modules_hint = f"{hp.target_modules} (every linear layer), or names such as q_proj,v_proj"
        self.target_modules = QLineEdit(placeholderText=modules_hint, toolTip=modules_hint)
        self.max_length = _int("max_length", hp.max_length)
        self.seed = _int("seed", hp.seed)
        self.validation_split = _real("validation_split", hp.validation_split)
        self.eval_interval = _int("eval_interval", None, special=AUTO)
        self.eval_interval.setToolTip("Steps between evaluations; Auto: about ten evaluations a run")
        self.gradient_accumulation_steps = _int("gradient_accumulation_steps", hp.gradient_accumulation_steps)
        self.max_steps = _int("max_steps", None, special="As the epochs take")
        self.precision = _choice("precision", "auto: bf16 where the GPU has it, else fp16; fp32 on the CPU")
        self.quantization = _choice(
            "quantization", "The base model's weights in 4 or 8 bits (QLoRA; CUDA only)"
        )
        self.gradient_checkpointing = QCheckBox("Gradient checkpointing")
        self.gradient_checkpointing.setToolTip(
            "Recompute activations in the backward pass: less memory, slower"
        )
        self.packing = QCheckBox("Packing")
        self.packing.setToolTip("Several short examples share one row of max length tokens")
        self.checkpoint_interval = _int("checkpoint_interval", hp.checkpoint_interval)
        self.checkpoint_interval.setToolTip("Steps between checkpoints; one is saved on cancel too")
        # Two columns: fourteen rows in one would make the dialog taller than a laptop's screen.
        rows = (
            (
                "Warm-up (share of steps)",
                self.warmup_ratio,
                "Gradient accumulation",
                self.gradient_accumulation_steps,
            ),
            ("LoRA dropout", self.lora_dropout, "Max steps", self.max_steps),
            ("Target modules", self.target_modules, "Precision", self.precision),
            ("Max length (tokens)", self.max_length, "Quantization", self.quantization),
            ("Seed", self.seed, "Memory", self.gradient_checkpointing),
            ("Validation split", self.validation_split, "Batching", self.packing),
            (
                "Evaluation interval (steps)",
                self.eval_interval,
                "Checkpoint every (steps)",
                self.checkpoint_interval,
            ),
        )
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setColumnMinimumWidth(2, 8)  # a gutter between the two columns
        for row, (left, left_field, right, right_field) in enumerate(rows):
            grid.addWidget(QLabel(left), row, 0)
            grid.addWidget(left_field, row, 1)
            grid.addWidget(QLabel(right), row, 3)
            grid.addWidget(right_field, row, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(4, 1)

    def values(self) -> dict[str, Any]:
        """The hyperparameters as create_job takes them (None: the default)."""
        modules = [part.strip() for part in self.target_modules.text().split(",") if part.strip()]
        return {
            "warmup_ratio": self.warmup_ratio.value(),
            "lora_dropout": self.lora_dropout.value(),
            "target_modules": (modules[0] if len(modules) == 1 else modules) if modules else None,
            "max_length": self.max_length.value(),
            "seed": self.seed.value(),
            "validation_split": self.validation_split.value(),
            "eval_interval": _unless_special(self.eval_interval),
            "gradient_accumulation_steps": self.gradient_accumulation_steps.value(),
            "max_steps": _unless_special(self.max_steps),
            "precision": self.precision.currentData(),
            "quantization": self.quantization.currentData(),
            "gradient_checkpointing": self.gradient_checkpointing.isChecked(),
            "packing": self.packing.isChecked(),
            "checkpoint_interval": self.checkpoint_interval.value(),
        }

    def show_values(self, hp: Mapping[str, Any]) -> None:
        """Fill in a stored job's settings (clone, retry); what it left out keeps its default."""
        for name in ("warmup_ratio", "lora_dropout", "validation_split"):
            if isinstance(hp.get(name), int | float):
                getattr(self, name).setValue(float(hp[name]))
        ints = ("max_length", "seed", "gradient_accumulation_steps", "eval_interval", "max_steps")
        for name in (*ints, "checkpoint_interval"):
            if isinstance(hp.get(name), int):
                getattr(self, name).setValue(hp[name])
        for name in ("precision", "quantization"):
            combo: QComboBox = getattr(self, name)
            if (index := combo.findData(hp.get(name))) >= 0:
                combo.setCurrentIndex(index)
        for name in ("gradient_checkpointing", "packing"):
            if isinstance(hp.get(name), bool):
                getattr(self, name).setChecked(hp[name])
        modules = hp.get("target_modules")
        if isinstance(modules, str):
            self.target_modules.setText(modules)
        elif isinstance(modules, list):
            self.target_modules.setText(",".join(str(m) for m in modules))
