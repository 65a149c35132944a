"""`jobs submit --like`, `jobs tag`, `jobs delete` and `jobs logs` as a user runs them."""

# ruff: noqa: F811 - `cli` is test_cli's fixture, taken as an argument

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys

from core.config import load_settings
from core.workspace import Workspace
from tests.core.helpers import CostRecordRow, MetricPointRow, NotificationRow, count
from tests.e2e.test_cli import cli, show  # noqa: F401 - the fixture
from tests.fakes.cluster import JobPlan


def _submit(cli, dataset_file, *options: str) -> str:
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    return cli("jobs", "submit", "--dataset", "sums", *options).stdout.strip()


def test_submit_like_starts_from_the_job_and_options_override(cli, dataset_file):
    options = ("--epochs", "2", "--lora-rank", "16", "--gpu-type", "L4", "--gpu-count", "2")
    first = _submit(cli, dataset_file, *options)
    clone = cli("jobs", "submit", "--like", first, "--lora-rank", "32", "--name", "wider").stdout.strip()
    original, copy = show(cli, first), show(cli, clone)
    assert copy["dataset_id"] == original["dataset_id"]
    assert (copy["gpu_type"], copy["gpu_count"], copy["name"]) == ("L4", 2, "wider")
    assert copy["hyperparameters"]["epochs"] == 2 and copy["hyperparameters"]["lora_rank"] == 32
    same = show(cli, cli("jobs", "submit", "--like", first).stdout.strip())
    assert same["hyperparameters"] == original["hyperparameters"]

    assert "no job" in cli("jobs", "submit", "--like", "nope", expect=1).stderr
    assert "needs --dataset" in cli("jobs", "submit", "--epochs", "2", expect=2).stderr


def test_tags_are_added_removed_and_shown(cli, dataset_file):
    job_id = _submit(cli, dataset_file)
    assert cli("jobs", "tag", job_id, "baseline", "best").stdout.strip() == "baseline, best"
    assert cli("jobs", "tag", job_id, "best", "--remove").stdout.strip() == "baseline"
    detail = show(cli, job_id)
    assert detail["tags"] == ["baseline"] and detail["notes"] == ""
    assert "baseline" in cli("jobs", "show", job_id).stdout
    bad = cli("jobs", "tag", job_id, "a,b", expect=1)
    assert bad.stderr.strip() == "loradesk: tag 'a,b' holds a comma, which separates tags"


def test_delete_takes_a_finished_job_with_everything_and_refuses_an_active_one(
    cli, fake_cluster, dataset_file, database_url, home
):
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=10)
    done = _submit(cli, dataset_file)
    for _ in range(3):
        cli("scheduler", "--once")
    fake_cluster.default_plan = JobPlan(total_steps=1000, steps_per_poll=1)
    active = cli("jobs", "submit", "--like", done).stdout.strip()
    cli("scheduler", "--once")
    assert show(cli, done)["status"] == "completed"

    refused = cli("jobs", "delete", active, "--yes", expect=1)
    assert refused.stderr.strip().endswith(
        "only completed, failed or cancelled jobs can be deleted (cancel it first)"
    )
    unconfirmed = cli("jobs", "delete", done, expect=1)  # stdin is not a terminal here
    assert "confirmation" in unconfirmed.stderr and show(cli, done)["status"] == "completed"

    assert cli("jobs", "delete", done, "--yes").stdout.strip() == f"deleted {done}"
    assert "no job" in cli("jobs", "show", done, expect=1).stderr
    ws = Workspace.open(load_settings({"home": str(home), "database_url": database_url, "user": "carol"}))
    try:
        for model in (MetricPointRow, CostRecordRow, NotificationRow):
            assert count(ws, model, job_id=done) == 0
        assert count(ws, NotificationRow, job_id=active) == 1  # the other job's are untouched
    finally:
        ws.close()


def test_logs_print_and_follow_until_the_job_ends(cli, fake_cluster, dataset_file):
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=0)
    job_id = _submit(cli, dataset_file)
    assert cli("jobs", "logs", job_id).stderr.strip() == (
        "The job has not reached the cluster yet; its log starts when it does."
    )
    cli("scheduler", "--once")
    external = show(cli, job_id)["external_job_id"]
    fake_cluster.append_log(external, "step 1 loss 2.50\n")
    assert cli("jobs", "logs", job_id).stdout == f"accepted job {job_id}\nstep 1 loss 2.50\n"

    follow = subprocess.Popen(
        [sys.executable, "-m", "loradesk", "jobs", "logs", job_id, "--follow"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout.readline() == f"accepted job {job_id}\n"
        assert follow.stdout.readline() == "step 1 loss 2.50\n"
        fake_cluster.append_log(external, "step 2 loss 2.10\n")
        assert follow.stdout.readline() == "step 2 loss 2.10\n"  # new lines as they come
        fake_cluster.advance(external, 20)
        cli("scheduler", "--once")  # the job completes: following ends by itself
        assert follow.wait(60) == 0
        assert "Traceback" not in follow.stderr.read()
    finally:
        follow.kill()

    fake_cluster.keep_no_logs()
    assert cli("jobs", "logs", job_id, expect=1).stderr == "loradesk: this cluster keeps no logs\n"


def test_ctrl_c_stops_following_quietly(cli, fake_cluster, dataset_file):
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=0)
    job_id = _submit(cli, dataset_file)
    cli("scheduler", "--once")
    follow = subprocess.Popen(
        [sys.executable, "-m", "loradesk", "jobs", "logs", job_id, "--follow"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout.readline() == f"accepted job {job_id}\n"
        follow.send_signal(signal.SIGINT)
        assert follow.wait(60) == 0
        assert follow.stderr.read().strip() == ""
    finally:
        follow.kill()
    assert json.loads(cli("jobs", "list", "--json").stdout)[0]["status"] in ("initializing", "running")


def test_delete_asks_on_a_terminal_and_takes_only_yes(cli, fake_cluster, dataset_file):
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=10)
    done = _submit(cli, dataset_file, "--name", "to go")
    for _ in range(3):
        cli("scheduler", "--once")

    def answer(text: str) -> tuple[int, str]:
        """Run `jobs delete` on a terminal (a pseudo-terminal) and type `text` at its question."""
        controller, terminal = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "loradesk", "jobs", "delete", done],
            env=cli.env,
            stdin=terminal,
            stdout=terminal,
            stderr=subprocess.PIPE,
        )
        os.close(terminal)
        seen = b""
        while b"[y/N]" not in seen:
            assert select.select([controller], [], [], 60)[0], seen  # the question, within a minute
            seen += os.read(controller, 1024)
        os.write(controller, text.encode() + b"\n")
        code = proc.wait(60)
        with contextlib.suppress(OSError):  # the terminal is gone with the process on Linux
            while chunk := os.read(controller, 1024):
                seen += chunk
        os.close(controller)
        assert "Traceback" not in proc.stderr.read().decode()
        return code, seen.decode()

    code, said = answer("n")
    assert code == 0 and "Delete “to go” (completed) with its metric points" in said
    assert "nothing deleted" in said and show(cli, done)["status"] == "completed"
    code, said = answer("y")
    assert code == 0 and f"deleted {done}" in said
    assert "no job" in cli("jobs", "show", done, expect=1).stderr
