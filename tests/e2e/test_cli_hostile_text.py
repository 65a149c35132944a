"""Text from a cluster or a person reaches the terminal with its control and bidi characters
escaped, and a log whose offset never moves is not read forever (issue 23, item 9)."""

# ruff: noqa: F811 - `cli` is test_cli's fixture, taken as an argument

from __future__ import annotations

from core.safe_text import printable
from tests.e2e.test_cli import cli, show  # noqa: F401 - the fixture
from tests.fakes.cluster import JobPlan

# A window title, an OSC-8 link, BEL, NUL, a cleared screen and a right-to-left override.
HOSTILE = "a\x1b]0;pwned\x07b \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ \x00\x1b[2J \u202etxt.exe"
RAW = ("\x1b", "\x07", "\x00", "\u202e")


def _submit(cli, dataset_file, *options: str) -> str:
    cli("datasets", "add", str(dataset_file), "--name", "sums")
    return cli("jobs", "submit", "--dataset", "sums", *options).stdout.strip()


def test_printable_escapes_controls_and_bidi_and_keeps_what_is_plain():
    assert printable("loss 0.5 — ünïcödé 日本 ✓") == "loss 0.5 — ünïcödé 日本 ✓"
    assert printable("\x1b[31mred\x07\u202e\x9b") == "\\x1b[31mred\\x07\\u202e\\x9b"
    assert printable("one\ntwo\tthree") == "one\\x0atwo\\x09three"
    assert printable("one\ntwo\tthree\r\nfour\rfive", lines=True) == "one\ntwo\tthree\nfour\nfive"
    assert not any(c in printable(HOSTILE, lines=True) for c in RAW)


def test_a_log_whose_offset_stands_still_stops_with_one_line(cli, fake_cluster, dataset_file):
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=0)
    job_id = _submit(cli, dataset_file)
    cli("scheduler", "--once")
    # Every read answers the same text and sends the reader back to byte 0.
    fake_cluster.fail_with(200, {"text": "again\n", "next_offset": 0}, times=None, endpoint="logs")
    stuck = cli("jobs", "logs", job_id, "--follow", expect=1)
    assert stuck.stdout == "again\n"
    assert stuck.stderr == "loradesk: the cluster's log did not move past byte 0; stopped reading it\n"


def test_logs_names_tags_and_messages_reach_the_terminal_escaped(cli, fake_cluster, dataset_file):
    fake_cluster.default_plan = JobPlan(total_steps=20, steps_per_poll=0)
    job_id = _submit(cli, dataset_file, "--name", "run\u202eevil")
    cli("scheduler", "--once")
    external = show(cli, job_id)["external_job_id"]
    fake_cluster.append_log(external, HOSTILE + "\n")
    printed = cli("jobs", "logs", job_id).stdout
    assert printed.endswith(printable(HOSTILE, lines=True) + "\n")
    tagged = cli("jobs", "tag", job_id, "x\x1b[2Jy", "rtl\u202e").stdout
    assert tagged.strip() == "x\\x1b[2Jy, rtl\\u202e"
    for output in (printed, tagged, cli("jobs", "list").stdout, cli("jobs", "show", job_id).stdout):
        assert not any(c in output for c in RAW), output
    assert "run\\u202eevil" in cli("jobs", "list").stdout
    # A cluster's message inside an error line, and the scheduler's log lines, are escaped too.
    fake_cluster.fail_with(500, {"error": "down\x1b]0;x\x07"}, times=None, endpoint="cancel")
    cancelled = cli("jobs", "cancel", job_id, expect=0)
    assert not any(c in cancelled.stdout + cancelled.stderr for c in RAW)
