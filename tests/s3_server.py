"""moto's standalone S3 server on loopback, as a process of its own (the stand-in for MinIO)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ray_head import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "loradesk-test",
    "AWS_SECRET_ACCESS_KEY": "loradesk-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> S3Server:
        server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        self.process = subprocess.Popen(
            [server, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    return self
            except urllib.error.HTTPError as answer:
                if answer.code < 500:
                    return self
            except OSError:  # not listening yet
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("moto_server did not start")

    def environment(self) -> dict[str, str]:
        """What a process needs to reach this server through the standard AWS configuration."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
