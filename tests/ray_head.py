"""A real Ray head on loopback for tests and benchmarks: `ray start --head --block` in its own
session and temp folder, stopped through that one process (which takes its raylet, GCS and
dashboard down with it), never with `ray stop`, which would stop every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

SOURCE_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "loradesk-test-ray-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RayHead:
    """One head with token authentication (`RAY_AUTH_MODE=token`), so tests also see Ray refuse
    a wrong token. The jobs it runs use this Python and this checkout's `core`."""

    def __init__(self, *, num_cpus: int = 2, token: str = TOKEN) -> None:
        self.token = token
        self.num_cpus = num_cpus
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ldray", dir="/tmp"))  # short: socket paths
        self.dashboard_port = free_port()
        self.url = f"http://127.0.0.1:{self.dashboard_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> str:
        ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
        gcs, client, agent = free_port(), free_port(), free_port()
        workers = free_port()
        env = dict(os.environ)
        env.update(
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            PYTHONPATH=os.pathsep.join(filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH")])),
            RAY_USAGE_STATS_ENABLED="0",
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=self.token,
            # One machine: every Ray process binds loopback instead of the machine's address.
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        )
        command = [
            ray, "start", "--head", "--block", "--disable-usage-stats",
            "--node-ip-address", "127.0.0.1",
            "--num-cpus", str(self.num_cpus),
            "--object-store-memory", str(100 * 1024 * 1024),
            "--include-dashboard", "true",
            "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(self.dashboard_port),
            "--port", str(gcs),
            "--ray-client-server-port", str(client),
            "--dashboard-agent-listen-port", str(agent),
            "--min-worker-port", str(workers), "--max-worker-port", str(workers + 200),
            "--temp-dir", str(self.temp_dir),
        ]  # fmt: skip
        log = (self.temp_dir / "ray-start.log").open("wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start ended early: {self.log_tail()}")
            with contextlib.suppress(OSError):  # refused, reset, or an HTTP error while it starts
                self._get("/api/jobs/", timeout=2)
                return self.url
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Ray head did not answer within {timeout:.0f} s: {self.log_tail()}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def jobs(self) -> list[dict[str, object]]:
        return list(json.loads(self._get("/api/jobs/", timeout=10)))

    def submit(self, submission_id: str, entrypoint: str, **options: object) -> None:
        """A Ray job of the Jobs API under `submission_id`, whatever its entrypoint."""
        body = {"submission_id": submission_id, "entrypoint": entrypoint, **options}
        self._send("/api/jobs/", body, timeout=30)

    def stop_job(self, submission_id: str) -> None:
        self._send(f"/api/jobs/{submission_id}/stop", {}, timeout=30)

    def _send(self, path: str, body: dict[str, object], *, timeout: float) -> None:
        headers = {**self.headers, "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()

    def _get(self, path: str, *, timeout: float) -> bytes:
        """The body of a 2xx answer; an OSError (urllib's HTTPError and URLError among them)
        for anything else."""
        request = urllib.request.Request(self.url + path, headers=self.headers)
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return bytes(answer.read())

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.temp_dir / "ray-start.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        """SIGTERM to `ray start --block` stops what it started; then anything left in its session
        or naming its temp folder (ours alone) is killed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        for leftover in self._leftovers():
            with contextlib.suppress(psutil.Error):
                leftover.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _leftovers(self) -> Iterator[psutil.Process]:
        marker = str(self.temp_dir)
        session = self.process.pid if self.process is not None else None
        for found in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(found.info.get("cmdline") or []) or (
                    session is not None and os.getsid(found.pid) == session
                ):
                    yield found


def ray_available() -> bool:
    return shutil.which("ray", path=str(Path(sys.executable).parent)) is not None
