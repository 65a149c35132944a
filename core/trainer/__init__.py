"""The local LoRA trainer: `python -m core.trainer SPEC.json`.

`spec`, `report`, `run`, `data`, `tokenizer` and `gpu` import without the `trainer` extra, so the
`local` backend shares them; `model` and `loop` load torch, transformers and peft, and only the
trainer process imports them.
"""
