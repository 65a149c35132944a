"""What a new user meets in their first hour on the command line (issue 21): the budget estimate,
short ids, how fresh a listing is, datasets, the version, the keyring notice, every setting."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from core.config import load_settings
from core.db.models import utcnow
from core.workspace import Workspace
from tests.core.helpers import set_job_columns
from tests.e2e import test_cli as cli_suite

cli = cli_suite.cli  # the fixture: a `loradesk` process on the test database and fake cluster
show = cli_suite.show
one_line = cli_suite.one_line


def test_submit_prints_the_estimate_and_refuses_past_the_budget_with_it(cli, dataset_file):
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    paid = ("jobs", "submit", "--dataset", "sums", "--gpu-type", "H100", "--epochs", "100")
    refused = one_line(cli(*paid, LORADESK_MONTHLY_BUDGET="0.05", expect=1))
    assert refused == (
        f"loradesk: $0.00 of your $0.05 budget is spent in {utcnow():%B %Y}; this job (about $4.50) "
        "would take it to $4.50, past the budget; add --force to submit anyway"
    )
    assert json.loads(cli("jobs", "list", "--json").stdout) == []
    accepted = cli(*paid, "--over-budget", LORADESK_MONTHLY_BUDGET="0.05")
    assert re.fullmatch(r"[0-9a-f-]{36}\n", accepted.stdout)  # stdout: the id alone, for scripts
    assert accepted.stderr == (
        "estimated cost: $4.50 (1 h at $4.50/h, a guess of 1 h: no finished run of this dataset yet)\n"
    )


def test_the_local_backend_refuses_a_gpu_the_machine_lacks_and_bills_its_own_at_the_local_rate(
    cli, dataset_file
):
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    local = {"LORADESK_CLUSTER": "local", "LORADESK_MONTHLY_BUDGET": "0.05"}
    refused = one_line(cli("jobs", "submit", "--dataset", "sums", "--gpu-type", "B9000", expect=1, **local))
    # cpu always; a machine with GPUs lists them after it, by name and count
    assert re.fullmatch(
        r"loradesk: GPU type 'B9000' is not on this machine; the local backend offers cpu.*", refused
    )
    own = cli("jobs", "submit", "--dataset", "sums", "--local-rate", "0.02", **local)
    assert own.stderr == (
        "estimated cost: $0.02 (1 h at $0.02/h, a guess of 1 h: no finished run of this dataset yet)\n"
    )
    assert show(cli, own.stdout.strip())["hourly_rate"] == 0.02  # billed at the local rate


def test_the_estimate_comes_from_finished_runs_of_the_dataset(cli, dataset_file, home, database_url):
    dataset_id = cli("datasets", "add", str(dataset_file), "--name", "sums").stdout.strip()
    done = cli("jobs", "submit", "--dataset", dataset_id, "--epochs", "2").stdout.strip()
    now = utcnow()
    ws = Workspace.open(load_settings({"home": str(home), "database_url": database_url, "user": "carol"}))
    try:  # a finished run of 2 epochs that took 20 minutes: 10 minutes an epoch
        set_job_columns(
            ws,
            done,
            status="completed",
            started_at=now - timedelta(minutes=20),
            completed_at=now,
            total_epochs=2,
        )
    finally:
        ws.close()
    result = cli("jobs", "submit", "--dataset", "sums", "--gpu-type", "T4", "--epochs", "3")
    assert result.stderr == (
        "estimated cost: $0.17 (30 min at $0.35/h, from 1 finished run of this dataset (10 min per epoch))\n"
    )


def test_every_command_takes_a_unique_id_prefix_and_an_ambiguous_one_lists_the_matches(
    cli, dataset_file, home, database_url
):
    dataset_id = cli("datasets", "add", str(dataset_file), "--name", "sums").stdout.strip()
    job_id = cli("jobs", "submit", "--dataset", dataset_id[:8], "--name", "first").stdout.strip()
    assert show(cli, job_id[:8])["id"] == job_id
    assert show(cli, job_id[:6])["id"] == job_id
    assert cli("jobs", "tag", job_id[:8], "#cli").stdout == "cli\n"  # typed as searched: stored bare
    assert show(cli, job_id)["tags"] == ["cli"]
    assert "no job 'abc'" in one_line(cli("jobs", "show", "abc", expect=1))  # under six: whole ids only

    other = cli("jobs", "submit", "--like", job_id[:8], "--name", "second").stdout.strip()
    ws = Workspace.open(load_settings({"home": str(home), "database_url": database_url, "user": "carol"}))
    try:  # two ids with one start, as a short id shared by chance
        with ws.db.write() as session:
            from sqlalchemy import text

            session.execute(
                text("UPDATE training_jobs SET id = :new WHERE id = :old"),
                {"new": job_id[:8] + other[8:], "old": other},
            )
    finally:
        ws.close()
    line = one_line(cli("jobs", "show", job_id[:8], expect=1))
    assert line.startswith(f"loradesk: job id '{job_id[:8]}' is the start of several jobs: ")
    assert f"{job_id} (first)" in line and f"{job_id[:8] + other[8:]} (second)" in line
    assert line.endswith("; give more characters")


def test_a_listing_says_when_each_active_job_was_last_polled(cli, dataset_file, home, database_url):
    job_id = cli("jobs", "submit", "--dataset", cli("datasets", "add", str(dataset_file)).stdout.strip())
    job_id = job_id.stdout.strip()
    ws = Workspace.open(load_settings({"home": str(home), "database_url": database_url, "user": "carol"}))
    try:
        set_job_columns(
            ws,
            job_id,
            status="running",
            external_job_id="ext-1",
            progress=65.0,
            polled_at=utcnow() - timedelta(minutes=4, seconds=5),
        )
    finally:
        ws.close()
    listing = cli("jobs", "list").stdout.splitlines()
    assert listing[0].split()[-1] == "POLLED"
    assert listing[1].endswith("4 min ago")
    shown = cli("jobs", "show", job_id).stdout
    assert re.search(r"progress\s+65\.0% \(step 0/\?, epoch 0/3\); polled 4 min ago", shown), shown


def test_datasets_show_and_delete(cli, dataset_file):
    dataset_id = cli("datasets", "add", str(dataset_file), "--name", "sums").stdout.strip()
    shown = cli("datasets", "show", dataset_id[:8]).stdout
    assert re.search(r"pairs\s+20\n", shown) and re.search(r"size\s+\d+ B\n", shown)
    assert "1  What is 0 + 0? → 0" in shown and "5  What is 4 + 4? → 8" in shown
    assert "6  " not in shown  # the first five rows
    detail = json.loads(cli("datasets", "show", "sums", "--json").stdout)
    assert detail["size_bytes"] == dataset_file.stat().st_size and detail["jobs"] == []

    job_id = cli("jobs", "submit", "--dataset", "sums", "--name", "uses it").stdout.strip()
    assert job_id in cli("datasets", "show", "sums").stdout
    refused = one_line(cli("datasets", "delete", "sums", expect=1))
    assert refused == (
        f"loradesk: dataset 'sums' is used by 1 job ({job_id[:8]} 'uses it' (queued)); "
        "delete those jobs first"
    )
    cli("jobs", "cancel", job_id)
    cli("jobs", "delete", job_id, "--yes")
    assert cli("datasets", "delete", dataset_id[:8]).stdout == f"deleted dataset {dataset_id} (sums)\n"
    assert json.loads(cli("datasets", "list", "--json").stdout) == []


def test_version(cli):
    assert re.fullmatch(r"loradesk \d+\.\d+\.\d+\n", cli("--version").stdout)


def test_submit_sets_every_hyperparameter_the_trainer_takes(cli, dataset_file):
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    job_id = cli(
        "jobs",
        "submit",
        "--dataset",
        "sums",
        "--warmup-ratio",
        "0.2",
        "--lora-dropout",
        "0.1",
        "--target-modules",
        "q_proj,v_proj",
        "--max-length",
        "512",
        "--seed",
        "7",
        "--validation-split",
        "0.2",
        "--eval-interval",
        "25",
        "--gradient-accumulation-steps",
        "4",
        "--max-steps",
        "300",
        "--precision",
        "fp32",
        "--quantization",
        "8bit",
        "--gradient-checkpointing",
        "--packing",
        "--checkpoint-interval",
        "20",
    ).stdout.strip()
    hp = show(cli, job_id)["hyperparameters"]
    assert {
        k: hp[k]
        for k in (
            "warmup_ratio",
            "lora_dropout",
            "target_modules",
            "max_length",
            "seed",
            "validation_split",
            "eval_interval",
            "gradient_accumulation_steps",
            "max_steps",
            "precision",
            "quantization",
            "gradient_checkpointing",
            "packing",
            "checkpoint_interval",
        )
    } == {
        "warmup_ratio": 0.2,
        "lora_dropout": 0.1,
        "target_modules": ["q_proj", "v_proj"],
        "max_length": 512,
        "seed": 7,
        "validation_split": 0.2,
        "eval_interval": 25,
        "gradient_accumulation_steps": 4,
        "max_steps": 300,
        "precision": "fp32",
        "quantization": "8bit",
        "gradient_checkpointing": True,
        "packing": True,
        "checkpoint_interval": 20,
    }
    # --like keeps them unless told otherwise; --no-packing turns one off again.
    like = cli("jobs", "submit", "--like", job_id[:8], "--no-packing").stdout.strip()
    hp = show(cli, like)["hyperparameters"]
    assert (hp["precision"], hp["gradient_checkpointing"], hp.get("packing", False)) == ("fp32", True, False)
    bad = one_line(cli("jobs", "submit", "--dataset", "sums", "--validation-split", "0.95", expect=1))
    assert "validation split" in bad


NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_the_keyring_notice_comes_once_and_only_when_a_secret_is_missing(cli, dataset_file):
    dataset_id = cli("datasets", "add", str(dataset_file), **NO_KEYRING)
    assert dataset_id.stderr == ""  # the token comes from the variable; the database wants none
    cli("jobs", "submit", "--dataset", dataset_id.stdout.strip(), **NO_KEYRING)
    assert cli("jobs", "list", LORADESK_CLUSTER_TOKEN="", **NO_KEYRING).stderr == ""  # no token needed

    ran = cli("scheduler", "--once", LORADESK_CLUSTER_TOKEN="", **NO_KEYRING)  # submitting needs one
    notices = [line for line in ran.stderr.splitlines() if "keyring" in line]
    assert notices == [
        "loradesk: no OS keyring available; use LORADESK_CLUSTER_TOKEN "
        "(and LORADESK_DATABASE_PASSWORD for a database password)"
    ]
