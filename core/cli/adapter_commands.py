"""`loradesk try` and `loradesk adapters export`: a job's adapter put to use."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from core.adapters.export import export_adapter
from core.adapters.playground_client import Decoding, answer_once, open_playground
from core.cli.commands import emit_json, settings_from, workspace
from core.jobs import service as jobs
from core.safe_text import printable


class _PrintedProgress:
    """A line on stderr per stage and per tenth of a download; nothing for a quiet, fast step."""

    def __init__(self) -> None:
        self.said: tuple[str, int] | None = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        stage = re.sub(r" \S+$", "", stage) if stage.startswith(("downloading ", "copying ")) else stage
        tenth = int(10 * done / total) if total else 0
        if (stage, tenth) != self.said:
            self.said = (stage, tenth)
            print(f"{10 * tenth:3d}%  {stage}", file=sys.stderr, flush=True)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    defaults = Decoding()
    try_ = sub.add_parser(
        "try",
        parents=[common],
        help="the base model's and the adapter's answers to a prompt",
        description="Load the job's base model with its adapter (in the trainer's Python) and print"
        " both answers to PROMPT, made with the same decoding settings.",
    )
    try_.add_argument("id", metavar="ID")
    try_.add_argument("prompt", metavar="PROMPT")
    try_.add_argument(
        "--temperature", type=float, default=defaults.temperature, help="0 is greedy (default %(default)s)"
    )
    try_.add_argument("--top-p", type=float, default=defaults.top_p, help="default %(default)s")
    try_.add_argument(
        "--max-new-tokens", type=int, default=defaults.max_new_tokens, help="default %(default)s"
    )
    try_.add_argument(
        "--chat-template", action="store_true", help="wrap the prompt in the model's chat template"
    )
    try_.add_argument("--seed", type=int, help="the sampling seed, the same for both answers")
    try_.add_argument("--json", action="store_true")
    try_.set_defaults(handler=try_command)

    adapters = sub.add_parser("adapters", parents=[common], help="trained adapters")
    adapters_sub = adapters.add_subparsers(dest="adapters_command", metavar="ACTION", required=True)
    export = adapters_sub.add_parser(
        "export",
        parents=[common],
        help="copy a job's adapter to DIR, or merge it into its base model",
        description="Copy the job's adapter folder to DIR (a new or empty folder), or with --merge save"
        " the base model with the adapter merged in (safetensors and tokenizer) for plain transformers.",
    )
    export.add_argument("id", metavar="ID")
    export.add_argument("dir", metavar="DIR")
    export.add_argument(
        "--merge", action="store_true", help="merge into the base model (peft merge_and_unload)"
    )
    export.set_defaults(handler=adapters_export)


def try_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    with workspace(args) as ws:
        job = jobs.find_job(ws, job_id=args.id)
    decoding = Decoding(
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        chat_template=args.chat_template,
        seed=args.seed,
    )
    with open_playground(settings, job, _PrintedProgress()) as playground:
        answers = answer_once(playground, args.prompt, decoding)
    if args.json:
        emit_json(
            {
                "job_id": job.id,
                "base_model": playground.base_model,
                "prompt": args.prompt,
                "base": answers.base,
                "adapter": answers.adapter,
            }
        )
        return 0
    print(f"── base model ({printable(playground.base_model)}) ──")
    print(printable(answers.base, lines=True))
    print()
    print("── with the adapter ──")
    print(printable(answers.adapter, lines=True))
    return 0


def adapters_export(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    with workspace(args) as ws:
        job = jobs.find_job(ws, job_id=args.id)
    result = export_adapter(settings, job, Path(args.dir), merge=args.merge, progress=_PrintedProgress())
    what = "merged model" if result.merged else "adapter"
    print(f"{what} exported to {result.folder} ({', '.join(result.files)})")
    print()
    print("Load it with:")
    print()
    print(result.snippet.rstrip())
    return 0
