"""The command line of SPEC §6, run as a user runs it: separate processes, exit codes, stdout/stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.fakes.cluster import FakeCluster, JobPlan


@pytest.fixture
def cli(home: Path, database_url: str, fake_cluster: FakeCluster):
    env = {
        **os.environ,
        "LORADESK_HOME": str(home),
        "LORADESK_DATABASE_URL": database_url,
        "LORADESK_USER": "carol",
        "LORADESK_CLUSTER": "http",
        "LORADESK_CLUSTER_URL": fake_cluster.url,
        "LORADESK_CLUSTER_TOKEN": TOKEN,
    }

    def run(*args: str, expect: int = 0, **extra_env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "loradesk", *args],
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == expect, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    run.env = env  # type: ignore[attr-defined]
    return run


def show(cli, job_id: str) -> dict:
    return json.loads(cli("jobs", "show", job_id, "--json").stdout)


def test_jobs_reach_every_terminal_state_through_the_cli(cli, fake_cluster, dataset_file):
    dataset_id = cli(
        "datasets", "add", str(dataset_file), "--name", "sums", "--bucket", "training-files"
    ).stdout.strip()
    listed = json.loads(cli("datasets", "list", "--json").stdout)
    assert listed[0]["id"] == dataset_id and listed[0]["total_pairs"] == 20
    assert listed[0]["storage_bucket"] == "training-files"

    ok = cli(
        "jobs",
        "submit",
        "--dataset",
        "sums",
        "--epochs",
        "2",
        "--lora-rank",
        "16",
        "--gpu-type",
        "A100-80GB",
        "--gpu-count",
        "2",
        "--base-model",
        "llama3-8b",
    ).stdout.strip()
    bad = cli("jobs", "submit", "--dataset", dataset_id, "--name", "doomed").stdout.strip()
    stop = cli("jobs", "submit", "--dataset", dataset_id, "--name", "stopped").stdout.strip()
    fake_cluster.plan_job(ok, JobPlan(total_steps=20, steps_per_poll=10))
    fake_cluster.plan_job(
        bad, JobPlan(total_steps=20, steps_per_poll=10, outcome="failed", error_message="NCCL timeout")
    )
    fake_cluster.plan_job(stop, JobPlan(total_steps=1000, steps_per_poll=1))
    queued = json.loads(cli("jobs", "list", "--status", "queued", "--json").stdout)
    assert {j["id"] for j in queued} == {ok, bad, stop}
    assert show(cli, ok)["hyperparameters"]["lora_rank"] == 16

    cli("scheduler", "--once")
    sent = next(job.request for job in fake_cluster.jobs.values() if job.job_id == ok)
    assert sent["hyperparameters"]["base_model"] == "llama3-8b"
    assert show(cli, stop)["status"] in ("initializing", "running")
    assert (
        cli("jobs", "cancel", stop).stdout.strip().startswith("cancelled on the cluster (cluster job fake-")
    )
    for _ in range(3):
        cli("scheduler", "--once")

    done, failed, cancelled = show(cli, ok), show(cli, bad), show(cli, stop)
    assert done["status"] == "completed" and len(done["metrics"]) == 20
    assert done["metrics"][0]["step"] == 1 and "training_loss" in done["metrics"][0]
    assert done["cost_records"][0]["amount"] == done["final_cost"] > 0
    assert failed["status"] == "failed" and failed["error_message"] == "NCCL timeout"
    assert cancelled["status"] == "cancelled"
    assert [n["type"] for n in cancelled["notifications"]] == ["job_started", "job_cancelled"]

    notes = json.loads(cli("notifications", "list", "--json").stdout)
    assert {"job_completed", "job_failed", "job_cancelled"} <= {n["type"] for n in notes}
    assert set(notes[0]) >= {
        "id",
        "user_id",
        "job_id",
        "type",
        "title",
        "message",
        "priority",
        "read",
        "created_at",
    }
    table = cli("jobs", "list").stdout
    assert "completed" in table and "failed" in table and "cancelled" in table


def test_cli_acts_on_the_current_users_rows_only(cli, dataset_file):
    dataset_id = cli("datasets", "add", str(dataset_file)).stdout.strip()
    job_id = cli("jobs", "submit", "--dataset", dataset_id).stdout.strip()
    assert json.loads(cli("jobs", "list", "--json", LORADESK_USER="dave").stdout) == []
    result = cli("jobs", "show", job_id, expect=1, LORADESK_USER="dave")
    assert result.stderr.startswith("loradesk: no job")


def test_errors_are_one_clear_line(cli, tmp_path, dataset_file):
    missing = cli("datasets", "add", str(tmp_path / "nope.jsonl"), expect=1)
    assert missing.stderr.strip().count("\n") == 0 and "does not exist" in missing.stderr

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    result = cli("datasets", "add", str(broken), expect=1)
    assert result.stderr.strip() == 'loradesk: broken.jsonl line 2: the key "completion" is missing'
    assert json.loads(cli("datasets", "list", "--json").stdout) == []

    dataset_id = cli("datasets", "add", str(dataset_file)).stdout.strip()
    job_id = cli("jobs", "submit", "--dataset", dataset_id).stdout.strip()
    cli("jobs", "cancel", job_id)
    again = cli("jobs", "cancel", job_id, expect=1)
    assert "already cancelled" in again.stderr

    assert (
        "unknown GPU type"
        in cli("jobs", "submit", "--dataset", dataset_id, "--gpu-type", "TPU", expect=1).stderr
    )
    assert "no dataset" in cli("jobs", "submit", "--dataset", "nothing", expect=1).stderr
    wrong_url = cli("jobs", "list", "--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/x", expect=1)
    assert (
        wrong_url.stderr.startswith("loradesk: cannot open the database")
        and wrong_url.stderr.count("\n") == 1
    )
    assert "not a database URL" in cli("jobs", "list", "--database-url", "::nonsense", expect=1).stderr


def test_usage_errors_exit_2(cli):
    assert cli("jobs", "frobnicate", expect=2).stderr.startswith("usage:")
    cli("jobs", "submit", expect=2)  # --dataset is required
    cli("jobs", "list", "--status", "sleeping", expect=2)


def test_revoked_token_through_the_cli(cli, fake_cluster, dataset_file):
    dataset_id = cli("datasets", "add", str(dataset_file)).stdout.strip()
    job_id = cli("jobs", "submit", "--dataset", dataset_id).stdout.strip()
    fake_cluster.revoke_token()
    cli("scheduler", "--once")
    cli("scheduler", "--once")
    assert show(cli, job_id)["status"] == "queued"
    notes = json.loads(cli("notifications", "list", "--unread", "--json").stdout)
    assert [n["type"] for n in notes] == ["cluster_auth_failed"]
    assert TOKEN not in json.dumps(notes)


def test_headless_scheduler_survives_a_broken_database_without_tracebacks(home, tmp_path):
    import signal
    import sqlite3
    import time

    db = tmp_path / "shared.db"
    env = {
        **os.environ,
        "LORADESK_HOME": str(home),
        "LORADESK_DATABASE_URL": f"sqlite:///{db}",
        "LORADESK_POLL_INTERVAL": "0.1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli.main", "scheduler"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (
            db.exists()
            and "training_jobs"
            in {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
        ):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        with sqlite3.connect(db) as conn:  # someone breaks the shared database under it
            conn.execute("ALTER TABLE training_jobs RENAME TO gone")
        time.sleep(1)  # ten cycles meet the broken database
        assert proc.poll() is None, "the scheduler must keep running"
    finally:
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0
    assert (
        "scheduler cycle failed, retried next interval: database error: no such table: training_jobs"
        in stderr
    )
    assert "Traceback" not in stderr


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error a user reads: exactly one line on stderr, prefixed like every other."""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("loradesk: "), result.stderr
    return result.stderr.strip()


def test_a_reader_that_closes_the_pipe_ends_the_listing_quietly(cli, dataset_file):
    dataset_id = cli("datasets", "add", str(dataset_file)).stdout.strip()
    cli("jobs", "submit", "--dataset", dataset_id)
    # `loradesk jobs list | head -0`: the reader is gone before the first line is written
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli.main", "jobs", "list"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, as tools the pipe killed report
    assert stderr == ""


@pytest.mark.parametrize(
    "url", ["mysql://bob:s3cret@localhost/loradesk", "postgresql+psycopg2://bob@localhost/loradesk"]
)
def test_an_unsupported_database_says_which_ones_work(cli, url):
    line = one_line(cli("jobs", "list", "--database-url", url, expect=1))
    assert "Loradesk works with SQLite and PostgreSQL" in line and "sqlite:///" in line
    assert "s3cret" not in line


def test_a_database_nobody_answers_is_one_line(cli, tmp_path):
    unreachable = cli("jobs", "list", "--database-url", "postgresql+psycopg://bob@127.0.0.1:1/x", expect=1)
    assert one_line(unreachable).startswith("loradesk: cannot open the database")
    (tmp_path / "afile").write_text("")
    unusable = cli("jobs", "list", "--database-url", f"sqlite:///{tmp_path / 'afile' / 'x.db'}", expect=1)
    assert one_line(unusable).startswith("loradesk: cannot")


def test_dataset_mistakes_are_named(cli, tmp_path):
    folder = one_line(cli("datasets", "add", str(tmp_path), expect=1))
    assert folder == f"loradesk: {tmp_path} is a folder; give the dataset's .jsonl file inside it"
    no_prompt = tmp_path / "no-prompt.jsonl"
    no_prompt.write_text('{"prompt": "a", "completion": "b"}\n{"completion": "b"}\n')
    missing = one_line(cli("datasets", "add", str(no_prompt), expect=1))
    assert missing == 'loradesk: no-prompt.jsonl line 2: the key "prompt" is missing'


def test_one_name_one_dataset(cli, home, dataset_file):
    first = cli("datasets", "add", str(dataset_file), "--name", "sums").stdout.strip()
    again = one_line(cli("datasets", "add", str(dataset_file), "--name", "sums", expect=1))
    assert again == f"loradesk: you already have a dataset named 'sums' ({first}); choose another name"
    assert [d["id"] for d in json.loads(cli("datasets", "list", "--json").stdout)] == [first]
    assert len(list((home / "storage").rglob("*.jsonl"))) == 1
    too_long = one_line(cli("datasets", "add", str(dataset_file), "--name", "n" * 201, expect=1))
    assert too_long == "loradesk: a dataset name may have at most 200 characters; this one has 201"
    assert len(list((home / "storage").rglob("*.jsonl"))) == 1


def test_marking_an_unknown_notification_read_fails(cli):
    assert one_line(cli("notifications", "read", "nope", expect=1)) == (
        "loradesk: no notification 'nope' (see `loradesk notifications list`)"
    )


def test_jobs_show_prints_hyperparameters_and_dollars(cli, dataset_file):
    dataset_id = cli("datasets", "add", str(dataset_file)).stdout.strip()
    job_id = cli(
        "jobs", "submit", "--dataset", dataset_id, "--lora-rank", "16", "--learning-rate", "3e-5"
    ).stdout.strip()
    shown = cli("jobs", "show", job_id).stdout
    pairs = [line.split("  ", 1) for line in shown.splitlines() if "  " in line]
    rows = {key: value.strip() for key, value in pairs}
    assert rows["gpu"] == "1× A10G at $1.10/h per GPU"
    assert rows["cost"] == "$0.00 so far"
    assert rows["HYPERPARAMETER"] == "VALUE"
    assert (rows["lora_rank"], rows["lora_alpha"], rows["learning_rate"]) == ("16", "32", "3e-05")
    listed = cli("jobs", "list").stdout
    assert " $0.00 " in listed and "1× A10G" in listed


def test_jobs_show_summarises_the_run(cli, fake_cluster, dataset_file):
    """Known points from the cluster: the best validation loss is step 12's, the final loss step 20's."""
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    job_id = cli("jobs", "submit", "--dataset", "sums", "--base-model", "llama3-8b").stdout.strip()
    losses = {step: round(2.0 - 0.05 * step, 4) for step in range(1, 21)}
    losses[12] = 0.3
    fake_cluster.plan_job(job_id, JobPlan(total_steps=20, steps_per_poll=10, losses=losses))
    for _ in range(3):
        cli("scheduler", "--once")

    shown = show(cli, job_id)
    summary = shown["summary"]
    assert shown["status"] == "completed"
    assert (summary["best_validation_loss"], summary["best_validation_step"]) == (pytest.approx(0.35), 12)
    assert (summary["final_training_loss"], summary["final_training_step"]) == (1.0, 20)
    mean = sum(1200.0 + step % 7 for step in range(1, 21)) / 20
    assert summary["mean_throughput"] == pytest.approx(mean)
    assert summary["wall_time_seconds"] > 0
    assert summary["tokens_processed"] == round(mean * summary["wall_time_seconds"])
    assert (summary["cost"], summary["cost_final"]) == (shown["final_cost"], True)
    assert (summary["base_model"], summary["dataset_name"], summary["dataset_pairs"]) == (
        "llama3-8b",
        "sums",
        20,
    )
    assert summary["metric_points"] == 20

    text = cli("jobs", "show", job_id).stdout
    rows = dict(line.split("  ", 1) for line in text.splitlines() if "  " in line)
    assert rows["SUMMARY"].strip() == "VALUE"
    assert rows["best validation loss"].strip() == "0.3500 at step 12"
    assert rows["final training loss"].strip() == "1.0000 at step 20"
    assert rows["dataset"].strip() == "sums (20 pairs)"
    assert rows["base model"].strip() == "llama3-8b"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--epochs", "0"), "epochs must be a whole number from 1 to 10,000, not 0"),
        (("--learning-rate", "2"), "learning rate must be a number above 0 and below 1, not 2.0"),
        (("--lora-rank", "-8"), "lora rank must be a whole number from 1 to 4,096, not -8"),
        (("--batch-size", "0"), "batch size must be a whole number from 1 to 65,536, not 0"),
        (("--gpu-count", "0"), "gpu count must be a whole number from 1 to 1,024, not 0"),
        (("--name", "n" * 201), "a job name may have at most 200 characters; this one has 201"),
    ],
)
def test_a_job_no_backend_could_run_is_refused_at_submit(cli, dataset_file, options, message):
    dataset_id = cli("datasets", "add", str(dataset_file)).stdout.strip()
    assert (
        one_line(cli("jobs", "submit", "--dataset", dataset_id, *options, expect=1)) == f"loradesk: {message}"
    )
    assert json.loads(cli("jobs", "list", "--json").stdout) == []


def test_the_base_model_of_a_local_job_is_checked_at_submit(cli, dataset_file, tmp_path):
    local = {"LORADESK_CLUSTER": "local"}
    dataset_id = cli("datasets", "add", str(dataset_file), **local).stdout.strip()
    missing = str(tmp_path / "llama3-8b")
    refused = cli("jobs", "submit", "--dataset", dataset_id, "--base-model", missing, expect=1, **local)
    assert one_line(refused) == (
        f"loradesk: base model {missing!r} is neither 'tiny', a local model folder with a config.json,"
        " nor a Hugging Face model id"
    )
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    from_folder = cli("jobs", "submit", "--dataset", dataset_id, "--base-model", str(model), **local)
    tiny = cli("jobs", "submit", "--dataset", dataset_id, **local)
    assert show(cli, from_folder.stdout.strip())["hyperparameters"]["base_model"] == str(model)
    tiny_job = show(cli, tiny.stdout.strip())
    assert tiny_job["hyperparameters"]["base_model"] == "tiny"
    assert tiny_job["hyperparameters"]["learning_rate"] == 3e-3  # the tiny model's own default


def test_the_engine_alone_has_no_desktop(home):
    """The desktop is put in by the composition root (`loradesk.main`); the engine's own command
    line says so in one line instead of reaching for Qt."""
    result = subprocess.run(
        [sys.executable, "-m", "core.cli.main", "gui"],
        env={**os.environ, "LORADESK_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "loradesk: the desktop app is not part of this command; run `loradesk` or `loradesk-gui`"
    ]


def test_notify_option_and_variable_are_checked(cli):
    result = cli("jobs", "list", "--notify", "job_completed,milestones", expect=1)
    assert result.stderr.strip().splitlines() == [
        "loradesk: unknown notification type 'milestones' in notify; use all, none or some of "
        "job_started, job_progress, job_completed, job_failed, job_cancelled, job_warning, "
        "cluster_auth_failed"
    ]
    cli("jobs", "list", LORADESK_NOTIFY="job_failed")  # a good list is taken by every command
    cli("jobs", "list", "--notify", "none")
