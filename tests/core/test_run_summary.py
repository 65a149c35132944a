"""A run's summary, checked against a job whose points are known, on SQLite and PostgreSQL: by
SQL aggregates (`jobs show`, the monitor's first look) and from columns (the compare view), which
must agree."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from core.db.models import utcnow
from core.formats.hyperparameters import with_defaults
from core.jobs.comparison import load_compared_run
from core.jobs.metric_columns import RECORDED_AT, read_metric_columns
from core.jobs.summary import figures_from_columns, summarise_job
from core.records import MetricPoint
from core.scheduler.metric_points import store_metric_points
from tests.core.helpers import queue_jobs, set_job_columns

START = utcnow().replace(microsecond=0) - timedelta(hours=2)
# step: (training loss, validation loss, throughput); None is a value the trainer did not report
POINTS = {
    1: (2.5, None, 1000.0),
    2: (2.1, None, 1100.0),
    3: (1.8, 1.9, 1200.0),
    4: (1.6, None, None),
    5: (1.5, None, 1300.0),
    6: (1.4, 1.25, 1400.0),
    7: (1.3, None, 1500.0),
    8: (1.2, None, 1600.0),
    9: (1.1, 1.25, 1700.0),  # ties the best validation loss later: the earlier step is the best
    10: (None, 1.3, 1800.0),  # a NaN loss is stored as NULL: the final loss is step 9's
}
MEAN_THROUGHPUT = sum(t for _, _, t in POINTS.values() if t is not None) / 9


def known_job(ws, dataset_file):
    (job,) = queue_jobs(ws, dataset_file, hyperparameters={"base_model": "llama3-8b", "lora_rank": 16})
    set_job_columns(
        ws,
        job.id,
        status="completed",
        started_at=START,
        completed_at=START + timedelta(seconds=600),
        current_cost=1.5,
        final_cost=1.75,
    )
    points = [
        MetricPoint(
            job_id=job.id,
            step=step,
            epoch=0,
            training_loss=train,
            validation_loss=validation,
            throughput=throughput,
            recorded_at=START + timedelta(seconds=60 * step),
        )
        for step, (train, validation, throughput) in POINTS.items()
    ]
    with ws.db.write() as session:
        store_metric_points(session, points)
    return job


def test_the_summary_of_a_job_with_known_points(make_workspace, dataset_file):
    ws = make_workspace()
    job = known_job(ws, dataset_file)
    summary = summarise_job(ws, job_id=job.id)
    assert (summary.best_validation_loss, summary.best_validation_step) == (1.25, 6)
    assert (summary.final_training_loss, summary.final_training_step) == (1.1, 9)
    assert summary.mean_throughput == pytest.approx(MEAN_THROUGHPUT)
    assert summary.wall_time_seconds == 600
    assert summary.tokens_processed == round(MEAN_THROUGHPUT * 600)
    assert (summary.cost, summary.cost_final) == (1.75, True)
    assert summary.base_model == "llama3-8b"
    assert (summary.dataset_name, summary.dataset_pairs) == ("pairs", 20)
    assert summary.metric_points == 10


def test_columns_and_sql_aggregates_agree(make_workspace, dataset_file):
    ws = make_workspace()
    job = known_job(ws, dataset_file)
    by_sql = summarise_job(ws, job_id=job.id)
    compared = load_compared_run(ws, job_id=job.id)
    assert compared.summary.to_json() == pytest.approx(by_sql.to_json())
    assert set(compared.columns.columns) == {"step", "training_loss", "validation_loss", RECORDED_AT}
    assert list(compared.columns["step"]) == list(range(1, 11))


def test_recorded_at_reads_as_unix_seconds(make_workspace, dataset_file):
    ws = make_workspace()
    job = known_job(ws, dataset_file)
    with ws.db.read() as session:
        columns = read_metric_columns(session, job.id, names=("step", RECORDED_AT), after_step=7)
    expected = [(START + timedelta(seconds=60 * step)).timestamp() for step in (8, 9, 10)]
    assert np.allclose(columns[RECORDED_AT], expected, rtol=0, atol=1e-3)
    assert list(columns["step"]) == [8, 9, 10]


def test_a_job_that_never_ran_has_an_empty_summary(make_workspace, dataset_file):
    ws = make_workspace()
    (job,) = queue_jobs(ws, dataset_file)
    summary = summarise_job(ws, job_id=job.id)
    assert summary.metric_points == 0
    assert summary.best_validation_loss is None and summary.final_training_loss is None
    assert summary.wall_time_seconds is None and summary.tokens_processed is None
    assert (summary.cost, summary.cost_final) == (0.0, False)
    assert summary.base_model is None  # the http cluster's own default


def test_figures_from_empty_and_unreported_columns():
    empty = {name: np.empty(0) for name in ("step", "training_loss", "validation_loss", "throughput")}
    assert figures_from_columns(empty).points == 0
    nan = np.full(3, np.nan)
    figures = figures_from_columns(
        {"step": np.arange(3.0), "training_loss": nan, "validation_loss": nan, "throughput": nan}
    )
    assert figures.points == 3
    assert figures.best_validation_loss is figures.final_training_loss is figures.mean_throughput is None


def test_every_setting_of_a_run_with_its_defaults():
    settings = with_defaults({"epochs": 2, "learning_rate": 3e-4, "lora_rank": 4, "cluster_flag": "x"})
    assert settings["epochs"] == (2, False)
    assert settings["lora_alpha"] == (8, True)  # 2 × rank, the default it was made with
    assert settings["warmup_ratio"] == (0.1, True)
    assert settings["cluster_flag"] == ("x", False)
    assert "base_model" not in settings  # the cluster's choice
    assert list(settings)[-1] == "cluster_flag"
    assert with_defaults({"epochs": "many"}) == {"epochs": ("many", False)}
