"""A status answer read straight into typed records (core.cluster.status_answer), and handed to
the careful reading whenever it is not the plain, well-typed answer of the contract."""

from __future__ import annotations

import json
import math

import pytest

from core.cluster.base import ClusterJobNotFoundError, ClusterMalformedError, ReportedPoint
from core.cluster.bounds import MAX_POINTS
from core.cluster.status_answer import batch_from_body, fast_status_report, status_from_body
from core.db.models import utcnow
from core.scheduler.metric_points import metric_points

PLAIN = {
    "status": "running",
    "progress": 12.5,
    "current_epoch": 1,
    "total_epochs": 2,
    "current_step": 3,
    "total_steps": 24,
    "metrics": {"training_loss": 1.5, "gpu_utilization": 90},
    "metrics_history": [
        {"step": 2, "epoch": 1, "training_loss": 1.6, "learning_rate": 2e-4, "grad_norm": 0.5},
        {"step": 3, "epoch": 1, "training_loss": 1.5, "validation_loss": None},
    ],
    "error_message": None,
    "artifact_url": None,
    "started_at": "2026-01-02T03:04:05",
}


def never() -> bool:
    return False


def test_a_plain_answer_is_decoded_into_typed_points_in_one_pass():
    report = fast_status_report(json.dumps(PLAIN).encode())
    assert report is not None
    assert (report.status, report.progress, report.current_step, report.total_steps) == (
        "running",
        12.5,
        3,
        24,
    )
    assert report.metrics == {"training_loss": 1.5, "gpu_utilization": 90.0}
    assert report.metrics_history == [
        ReportedPoint(step=2, epoch=1, training_loss=1.6, learning_rate=2e-4, grad_norm=0.5),
        ReportedPoint(step=3, epoch=1, training_loss=1.5),
    ]
    assert report.started_at is not None and report.started_at.tzinfo is not None


@pytest.mark.parametrize(
    "change",
    [
        {"extra": [[[1]]]},  # a field the contract does not name (its depth unchecked here)
        {"progress": "12.5"},  # a number sent as a string
        {"current_step": 3.0},  # a whole number sent as a float
        {"current_step": -1},  # a negative step
        {"status": "exploded"},  # a status outside the contract
        {"metrics_history": [{"step": 1, "loss_scale": 2}]},  # a point's field not named
    ],
)
def test_anything_but_the_plain_answer_goes_to_the_careful_reading(change):
    assert fast_status_report(json.dumps({**PLAIN, **change}).encode()) is None


def test_nan_goes_to_the_careful_reading_and_is_warned_of_and_nulled():
    body = json.dumps({**PLAIN, "metrics_history": [{"step": 4, "training_loss": math.nan}]}).encode()
    assert fast_status_report(body) is None
    report = status_from_body(body, never)
    points, non_finite = metric_points("job", report, after_step=3, now=utcnow())
    assert non_finite == 4 and points[0].training_loss is None


def test_the_careful_reading_gives_the_same_typed_points():
    body = json.dumps({**PLAIN, "extra": {"ignored": True}}).encode()
    careful = status_from_body(body, never)
    fast = fast_status_report(json.dumps(PLAIN).encode())
    assert careful.metrics_history == fast.metrics_history
    assert careful.status == fast.status and careful.current_step == fast.current_step


def test_typed_points_become_the_same_metric_points_as_dict_points():
    now = utcnow()
    fast = fast_status_report(json.dumps(PLAIN).encode())
    typed, _ = metric_points("job", fast, after_step=2, now=now)
    as_dicts = type(fast)(status="running", metrics_history=[dict(p) for p in PLAIN["metrics_history"]])
    plain, _ = metric_points("job", as_dicts, after_step=2, now=now)
    assert typed == plain and [p.step for p in typed] == [3]
    assert typed[0].training_loss == 1.5 and typed[0].epoch == 1 and typed[0].recorded_at == now


def test_more_than_ten_thousand_points_keep_the_first_in_step_order():
    points = [{"step": s} for s in range(MAX_POINTS + 50, 0, -1)]
    report = fast_status_report(json.dumps({"status": "running", "metrics_history": points}).encode())
    assert report is not None and report.more_points
    assert [p.step for p in report.metrics_history] == list(range(1, MAX_POINTS + 1))


def test_a_batch_answer_gives_each_job_its_own_outcome():
    body = json.dumps(
        {
            "statuses": {
                "a": PLAIN,
                "b": {"error": 404},
                "c": {"status": "running", "current_step": -4},
                "d": {**PLAIN, "progress": "50"},
            }
        }
    ).encode()
    found = batch_from_body(body, never)
    assert found["a"].current_step == 3
    assert isinstance(found["b"], ClusterJobNotFoundError)
    assert isinstance(found["c"], ClusterMalformedError) and "negative" in str(found["c"])
    assert found["d"].progress == 50.0  # read carefully, coerced as before


@pytest.mark.parametrize(
    "body",
    [
        b'{"statuses": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        b'{"statuses": {}, "extra": 1}',
        b"[]",
        b"<html>",
    ],
)
def test_a_batch_answer_out_of_shape_or_too_deep_is_malformed(body):
    with pytest.raises(ValueError):
        batch_from_body(body, never)


def test_an_entry_nested_too_deep_is_that_jobs_malformed_answer():
    deep = b"[" * 70 + b"]" * 70
    body = b'{"statuses": {"a": {"status": "running", "x": ' + deep + b'}, "b": {"status": "running"}}}'
    found = batch_from_body(body, never)
    assert isinstance(found["a"], ClusterMalformedError) and "deeper than 64" in str(found["a"])
    assert found["b"].status == "running"
