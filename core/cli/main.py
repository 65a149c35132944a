"""`loradesk`: the command line of SPEC §6.

Exit 0 on success, 1 on an error (one line on stderr, never a traceback), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from core.app_resources import app_version
from core.cli import (
    adapter_commands,
    commands,
    dataset_commands,
    job_commands,
    sample_commands,
    sample_prompts,
    trainer,
)
from core.cli.add_user import db_add_user
from core.config import HOME_VARIABLE, SETTINGS
from core.db.engine import error_line
from core.errors import LoradeskError
from core.formats.hyperparameters import (
    CHOICES,
    DEFAULT_GPU_COUNT,
    DEFAULT_LEARNING_RATE,
    TINY_LEARNING_RATE,
    TINY_MODEL,
    Hyperparameters,
)
from core.records import JobStatus
from core.safe_text import printable

log = logging.getLogger("loradesk")


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command must survive the subcommand's own parse.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    opts = common.add_argument_group("settings (override LORADESK_* variables and settings.toml)")
    opts.add_argument("--home", help=f"folder for the SQLite file, storage and settings ({HOME_VARIABLE})")
    for setting in SETTINGS:  # every setting with an option, from the one table (core.config)
        if setting.option:
            shape: dict[str, Any] = {"choices": setting.choices, "metavar": setting.metavar}
            if setting.option_type is not None:
                shape["type"] = setting.option_type
            opts.add_argument(setting.flag, help=setting.option_help, **shape)
    opts.add_argument("-v", "--verbose", action="store_true", help="log debugging detail to stderr")

    # `loradesk [gui] [--screenshot PNG] [--job ID]`: the gui options work with or without `gui`.
    gui_options = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    gui_options.add_argument("--screenshot", metavar="PNG", help="render the main window to PNG and exit")
    gui_options.add_argument("--job", metavar="ID", help="the job to select")

    parser = argparse.ArgumentParser(
        prog="loradesk", parents=[common, gui_options], description="Watch and steer LoRA fine-tuning jobs."
    )
    parser.add_argument("--version", action="version", version=f"loradesk {app_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", parents=[common, gui_options], help="open the desktop app (the default)")
    gui.set_defaults(handler=commands.gui)

    sched = sub.add_parser("scheduler", parents=[common], help="run the scheduler headless")
    sched.add_argument("--once", action="store_true", help="run one cycle and exit")
    sched.add_argument("--all-users", action="store_true", help="work on every user's jobs")
    sched.set_defaults(handler=commands.scheduler)

    db = sub.add_parser("db", parents=[common], help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", parents=[common], help="apply migrations").set_defaults(
        handler=commands.db_upgrade
    )
    add_user = db_sub.add_parser(
        "add-user", parents=[common], help="PostgreSQL team mode: a role for a person (run by the owner)"
    )
    add_user.add_argument("name", metavar="NAME", help="the role, which is also the person's user id")
    add_user.add_argument(
        "--scheduler", action="store_true", help="a role for `loradesk scheduler --all-users`: every row"
    )
    add_user.set_defaults(handler=db_add_user)

    ds = sub.add_parser("datasets", parents=[common], help="training datasets")
    ds_sub = ds.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    add = ds_sub.add_parser("add", parents=[common], help="validate and store a JSONL dataset")
    add.add_argument("file", metavar="FILE")
    add.add_argument("--name")
    add.add_argument("--bucket", choices=["training-files", "lora-datasets"])
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=commands.datasets_add)
    ds_list = ds_sub.add_parser("list", parents=[common], help="list your datasets")
    ds_list.add_argument("--json", action="store_true")
    ds_list.set_defaults(handler=commands.datasets_list)
    ds_show = ds_sub.add_parser("show", parents=[common], help="a dataset's details, first rows and jobs")
    ds_show.add_argument("dataset_ref", metavar="ID", help="id, unique id prefix or name")
    ds_show.add_argument("--json", action="store_true")
    ds_show.set_defaults(handler=dataset_commands.datasets_show)
    ds_delete = ds_sub.add_parser("delete", parents=[common], help="delete a dataset no job uses")
    ds_delete.add_argument("dataset_ref", metavar="ID", help="id, unique id prefix or name")
    ds_delete.set_defaults(handler=dataset_commands.datasets_delete)

    jobs = sub.add_parser("jobs", parents=[common], help="training jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    submit = jobs_sub.add_parser("submit", parents=[common], help="queue a job; prints its id")
    submit.add_argument("--dataset", metavar="ID|NAME", help="required unless --like or --resume names a job")
    start_from = submit.add_mutually_exclusive_group()
    start_from.add_argument(
        "--like", metavar="ID", help="start from this job's dataset and settings; options override"
    )
    start_from.add_argument(
        "--resume",
        metavar="ID",
        help="continue this failed or cancelled job from its last checkpoint; options override",
    )
    submit.add_argument("--name")
    add_job_options(submit)
    add_rule_options(submit, editing=False)
    submit.add_argument(
        "--force",
        "--over-budget",
        dest="force",
        action="store_true",
        help="submit even if the job's estimate would pass your monthly budget",
    )
    submit.set_defaults(handler=commands.jobs_submit)
    set_rules = jobs_sub.add_parser(
        "set", parents=[common], help="change a queued or running job's stop rules (guardrails)"
    )
    set_rules.add_argument("id", metavar="ID")
    add_rule_options(set_rules, editing=True)
    set_rules.set_defaults(handler=commands.jobs_set)
    jobs_list = jobs_sub.add_parser("list", parents=[common], help="list your jobs")
    jobs_list.add_argument("--status", choices=[s.value for s in JobStatus])
    jobs_list.add_argument("--json", action="store_true")
    jobs_list.set_defaults(handler=commands.jobs_list)
    show = jobs_sub.add_parser("show", parents=[common], help="one job with metrics, cost, notifications")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=commands.jobs_show)
    cancel = jobs_sub.add_parser("cancel", parents=[common], help="cancel a queued or active job")
    cancel.add_argument("id", metavar="ID")
    cancel.set_defaults(handler=commands.jobs_cancel)
    logs = jobs_sub.add_parser("logs", parents=[common], help="the trainer's log of a job")
    logs.add_argument("id", metavar="ID")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    logs.set_defaults(handler=job_commands.jobs_logs)
    tag = jobs_sub.add_parser("tag", parents=[common], help="add (or remove) tags of a job")
    tag.add_argument("id", metavar="ID")
    tag.add_argument("tags", nargs="+", metavar="TAG")
    tag.add_argument("--remove", action="store_true", help="remove these tags instead")
    tag.set_defaults(handler=job_commands.jobs_tag)
    delete = jobs_sub.add_parser(
        "delete", parents=[common], help="delete a finished job with its points, costs and notifications"
    )
    delete.add_argument("id", metavar="ID")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=job_commands.jobs_delete)
    sample_commands.add_samples_parser(jobs_sub, common)

    trainer.add_parser(sub, common)
    adapter_commands.add_parsers(sub, common)

    notes = sub.add_parser("notifications", parents=[common], help="notifications")
    notes_sub = notes.add_subparsers(dest="notifications_command", metavar="ACTION", required=True)
    notes_list = notes_sub.add_parser("list", parents=[common], help="list your notifications")
    notes_list.add_argument("--unread", action="store_true", help="only unread ones")
    notes_list.add_argument("--json", action="store_true")
    notes_list.set_defaults(handler=commands.notifications_list)
    read = notes_sub.add_parser("read", parents=[common], help="mark notifications read")
    read.add_argument("ids", nargs="*", metavar="ID", help="the notifications (default: all)")
    read.set_defaults(handler=commands.notifications_read)
    return parser


def add_job_options(submit: argparse.ArgumentParser) -> None:
    """`jobs submit`'s settings; defaults and limits are the Hyperparameters record's, checked
    by create_job (so a bad value gets the same message here and in the dialog)."""
    hp = Hyperparameters()
    submit.add_argument(
        "--base-model",
        help=f"{TINY_MODEL} (built in; the default on the local backend), a local model folder, "
        "or the cluster's model name",
    )
    submit.add_argument("--epochs", type=int, help=f"passes over the dataset (default {hp.epochs})")
    submit.add_argument(
        "--learning-rate",
        type=float,
        help=f"default {TINY_LEARNING_RATE:g} for the tiny model, {DEFAULT_LEARNING_RATE:g} otherwise",
    )
    submit.add_argument("--lora-rank", type=int, help=f"default {hp.lora_rank}")
    submit.add_argument("--lora-alpha", type=int, help="default 2 × rank")
    submit.add_argument("--batch-size", type=int, help=f"default {hp.batch_size}")
    submit.add_argument(
        "--gpu-type", help="a type of the GPU rates table (default cpu locally, A10G on a cluster)"
    )
    submit.add_argument("--gpu-count", type=int, help=f"default {DEFAULT_GPU_COUNT}")
    sample_prompts.add_sample_options(submit)
    more = submit.add_argument_group("more hyperparameters (the trainer's; defaults as shown)")
    more.add_argument(
        "--warmup-ratio", type=float, help=f"share of steps warming up (default {hp.warmup_ratio:g})"
    )
    more.add_argument("--lora-dropout", type=float, help=f"default {hp.lora_dropout:g}")
    more.add_argument(
        "--target-modules",
        type=_modules,
        metavar="NAMES",
        help=f"modules LoRA adapts: {hp.target_modules} (the default) or a comma list such as q_proj,v_proj",
    )
    more.add_argument("--max-length", type=int, help=f"tokens per example (default {hp.max_length})")
    more.add_argument("--seed", type=int, help=f"default {hp.seed}")
    more.add_argument(
        "--validation-split", type=float, help=f"share of pairs held out (default {hp.validation_split:g})"
    )
    more.add_argument(
        "--eval-interval", type=int, help="steps between evaluations (default: about ten a run)"
    )
    more.add_argument(
        "--gradient-accumulation-steps", type=int, help=f"default {hp.gradient_accumulation_steps}"
    )
    more.add_argument(
        "--max-steps", type=int, help="stop after this many steps (default: as the epochs take)"
    )
    more.add_argument(
        "--precision",
        choices=CHOICES["precision"],
        help=f"default {hp.precision}: bf16 where the GPU has it, else fp16; fp32 on the CPU",
    )
    more.add_argument(
        "--quantization",
        choices=CHOICES["quantization"],
        help=f"the base model's weights in 4 or 8 bits (QLoRA; CUDA only); default {hp.quantization}",
    )
    more.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        help="recompute activations in the backward pass: less memory, slower (default off)",
    )
    more.add_argument(
        "--packing",
        action=argparse.BooleanOptionalAction,
        help="several short examples share one row of max length tokens (default off)",
    )
    more.add_argument(
        "--checkpoint-interval",
        type=int,
        metavar="STEPS",
        help=f"steps between checkpoints (default {hp.checkpoint_interval}; one on cancel too)",
    )


def _modules(text: str) -> str | list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names[0] if len(names) == 1 else names


def add_rule_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    """The guardrails: on `jobs submit` (off unless given) and `jobs set` (unchanged unless
    given; the --no-… forms turn a rule off)."""
    rules = parser.add_argument_group("stop rules (guardrails)")
    caps = (
        ("max-cost", "USD", "cancel the job when its cost reaches USD"),
        ("max-hours", "H", "cancel the job H hours after it started"),
        ("stop-on-plateau", "N", "cancel after N evaluations without a better validation loss"),
    )
    for name, metavar, text in caps:
        kind = int if name == "stop-on-plateau" else float
        if not editing:
            rules.add_argument(f"--{name}", metavar=metavar, type=kind, help=text)
            continue
        either = rules.add_mutually_exclusive_group()
        either.add_argument(f"--{name}", metavar=metavar, type=kind, help=text, default=argparse.SUPPRESS)
        either.add_argument(
            f"--no-{name}",
            dest=name.replace("-", "_"),
            action="store_const",
            const=None,
            default=argparse.SUPPRESS,
            help="turn this rule off",
        )
    nan_text = "cancel the job when a loss turns NaN or infinite"
    if editing:
        either = rules.add_mutually_exclusive_group()
        for flag, on in (("--stop-on-nan", True), ("--no-stop-on-nan", False)):
            either.add_argument(
                flag,
                dest="stop_on_nan",
                action="store_const",
                const=on,
                default=argparse.SUPPRESS,
                help=nan_text if on else "turn this rule off",
            )
    else:
        rules.add_argument("--stop-on-nan", action="store_true", help=nan_text)


def main(argv: Sequence[str] | None = None, *, open_gui: commands.GuiOpener | None = None) -> int:
    """Run one command. `open_gui` opens the desktop app for the `gui` command; the composition
    root (`loradesk.main`) passes it, so the engine never imports the desktop."""
    args = build_parser().parse_args(argv)  # exits 2 on a usage error
    args.open_gui = open_gui
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(_LineFormatter())
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO, handlers=[stderr]
    )
    for noisy in ("aiohttp", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler = getattr(args, "handler", commands.gui)
    try:
        code = int(handler(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that went away is met here, not at exit
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except commands.UsageError as exc:
        print(f"loradesk: {printable(str(exc))}", file=sys.stderr)
        return 2
    except LoradeskError as exc:
        print(f"loradesk: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: keep the traceback for -v, one line otherwise
        log.debug("unexpected error", exc_info=True)
        print(
            f"loradesk: internal error: {type(exc).__name__}: {error_line(exc)} (run with -v for details)",
            file=sys.stderr,
        )
        return 1


class _LineFormatter(logging.Formatter):
    """Log lines with their time, except a notice to the person (such as that there is no OS
    keyring), which reads as one plain line like the CLI's other messages. Log lines quote
    cluster messages and job names: their control characters go out escaped."""

    PLAIN = ("core.secrets",)

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if record.name in self.PLAIN and record.levelno >= logging.WARNING:
            return f"loradesk: {printable(record.getMessage())}"
        return printable(super().format(record), lines=True)


def _reader_went_away() -> int:
    """`loradesk jobs list | head`: the reader closed the pipe, which is not an error to report.

    Like tools killed by SIGPIPE: no message, status 128 + SIGPIPE. Output still buffered is
    thrown away, so Python's own flush at exit does not complain on stderr.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + getattr(signal, "SIGPIPE", 13)  # 13 where there is no SIGPIPE (Windows)


if __name__ == "__main__":
    sys.exit(main())
