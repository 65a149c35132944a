"""What each `loradesk` command does: open a workspace, call one service, print the result."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from core import notifications
from core.cli.output import print_datasets, print_job_detail, print_jobs, print_notifications, rules_text
from core.cli.sample_prompts import sample_prompts_from
from core.config import SETTINGS, Settings, load_settings
from core.datasets import catalog as datasets
from core.db.engine import Database
from core.db.migrate import upgrade
from core.errors import LoradeskError
from core.formats.hyperparameters import ADVANCED, DEFAULT_GPU_COUNT
from core.id_prefix import resolve_job_id
from core.jobs import service as jobs
from core.jobs import summary as run_summary
from core.jobs.request import JobOrder
from core.jobs.resume import continue_job
from core.jobs.reuse import like_order
from core.money.budget import BudgetExceededError
from core.money.stop_rules import RULE_COLUMNS
from core.records import Job
from core.safe_text import printable
from core.workspace import Workspace

# Every setting with an option (core.config.SETTINGS), plus --home.
SETTING_OPTIONS = ("home", *(setting.name for setting in SETTINGS if setting.option))
# `jobs submit` options that are hyperparameters; None (not given) means the record's default.
JOB_HYPERPARAMETER_OPTIONS = (
    "base_model",
    "epochs",
    "learning_rate",
    "lora_rank",
    "lora_alpha",
    "batch_size",
    "max_new_tokens",
    *ADVANCED,
)


class UsageError(LoradeskError):
    """A command asked for in a way it cannot be run: exit 2, like argparse's own usage errors."""


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings({name: getattr(args, name, None) for name in SETTING_OPTIONS})


# Arguments that name one of the user's jobs: each takes a unique prefix of the id too, resolved
# once the workspace is open (core.id_prefix), whatever the command.
JOB_ID_ARGUMENTS = ("id", "like", "resume")


@contextmanager
def workspace(args: argparse.Namespace) -> Iterator[Workspace]:
    ws = Workspace.open(settings_from(args))
    try:
        for name in JOB_ID_ARGUMENTS:
            ref = getattr(args, name, None)
            if isinstance(ref, str):
                setattr(args, name, resolve_job_id(ws, ref))
        yield ws
    finally:
        ws.close()


def emit_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


class GuiOpener(Protocol):
    def __call__(self, settings: Settings, *, screenshot: Path | None, job_id: str | None) -> int: ...


def gui(args: argparse.Namespace) -> int:
    open_gui: GuiOpener | None = getattr(args, "open_gui", None)
    if open_gui is None:
        raise LoradeskError("the desktop app is not part of this command; run `loradesk` or `loradesk-gui`")
    screenshot = getattr(args, "screenshot", None)
    job_id = getattr(args, "job", None)
    if job_id:  # the short id the app shows selects the job too
        with workspace(args) as ws:
            job_id = resolve_job_id(ws, job_id)
    return open_gui(settings_from(args), screenshot=Path(screenshot) if screenshot else None, job_id=job_id)


def scheduler(args: argparse.Namespace) -> int:
    from core.scheduler import Scheduler

    async def run(ws: Workspace) -> None:
        sched = Scheduler(ws, all_users=args.all_users)
        try:
            if args.once:
                await sched.run_once()
                return
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, sched.stop)
            await sched.run_forever()
            if sched.stopped_because:
                raise LoradeskError(sched.stopped_because)
        finally:
            await ws.aclose()

    # Started while the database server is down or restarting: wait for it, as a running
    # scheduler does; SIGTERM or Ctrl+C while waiting ends the command quietly.
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        ws = Workspace.open_when_reachable(settings_from(args), wait=stop.wait)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if ws is None:
        return 0
    try:
        asyncio.run(run(ws))
    finally:
        ws.close()
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = Database(settings.database_url, home=settings.home)
    try:
        revision = upgrade(db)
        print(f"{db.display_url} is at schema revision {revision}")
    finally:
        db.dispose()
    return 0


def datasets_add(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        dataset = datasets.add_dataset(ws, file=Path(args.file), name=args.name, bucket=args.bucket)
    if args.json:
        emit_json(dataset.to_json())
    else:
        print(dataset.id)
    return 0


def datasets_list(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        rows = datasets.list_datasets(ws)
    if args.json:
        emit_json([d.to_json() for d in rows])
    else:
        print_datasets(rows)
    return 0


def jobs_submit(args: argparse.Namespace) -> int:
    """Queue a job and print its id; its cost estimate goes to stderr. Past the monthly budget
    it is refused with that figure unless --force (the dialog asks instead)."""

    hyperparameters = {name: getattr(args, name, None) for name in JOB_HYPERPARAMETER_OPTIONS}
    hyperparameters["sample_prompts"] = sample_prompts_from(args)
    like = getattr(args, "like", None)
    resume = getattr(args, "resume", None)
    if like is None and resume is None and not args.dataset:
        raise UsageError("jobs submit needs --dataset ID|NAME (or --like ID, or --resume ID)")
    if resume is not None and args.dataset:
        raise UsageError("--resume continues a job on its own dataset; leave out --dataset")
    rules = {name: getattr(args, name) for name in RULE_COLUMNS}
    estimate = None
    with workspace(args) as ws:
        try:
            if resume is not None:
                job = asyncio.run(
                    _continue_job(
                        ws,
                        job_id=args.resume,  # resolved by now: a short id will do
                        name=args.name,
                        hyperparameters=hyperparameters,
                        gpu_type=args.gpu_type,
                        gpu_count=args.gpu_count,
                        rules=rules,
                        force=args.force,
                    )
                )
            else:
                order = _new_job_order(ws, args, hyperparameters, rules)
                estimate = jobs.estimate_new_job(ws, order)
                job = jobs.queue_job(ws, replace(order, expected_hours=estimate.hours), force=args.force)
        except BudgetExceededError as exc:
            raise BudgetExceededError(f"{exc}; add --force to submit anyway") from None
    if estimate is not None:
        print(f"estimated cost: {estimate.describe()}", file=sys.stderr)  # stdout: the id alone
    print(job.id)
    return 0


def _new_job_order(
    ws: Workspace, args: argparse.Namespace, hyperparameters: dict[str, Any], rules: dict[str, Any]
) -> JobOrder:
    """The options, over the --like job's settings when one is named."""
    if getattr(args, "like", None) is not None:
        return like_order(
            ws,
            like_id=args.like,  # resolved by now: a short id will do
            dataset_id=args.dataset,
            name=args.name,
            hyperparameters=hyperparameters,
            gpu_type=args.gpu_type,
            gpu_count=args.gpu_count,
            rules=rules,
        )
    return JobOrder(
        dataset_id=args.dataset,
        name=args.name,
        hyperparameters=hyperparameters,
        gpu_type=args.gpu_type,
        gpu_count=DEFAULT_GPU_COUNT if args.gpu_count is None else args.gpu_count,
        rules=rules,
    )


async def _continue_job(ws: Workspace, **arguments: Any) -> Job:
    try:
        return await continue_job(ws, **arguments)
    finally:
        await ws.aclose()


def jobs_set(args: argparse.Namespace) -> int:
    rules = {name: getattr(args, name) for name in RULE_COLUMNS if hasattr(args, name)}
    if not rules:
        raise UsageError(
            "jobs set needs a rule to change: --max-cost USD, --max-hours H, --stop-on-nan, "
            "--stop-on-plateau N (or their --no-… forms)"
        )
    with workspace(args) as ws:
        job = jobs.set_rules(ws, job_id=args.id, rules=rules)
    print(f"{printable(job.name)}: {rules_text(job)}")
    return 0


def jobs_list(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        rows = jobs.list_jobs(ws, status=args.status)
    if args.json:
        emit_json([j.to_json() for j in rows])
    else:
        print_jobs(rows)
    return 0


def jobs_show(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        detail = jobs.get_job(ws, job_id=args.id)
        summary = run_summary.summarise_job(ws, job_id=args.id)
    if args.json:
        emit_json({**detail.to_json(), "summary": summary.to_json()})
    else:
        print_job_detail(detail, summary)
    return 0


def jobs_cancel(args: argparse.Namespace) -> int:
    async def run(ws: Workspace) -> str:
        try:
            return (await jobs.cancel_job_explained(ws, job_id=args.id)).said
        finally:
            await ws.aclose()

    with workspace(args) as ws:
        print(printable(asyncio.run(run(ws))))
    return 0


def notifications_list(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        rows = notifications.list_notifications(ws, unread_only=args.unread)
    if args.json:
        emit_json([n.to_json() for n in rows])
    else:
        print_notifications(rows)
    return 0


def notifications_read(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        changed = notifications.mark_read(ws, ids=args.ids or None)
    print(f"{changed} marked read")
    return 0
