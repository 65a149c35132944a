"""A PostgreSQL server of a test's own, on a free port, that the test may stop and restart.

The shared server on 5432 must never be restarted under other tests, so a test that restarts its
database makes one here with `initdb`/`pg_ctl` from `pg_config --bindir`. initdb refuses to run as
root; as root the server runs as the `postgres` login (via runuser), in a folder it owns.
With a `password`, every connection must prove one (scram-sha-256), the superuser's being that.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class ThrowawayPostgres:
    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.bindir = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        self.folder = Path(tempfile.mkdtemp(prefix="loradesk-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        secret = f":{self.password}" if self.password else ""
        return f"postgresql+psycopg://postgres{secret}@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> ThrowawayPostgres:
        auth = ["-A", "trust"]
        if self.password:
            pwfile = self.folder / "pw"
            pwfile.write_text(self.password)
            if self._as:
                shutil.chown(pwfile, "postgres")
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", *auth, "--no-sync", "-E", "UTF8")
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as when a server restarts under its clients."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bindir / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
