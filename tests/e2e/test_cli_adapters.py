"""`loradesk try` and `loradesk adapters export` on a real trained tiny adapter, run as a user
runs them: separate processes, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.adapters import TASK_PROMPT, job_with_adapter, trained_adapter  # noqa: F401

pytestmark = pytest.mark.trainer


@pytest.fixture
def cli(home: Path):
    env = {**os.environ, "LORADESK_HOME": str(home), "LORADESK_USER": "dana", "LORADESK_CLUSTER": "local"}

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "loradesk", *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == expect, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    return run


def test_try_prints_the_base_and_the_adapter_answer(cli, home: Path, trained_adapter: Path):  # noqa: F811
    job = job_with_adapter(home, trained_adapter)

    printed = cli("try", job.id, TASK_PROMPT, "--temperature", "0", "--max-new-tokens", "40").stdout
    base, adapter = printed.split("── with the adapter ──\n")
    assert base.startswith("── base model (tiny) ──\n")
    assert "hundred" in adapter and "hundred" not in base
    # The untrained base model's newlines come through as text; control characters would not.
    as_json = json.loads(
        cli("try", job.id, TASK_PROMPT, "--temperature", "0", "--max-new-tokens", "40", "--json").stdout
    )
    assert as_json["adapter"].strip() == adapter.strip() and as_json["base_model"] == "tiny"


def test_try_and_export_refuse_a_job_without_an_adapter_in_one_line(cli, home: Path, tmp_path: Path):
    job = job_with_adapter(home, None, status="running")

    for args in (("try", job.id, "hello"), ("adapters", "export", job.id, str(tmp_path / "out"))):
        failed = cli(*args, expect=1)
        assert failed.stderr.strip().splitlines() == [
            "loradesk: this job has no adapter yet: it appears when the run ends, or is cancelled after"
            " training began"
        ]
    assert not (tmp_path / "out").exists()


def test_adapters_export_copies_or_merges_with_progress_and_a_snippet(
    cli,
    home: Path,
    tmp_path: Path,
    trained_adapter: Path,  # noqa: F811
):
    job = job_with_adapter(home, trained_adapter)

    copied = cli("adapters", "export", job.id, str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes() == (
        trained_adapter / "adapter_model.safetensors"
    ).read_bytes()
    assert f"PeftModel.from_pretrained(base, '{tmp_path / 'adapter'}')" in copied.stdout

    merged = cli("adapters", "export", job.id, str(tmp_path / "merged"), "--merge")
    assert "merged model exported to" in merged.stdout
    assert "merging the adapter into the base model" in merged.stderr and "100%  exported" in merged.stderr
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {
        p.name for p in (tmp_path / "merged").iterdir()
    }

    again = cli("adapters", "export", job.id, str(tmp_path / "merged"), expect=1)
    assert "already exists and is not an empty folder" in again.stderr
