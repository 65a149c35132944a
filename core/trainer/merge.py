"""`python -m core.trainer.merge --adapter DIR --base-model NAME DEST`: the base model with the
adapter merged into its weights (peft `merge_and_unload`), saved as safetensors with its tokenizer,
so plain transformers loads it. Progress and the end come as JSON lines on stdout:

    {"event": "progress", "percent": 40, "stage": "merging the adapter into the base model"}
    {"event": "done", "files": ["config.json", "model.safetensors", …]}
    {"event": "error", "message": "…"}

The built-in tiny model has byte tokens and no tokenizer of its own; the export gets one that
transformers loads and that encodes text to the same ids, with the built-in chat layout as its chat
template (core.trainer.model.tiny_tokenizer).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from core.trainer.run import quiet_libraries
from core.trainer.spec import TINY_MODEL, TrainerError


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def progress(percent: int, stage: str) -> None:
    say("progress", percent=percent, stage=stage)


def merge(adapter: Path, base_model: str, dest: Path) -> list[str]:
    import torch
    from peft import PeftModel

    from core.trainer.model import load_base_model, tiny_tokenizer

    if not (adapter / "adapter_config.json").is_file():
        raise TrainerError(f"{adapter} holds no adapter (adapter_config.json is missing)")
    progress(5, "loading the base model")
    model, codec = load_base_model(base_model)
    progress(35, "loading the adapter")
    try:
        model = PeftModel.from_pretrained(model, str(adapter))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise TrainerError(f"cannot load the adapter from {adapter}: {_first_line(exc)}") from None
    progress(50, "merging the adapter into the base model")
    with torch.no_grad():
        merged = model.merge_and_unload()
    progress(65, "saving the merged model as safetensors")
    dest.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(dest), safe_serialization=True)
    progress(90, "saving the tokenizer")
    tokenizer = codec.tokenizer if codec.tokenizer is not None else tiny_tokenizer()
    tokenizer.save_pretrained(str(dest))
    return sorted(path.name for path in dest.iterdir())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.trainer.merge")
    parser.add_argument("--adapter", required=True, type=Path)
    parser.add_argument("--base-model", default=TINY_MODEL)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    quiet_libraries()
    try:
        files = merge(args.adapter, args.base_model, args.dest)
    except TrainerError as exc:
        say("error", message=str(exc))
        return 1
    except ModuleNotFoundError as exc:
        say("error", message=f"the trainer's Python lacks {exc.name!r}: run `loradesk trainer setup`")
        return 1
    except OSError as exc:
        say("error", message=f"cannot write the merged model to {args.dest}: {exc.strerror or exc}")
        return 1
    except Exception as exc:
        traceback.print_exc()
        say("error", message=f"cannot merge: {type(exc).__name__}: {_first_line(exc)}")
        return 1
    say("done", files=files)
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
