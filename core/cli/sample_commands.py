"""`loradesk jobs samples ID [--step N] [--json]`: the sample answers a job gave at its evaluations."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.commands import emit_json, workspace
from core.errors import InvalidRequestError
from core.jobs.samples import job_samples
from core.records import Sample
from core.safe_text import printable


def jobs_samples(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        found = job_samples(ws, job_id=args.id)
    steps = found.steps
    if args.step is not None and args.step not in steps:
        where = f"evaluations with samples: {', '.join(map(str, steps))}" if steps else "it has none yet"
        raise InvalidRequestError(f"no samples at step {args.step} ({where})")
    shown = [args.step] if args.step is not None else steps
    if args.json:
        emit_json([sample.to_json() for step in shown for sample in found.at(step)])
        return 0
    if not steps:
        print(f"no samples yet: {found.job.name} has not evaluated (or its prompts are off)")
        return 0
    for position, step in enumerate(shown):
        if position:
            print()
        print(f"step {step}")
        for sample in found.at(step):
            print(_sample_text(sample))
    return 0


def add_samples_parser(jobs_sub: Any, common: argparse.ArgumentParser) -> None:
    samples = jobs_sub.add_parser(
        "samples", parents=[common], help="the run's sample answers at each evaluation"
    )
    samples.add_argument("id", metavar="ID")
    samples.add_argument("--step", type=_step, help="only the evaluation at step N")
    samples.add_argument("--json", action="store_true")
    samples.set_defaults(handler=jobs_samples)


def _step(text: str) -> int:
    try:
        step = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a step is a whole number, not {text!r}") from None
    if step < 0:
        raise argparse.ArgumentTypeError("a step is not negative")
    return step


def _sample_text(sample: Sample) -> str:
    rows = [("prompt", sample.prompt)]
    if sample.expected is not None:
        rows.append(("expected", sample.expected))
    rows.append(("answer", sample.output))
    lines = []
    for position, (label, text) in enumerate(rows):
        head = f"#{sample.prompt_index + 1}" if position == 0 else ""
        body = printable(text, lines=True).split("\n") or [""]
        lines.append(f"  {head:<4}{label + ':':<10}{body[0]}")
        lines.extend(f"  {'':<4}{'':<10}{more}" for more in body[1:])
    return "\n".join(lines)
