"""Sample prompts on `jobs submit`: the options, and the prompts they name (a file, then texts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.errors import InvalidRequestError


def add_sample_options(submit: argparse.ArgumentParser) -> None:
    group = submit.add_argument_group("sample answers (generated at each evaluation)")
    group.add_argument(
        "--sample-prompt",
        metavar="TEXT",
        action="append",
        dest="sample_prompt_texts",
        help="a prompt to answer at each evaluation (repeatable; default: the first 4 validation prompts)",
    )
    group.add_argument(
        "--sample-prompts",
        metavar="FILE.jsonl",
        dest="sample_prompts_file",
        help='prompts from a JSON Lines file: {"prompt": "…"} (or a JSON string) per line',
    )
    group.add_argument("--max-new-tokens", type=int, help="length of each sample answer (default 128)")


def sample_prompts_from(args: argparse.Namespace) -> list[str] | None:
    """The prompts given by --sample-prompts FILE then --sample-prompt TEXT; None if neither."""
    texts = getattr(args, "sample_prompt_texts", None)
    path = getattr(args, "sample_prompts_file", None)
    if texts is None and path is None:
        return None
    return [*(read_prompts_file(Path(path)) if path else []), *(texts or [])]


def read_prompts_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read the sample prompts {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidRequestError(f"the sample prompts {path} are not UTF-8 text") from None
    prompts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        prompt = value.get("prompt") if isinstance(value, dict) else value
        if not isinstance(prompt, str):
            raise InvalidRequestError(f'{path}, line {number}: expected {{"prompt": "…"}} or a JSON string')
        prompts.append(prompt)
    return prompts
