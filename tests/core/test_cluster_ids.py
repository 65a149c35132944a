"""A scheduler acts only on a job's own cluster job (issue 23, item 2): the `local` backend names
a job's cluster job by the job's id, so a row naming any other is refused without a look at it.
(The `http` check, through the cluster, is tried in tests/e2e/test_team_guards.py.)"""

from __future__ import annotations

import json
import uuid

from core.cluster.local import LocalCluster
from core.db.models import utcnow
from core.jobs.service import get_job
from core.scheduler import Scheduler
from tests.core.helpers import queue_jobs, set_job_columns


async def test_a_local_job_naming_another_jobs_folder_fails_without_reading_or_stopping_it(
    make_workspace, dataset_file
):
    ws = make_workspace()
    polled, cancelled = queue_jobs(ws, dataset_file, count=2)
    ws.use_backend(LocalCluster(ws.settings))
    # Another job's folder (say, of a job deleted since), whose run says it finished with an adapter.
    other = str(uuid.uuid4())
    folder = ws.settings.home / "jobs" / other
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"status": "completed", "current_step": 9}))
    set_job_columns(ws, polled.id, status="running", external_job_id=other)
    set_job_columns(
        ws, cancelled.id, status="running", external_job_id=f"{other}-2", cancel_requested_at=utcnow()
    )

    await Scheduler(ws).run_once()
    await ws.aclose()

    for job in (polled, cancelled):
        shown = get_job(ws, job_id=job.id)
        assert shown.job.status.value == "failed"
        assert "is not this job's (local names it" in shown.job.error_message
        assert shown.job.external_job_id is None and shown.job.artifact_url is None
        assert not shown.metrics and shown.job.current_step == 0
    assert sorted(p.name for p in folder.iterdir()) == ["status.json"]  # untouched
