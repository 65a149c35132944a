"""Guardrails and the monthly budget on the command line: separate processes, exit codes, output."""

from __future__ import annotations

import json
import math
import re

from tests.e2e import test_cli as cli_suite
from tests.fakes.cluster import JobPlan

cli = cli_suite.cli  # the fixture: a `loradesk` process on the test database and fake cluster
show = cli_suite.show


def one_line_error(result) -> str:
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("loradesk: "), result.stderr
    return result.stderr


def test_submit_takes_the_rules_and_show_prints_them(cli, dataset_file):
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    job_id = cli(
        "jobs",
        "submit",
        "--dataset",
        "sums",
        "--max-cost",
        "12",
        "--max-hours",
        "2.5",
        "--stop-on-nan",
        "--stop-on-plateau",
        "5",
    ).stdout.strip()
    job = show(cli, job_id)
    assert (job["max_cost"], job["max_hours"], job["stop_on_nan"], job["stop_on_plateau"]) == (
        12.0,
        2.5,
        True,
        5,
    )
    assert job["stop_reason"] is None
    text = cli("jobs", "show", job_id).stdout
    assert (
        "Cost cap: $0.00 of $12.00 · Time cap: 0 s of 2 h 30 min · Stop on NaN: no NaN loss so far · "
        "Plateau: 0 of 5 evaluations without improvement"
    ) in text
    plain = cli("jobs", "submit", "--dataset", "sums").stdout.strip()
    assert (show(cli, plain)["max_cost"], show(cli, plain)["stop_on_nan"]) == (None, False)
    assert "stop rules" not in cli("jobs", "show", plain).stdout


def test_jobs_set_changes_and_clears_rules(cli, dataset_file):
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    job_id = cli("jobs", "submit", "--dataset", "sums", "--max-cost", "12", "--stop-on-nan").stdout.strip()
    said = cli("jobs", "set", job_id, "--max-cost", "20", "--no-stop-on-nan", "--stop-on-plateau", "3").stdout
    assert said.strip().endswith(
        "Cost cap: $0.00 of $20.00 · Plateau: 0 of 3 evaluations without improvement"
    )
    job = show(cli, job_id)
    assert (job["max_cost"], job["stop_on_nan"], job["stop_on_plateau"]) == (20.0, False, 3)
    cli("jobs", "set", job_id, "--no-max-cost", "--max-hours", "1")
    job = show(cli, job_id)
    assert (job["max_cost"], job["max_hours"], job["stop_on_plateau"]) == (None, 1.0, 3)  # the rest kept

    assert "jobs set needs a rule to change" in cli("jobs", "set", job_id, expect=2).stderr
    cli("jobs", "set", job_id, "--max-cost", "5", "--no-max-cost", expect=2)
    cli("jobs", "set", job_id, "--stop-on-nan", "--no-stop-on-nan", expect=2)
    assert "cost cap" in one_line_error(cli("jobs", "set", job_id, "--max-cost", "-1", expect=1))
    assert "no job" in one_line_error(cli("jobs", "set", "nope", "--max-cost", "1", expect=1))
    cli("jobs", "cancel", job_id)
    assert "already cancelled" in one_line_error(cli("jobs", "set", job_id, "--max-cost", "1", expect=1))


def test_a_submit_past_the_monthly_budget_is_refused_without_force(cli, dataset_file):
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    paid = ("jobs", "submit", "--dataset", "sums", "--gpu-type", "H100", "--max-hours", "1")
    refused = cli(*paid, expect=1, LORADESK_MONTHLY_BUDGET="3")
    line = one_line_error(refused).strip()
    assert line.startswith("loradesk: $0.00 of your $3.00 budget is spent in ")
    assert line.endswith(
        "; this job (about $4.50) would take it to $4.50, past the budget; add --force to submit anyway"
    )
    assert json.loads(cli("jobs", "list", "--json").stdout) == []
    forced = cli(*paid, "--force", LORADESK_MONTHLY_BUDGET="3").stdout.strip()
    assert show(cli, forced)["max_hours"] == 1.0
    cli(*paid, "--monthly-budget", "100", LORADESK_MONTHLY_BUDGET="3")  # the option wins
    assert "monthly budget must be a number" in one_line_error(
        cli("jobs", "list", "--monthly-budget", "lots", expect=1)
    )
    assert "positive" in one_line_error(cli("jobs", "list", expect=1, LORADESK_MONTHLY_BUDGET="0"))


def test_a_rule_stops_a_job_and_every_listing_says_why(cli, fake_cluster, dataset_file):
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    job_id = cli("jobs", "submit", "--dataset", "sums", "--stop-on-nan").stdout.strip()
    fake_cluster.plan_job(job_id, JobPlan(total_steps=100, steps_per_poll=10, losses={15: math.nan}))
    for _ in range(4):
        cli("scheduler", "--once")
        if show(cli, job_id)["status"] == "cancelled":
            break
    job = show(cli, job_id)
    assert (job["status"], job["stop_reason"]) == ("cancelled", "the loss was NaN at step 15")
    (listed,) = json.loads(cli("jobs", "list", "--json").stdout)
    assert listed["stop_reason"] == "the loss was NaN at step 15"
    assert re.search(r"\nstopped +the loss was NaN at step 15\n", cli("jobs", "show", job_id).stdout)
    cancelled = [
        n for n in json.loads(cli("notifications", "list", "--json").stdout) if n["type"] == "job_cancelled"
    ]
    assert len(cancelled) == 1 and cancelled[0]["message"].startswith(
        "Stopped: the loss was NaN at step 15; cost $"
    )
    assert fake_cluster.cancel_calls == 1
