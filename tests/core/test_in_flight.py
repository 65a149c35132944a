"""The cap on requests in flight follows the cluster (core.cluster.in_flight): halved on 429 or
slowing answers, grown back one at a time, logged when it changes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.cluster.http import HttpCluster
from core.cluster.in_flight import InFlightCap
from core.config import load_settings
from core.scheduler import Scheduler
from core.workspace import Workspace
from tests.fakes.cluster import FakeCluster

TOKEN = "tok"


@pytest.fixture
def fake():
    with FakeCluster(TOKEN) as fake:
        yield fake


async def test_429_halves_the_cap_and_quiet_windows_grow_it_back_one_at_a_time(
    fake: FakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.cluster.in_flight")
    async with HttpCluster(fake.url, TOKEN, max_in_flight=16) as cluster:
        fake.fail_with(429, {"error": "slow down"}, times=3, endpoint="status")
        await asyncio.gather(*(cluster.status("nobody", None) for _ in range(3)), return_exceptions=True)
        assert cluster.in_flight_cap == 8  # halved once: the three 429s came back in one window
        assert "requests in flight to the cluster: 16 → 8 (the cluster answered 429" in caplog.text
        caps = []
        # Each window of as many answers as the cap, none refused, adds one; the window of the
        # 429 (its first three answers and five more) adds none.
        for _ in range(4):
            await asyncio.gather(
                *(cluster.status("nobody", None) for _ in range(cluster.in_flight_cap)),
                return_exceptions=True,
            )
            caps.append(cluster.in_flight_cap)
        assert caps == [8, 9, 10, 11]


async def test_the_cap_holds_requests_back_to_its_current_size(fake: FakeCluster) -> None:
    fake.latency(0.05)
    async with HttpCluster(fake.url, TOKEN, max_in_flight=40) as cluster:
        fake.fail_with(429, times=1, endpoint="status")
        await asyncio.gather(cluster.status("nobody", None), return_exceptions=True)
        assert cluster.in_flight_cap == 20
        fake.max_concurrent = 0
        await asyncio.gather(*(cluster.status("nobody", None) for _ in range(19)), return_exceptions=True)
        assert 10 <= fake.max_concurrent <= 20


def test_answers_slowing_down_halve_the_cap() -> None:
    cap = InFlightCap(8)
    for _ in range(8):
        cap.answered(200, 0.05)
    assert cap.limit == 8
    for _ in range(8):
        cap.answered(200, 0.5)  # ten times slower than the best window, and 450 ms more
    assert cap.limit == 8  # one slow window may be this process's own hold-up
    for _ in range(8):
        cap.answered(200, 0.5)
    assert cap.limit == 4  # two in a row are the cluster's
    for _ in range(4):
        cap.answered(200, 0.05)
    assert cap.limit == 5


async def test_the_setting_sets_the_cap_and_the_claim(tmp_path, monkeypatch, fake: FakeCluster) -> None:
    monkeypatch.setenv("LORADESK_MAX_IN_FLIGHT", "12")
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", TOKEN)
    settings = load_settings(
        {"home": str(tmp_path), "user": "ada", "cluster": "http", "cluster_url": fake.url}
    )
    assert settings.max_in_flight == 12
    ws = Workspace.open(settings)
    try:
        assert ws.backend().in_flight_cap == 12
        scheduler = Scheduler(ws)
        assert scheduler.claim_size() == 12
        fake.fail_with(429, times=1, endpoint="status")
        await asyncio.gather(ws.backend().status("nobody", None), return_exceptions=True)
        assert scheduler.claim_size() == 6  # the claim follows the cap down
    finally:
        await ws.aclose()
        ws.close()
