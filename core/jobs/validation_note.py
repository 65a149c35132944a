"""Why a run draws no validation curve: too few pairs for its validation split to hold one out
(the trainer holds out round(pairs × split), and keeps at least one pair to train on)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.formats.hyperparameters import setting_value


def held_out(pairs: int, split: float) -> int:
    """The pairs the trainer holds out for validation (core.trainer.data.split_pairs)."""
    return max(0, min(round(pairs * split), pairs - 1))


def no_validation_reason(hyperparameters: Mapping[str, Any], pairs: int) -> str | None:
    """The reason in words, or None when the run holds out pairs to validate on."""
    split = float(setting_value(hyperparameters, "validation_split"))
    if split <= 0:
        return "No validation curve: the validation split is 0"
    if held_out(pairs, split) == 0:
        return f"No validation curve: {pairs:,} pairs × a validation split of {split:g} hold out none"
    return None
