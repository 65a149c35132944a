"""`loradesk jobs logs`, `jobs tag` and `jobs delete`: a job's log, its tags, and cleaning up."""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.cli.commands import workspace
from core.cluster.base import ClusterError
from core.errors import InvalidRequestError
from core.jobs import labels as job_labels
from core.jobs import service as jobs
from core.jobs.logs import read_job_log
from core.safe_text import printable
from core.workspace import Workspace

FOLLOW_INTERVAL = 1.0  # seconds between reads while following a log


def jobs_logs(args: argparse.Namespace) -> int:
    """Print the job's log; with --follow keep printing until the job ends (Ctrl+C stops quietly)."""

    async def run(ws: Workspace) -> None:
        offset, said = 0, None
        try:
            while True:
                log = await read_job_log(ws, job_id=args.id, offset=offset)
                if log.text:
                    sys.stdout.write(printable(log.text, lines=True))
                    sys.stdout.flush()
                if log.note and log.note != said:
                    print(log.note, file=sys.stderr)
                    said = log.note
                if log.text and log.next_offset <= offset:
                    # The same text again and again: a broken cluster would keep this loop printing.
                    raise ClusterError(
                        f"the cluster's log did not move past byte {offset}; stopped reading it"
                    )
                offset = log.next_offset
                if log.text:
                    continue  # read on at once: more may wait behind a full read
                if not args.follow or log.ended:
                    return
                await asyncio.sleep(FOLLOW_INTERVAL)
        finally:
            await ws.aclose()

    with workspace(args) as ws:
        try:
            asyncio.run(run(ws))
        except KeyboardInterrupt:
            print(file=sys.stderr)  # end the ^C line; stopping to follow is not an error
    return 0


def jobs_tag(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        if args.remove:
            job = job_labels.tag_job(ws, job_id=args.id, remove=args.tags)
        else:
            job = job_labels.tag_job(ws, job_id=args.id, add=args.tags)
    print(printable(", ".join(job.tags)) if job.tags else "(no tags)")
    return 0


def jobs_delete(args: argparse.Namespace) -> int:
    """Delete a terminal job after a confirmation: --yes, or y at the prompt on a terminal."""
    with workspace(args) as ws:
        job = jobs.find_job(ws, job_id=args.id)
        if not job.status.is_terminal:
            jobs.delete_job(ws, job_id=args.id)  # refuses with the reason
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidRequestError("deleting asks for confirmation: run it on a terminal or add --yes")
            print(
                f"Delete “{printable(job.name)}” ({job.status.value}) with its metric points, cost record "
                "and notifications? This cannot be undone. [y/N] ",
                end="",
                flush=True,
            )
            answer = sys.stdin.readline()
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 0
        jobs.delete_job(ws, job_id=args.id)
    print(f"deleted {job.id}")
    return 0
