"""The LoRA trainer: `python -m core.trainer SPEC.json`, on transformers' `Trainer` with peft.

`spec`, `report`, `run`, `data`, `tokenizer` and `gpu` import without the `trainer` extra, so the
`local` backend shares them. `model` (the base model: tiny, a folder or a Hugging Face id),
`precision`, `callbacks` and `train` (the `Trainer` set-up) load torch, transformers and peft, and
only the trainer process imports them.
"""
