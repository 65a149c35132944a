"""The local LoRA trainer: `python -m core.trainer SPEC.json`.

Only `spec` and `report` are importable without the `trainer` extra (torch, transformers, peft);
the rest load those libraries, so nothing outside this package imports them at import time.
"""
