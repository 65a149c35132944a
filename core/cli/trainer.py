"""`loradesk trainer setup`: make the trainer environment from the command line."""

from __future__ import annotations

import argparse
import sys

from core.cli.commands import settings_from
from core.trainer_setup import DEFAULT_TORCH, SetupOptions, SetupReporter, setup_trainer


class _PrintedProgress(SetupReporter):
    """One line per stage on stdout; pip's own lines only with -v (on stderr)."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.stage = ""

    def progress(self, percent: float, stage: str) -> None:
        if stage != self.stage:
            self.stage = stage
            print(f"{percent:3.0f}%  {stage}", flush=True)

    def log(self, line: str) -> None:
        if self.verbose:
            print(f"    {line}", file=sys.stderr, flush=True)


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    trainer = sub.add_parser("trainer", parents=[common], help="the Python that trains local jobs")
    trainer_sub = trainer.add_subparsers(dest="trainer_command", metavar="ACTION", required=True)
    setup = trainer_sub.add_parser(
        "setup",
        parents=[common],
        help="make (or check) the trainer environment under LORADESK_HOME",
        description="Make the Python environment that trains local jobs, in LORADESK_HOME/trainer-env:"
        " torch, transformers, peft and safetensors, installed by pip with this machine's pip"
        " configuration. A second run checks it and changes nothing; a broken one is made again.",
    )
    setup.add_argument("--python", metavar="PATH", help="the Python 3.11+ to build on (default: on PATH)")
    setup.add_argument(
        "--torch", metavar="SPEC", default=DEFAULT_TORCH, help=f"torch requirement (default: {DEFAULT_TORCH})"
    )
    setup.add_argument("--rebuild", action="store_true", help="make the environment again even if it works")
    setup.set_defaults(handler=setup_command)


def setup_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    options = SetupOptions(python=args.python, torch=args.torch, rebuild=args.rebuild)
    result = setup_trainer(settings.home, options, reporter=_PrintedProgress(getattr(args, "verbose", False)))
    if result.changed:
        print(f"trainer environment ready in {result.seconds:.0f} s: {result.env} ({result.summary()})")
    else:
        print(f"trainer environment already set up, nothing changed: {result.env} ({result.summary()})")
    if settings.trainer_python:
        print(
            f"note: Trainer Python is set to {settings.trainer_python} in the settings; local jobs use that"
            " one until you clear it"
        )
    return 0
