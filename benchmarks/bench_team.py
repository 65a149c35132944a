"""What row-level security costs a person in team mode (docs/team.md), beside the owner's figures.

    python benchmarks/bench_team.py [--points 100000] [--admin-url URL]

In a throwaway database (owner and person roles made for it, dropped afterwards), the owner (whose
all-rows policy is `true`) and a person (whose own-rows policy checks every metric point's job)
each write the same number of metric points of one job, then read them back as the monitor does
(`metrics_since`). The person's figure is printed beside the owner's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.datasets.catalog import add_dataset  # noqa: E402
from core.db.engine import Database  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.models import utcnow  # noqa: E402
from core.db.team import add_user  # noqa: E402
from core.jobs.service import create_job, metrics_since  # noqa: E402
from core.records import MetricPoint  # noqa: E402
from core.scheduler.metric_points import store_metric_points  # noqa: E402
from core.workspace import Workspace  # noqa: E402
from tests.conftest import POSTGRES_URL  # noqa: E402
from tests.team_db import team_database  # noqa: E402


def points_of(job_id: str, count: int) -> list[MetricPoint]:
    now = utcnow()
    return [
        MetricPoint(
            job_id=job_id,
            step=i,
            epoch=1,
            training_loss=1.0 / (i + 1),
            validation_loss=None,
            learning_rate=2e-4,
            throughput=1234.5,
            gpu_utilization=91.0,
            gpu_memory_used=20.5,
            recorded_at=now,
        )
        for i in range(count)
    ]


def measure(ws: Workspace, dataset: Path, count: int) -> tuple[float, float]:
    """Seconds to write `count` points of a fresh job, and to read them back."""
    data = add_dataset(ws, file=dataset, name=f"bench {count}")
    job = create_job(ws, dataset_id=data.id, name="bench")
    rows = points_of(job.id, count)
    start = time.perf_counter()
    with ws.db.write() as session:
        store_metric_points(session, rows)
    write = time.perf_counter() - start
    start = time.perf_counter()
    read = metrics_since(ws, job_id=job.id, after_step=None)
    assert len(read) == count
    return write, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--admin-url", default=POSTGRES_URL, help="a superuser on the PostgreSQL server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, team_database(args.admin_url) as db:
        dataset = Path(tmp) / "pairs.jsonl"
        dataset.write_text('{"prompt": "1 + 1", "completion": "2"}\n' * 50)
        owner = Database(db.url(db.owner))
        upgrade(owner)
        person = db.role("person")
        add_user(owner, person, scheduler=False, password=lambda: "bench-only")
        owner.dispose()
        figures = {}
        for role, user in ((db.owner, "bench"), (person, person)):
            ws = Workspace.open(load_settings({"home": tmp, "database_url": db.url(role), "user": user}))
            measure(ws, dataset, 1_000)  # warm the connections and plans
            figures[role] = measure(ws, dataset, args.points)
            ws.close()
        print(f"database {db.name}: {args.points} metric points of one job\n")
        print(f"{'':<34} {'owner':>10} {'person':>10}   person / owner")
        for i, what in enumerate(("written", "read back (metrics_since)")):
            mine, theirs = figures[db.owner][i], figures[person][i]
            print(f"{what:<34} {mine:>8.2f} s {theirs:>8.2f} s   {theirs / mine:.2f}×")


if __name__ == "__main__":
    main()
