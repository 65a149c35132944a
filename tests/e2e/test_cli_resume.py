"""`jobs submit --resume ID` as a user runs it, against the `local` backend's job folders."""

# ruff: noqa: F811 - `cli` is test_cli's fixture, taken as an argument

from __future__ import annotations

import json

from core.config import load_settings
from core.workspace import Workspace
from tests.core.helpers import set_job_columns
from tests.core.test_job_resume import save_checkpoint
from tests.e2e.test_cli import cli, show  # noqa: F401 - the fixture


def test_resume_continues_a_failed_job_from_its_checkpoint(cli, dataset_file, database_url, home):
    local = {"LORADESK_CLUSTER": "local"}
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    parent = cli(
        "jobs", "submit", "--dataset", "sums", "--epochs", "2", "--lora-rank", "4", **local
    ).stdout.strip()  # on the local backend, as the continuing job: a GPU type this machine has

    refused = cli("jobs", "submit", "--resume", parent, expect=1, **local)
    assert refused.stderr.strip().endswith("is queued; only a failed or cancelled job can be continued")

    ws = Workspace.open(load_settings({"home": str(home), "database_url": database_url, "user": "carol"}))
    try:
        set_job_columns(ws, parent, status="failed", external_job_id=parent, current_step=27)
    finally:
        ws.close()
    job_dir = home / "jobs" / parent
    job_dir.mkdir(parents=True)
    (job_dir / "spec.json").write_text("{}", encoding="utf-8")
    assert (
        "has no checkpoint to continue from"
        in cli("jobs", "submit", "--resume", parent, expect=1, **local).stderr
    )

    save_checkpoint(job_dir, 25)
    child = cli("jobs", "submit", "--resume", parent, "--epochs", "3", **local).stdout.strip()
    shown = show(cli, child)
    assert (shown["parent_job_id"], shown["resume_from_step"], shown["current_step"]) == (parent, 25, 25)
    assert shown["hyperparameters"]["epochs"] == 3 and shown["hyperparameters"]["lora_rank"] == 4
    assert shown["name"].endswith("(from step 25)")
    assert f"continues {parent[:8]}" in cli("jobs", "show", child).stdout

    rank = cli("jobs", "submit", "--resume", parent, "--lora-rank", "8", expect=1, **local)
    assert "lora rank cannot change when continuing from a checkpoint" in rank.stderr
    both = cli("jobs", "submit", "--resume", parent, "--like", parent, expect=2, **local)
    assert "not allowed with argument" in both.stderr
    assert (
        "leave out --dataset"
        in cli("jobs", "submit", "--resume", parent, "--dataset", "sums", expect=2).stderr
    )
    listed = json.loads(cli("jobs", "list", "--json").stdout)
    assert sorted(job["id"] for job in listed) == sorted([parent, child])  # the refusals made none
