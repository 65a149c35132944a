"""`jobs submit`'s sample prompts and `loradesk jobs samples`, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import cli, show  # noqa: F401  the CLI fixture: separate processes
from tests.fakes.cluster import FakeCluster, JobPlan


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these read what the scheduler tests store on both databases, and each CLI
    call is a process of its own (seconds of CI time)."""
    return f"sqlite:///{tmp_path / 'loradesk.db'}"


def test_sample_prompts_are_given_at_submit_and_answers_read_back(
    cli,  # noqa: F811
    fake_cluster: FakeCluster,
    dataset_file: Path,
    tmp_path: Path,
):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Translate: cat"}\n\n"What is 3 + 4?"\n', encoding="utf-8")
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    job_id = cli(
        "jobs", "submit", "--dataset", "sums",
        "--sample-prompts", str(prompts),
        "--sample-prompt", "Say hi",
        "--max-new-tokens", "32",
    ).stdout.strip()  # fmt: skip
    settings = show(cli, job_id)["hyperparameters"]
    assert settings["sample_prompts"] == ["Translate: cat", "What is 3 + 4?", "Say hi"]
    assert settings["max_new_tokens"] == 32

    fake_cluster.plan_job(
        job_id,
        JobPlan(
            total_steps=20,
            steps_per_poll=20,
            sample_every=10,
            sample_output="line one\nline two \x1b[31mred\u202e at {step}",
        ),
    )
    assert "no samples yet" in cli("jobs", "samples", job_id).stdout
    for _ in range(2):
        cli("scheduler", "--once")
    text = cli("jobs", "samples", job_id).stdout
    assert text.startswith("step 10\n  #1  prompt:   prompt 0\n      expected: expected 0\n")
    assert "      answer:   line one\n                line two \\x1b[31mred\\u202e at 10\n" in text
    assert "\nstep 20\n" in text and "\x1b" not in text and "\u202e" not in text

    at_20 = json.loads(cli("jobs", "samples", job_id, "--step", "20", "--json").stdout)
    assert [(s["step"], s["prompt_index"]) for s in at_20] == [(20, 0), (20, 1)]
    assert set(at_20[0]) == {"job_id", "step", "prompt_index", "prompt", "expected", "output", "recorded_at"}
    assert at_20[1]["output"] == "line one\nline two \x1b[31mred\u202e at 20"  # JSON keeps the text whole

    missing = cli("jobs", "samples", job_id, "--step", "15", expect=1)
    assert missing.stderr.strip() == "loradesk: no samples at step 15 (evaluations with samples: 10, 20)"


def test_sample_prompt_mistakes_are_one_line(cli, dataset_file: Path, tmp_path: Path):  # noqa: F811
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"question": "no prompt"}\n', encoding="utf-8")
    refused = cli("jobs", "submit", "--dataset", "sums", "--sample-prompts", str(bad), expect=1)
    assert refused.stderr.strip() == f'loradesk: {bad}, line 2: expected {{"prompt": "…"}} or a JSON string'
    blank = cli("jobs", "submit", "--dataset", "sums", "--sample-prompt", " ", expect=1)
    assert blank.stderr.strip() == "loradesk: sample prompt 1 must be a non-empty text"
    assert cli("jobs", "samples", "no-such-job", expect=1).stderr.startswith("loradesk: no job 'no-such-job'")
    assert cli("jobs", "list", "--json").stdout.strip() == "[]"  # nothing was written
