"""A private PostgreSQL cluster for the tests that stop and start the server: its own
data directory, port and postmaster, made with the machine's binaries (initdb, pg_ctl),
so that restarting it disturbs nobody else's database.

As root (CI), the server runs as the ``postgres`` user (it refuses to run as root), in a
temporary directory that user owns. Outside CI the tests that need it skip, saying why,
when the binaries or that user are missing; on CI they fail instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.factories import free_port

ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _bin_dir() -> Path | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for d in reversed(dirs):
        if Path(d, "pg_ctl").exists() and Path(d, "initdb").exists():
            return Path(d)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


class Cluster:
    """One postmaster on 127.0.0.1:``port`` with trust authentication and fsync off."""

    def __init__(self, bindir: Path, root: Path, port: int, user: str | None) -> None:
        self.bindir = bindir
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port
        self._user = user  # run the binaries as this user (we are root)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._user is not None:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")

    def start(self) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
                f"-k {self.data}")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                  "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` disconnects every client (their transactions roll
        back), as a restart by an operator or a package upgrade does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return Path(self.data, "postmaster.pid").exists()


def missing() -> str | None:
    """Why no private cluster can be made here, or None."""
    if _bin_dir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
    if os.geteuid() == 0 and _server_user() is None:
        return "running as root without a 'postgres' user to run the server as"
    return None


def _server_user() -> str | None:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres"


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A fresh cluster, started; stopped and removed afterwards (see ``missing``)."""
    bindir = _bin_dir()
    assert bindir is not None, missing()
    user = _server_user() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="outreach-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    made = Cluster(bindir, root, free_port(), user)
    try:
        made.init()
        made.start()
        yield made
    finally:
        if made.running():
            try:
                made.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """``cluster()`` for a test: where one cannot be made it skips, saying why, or on CI
    fails."""
    why = missing()
    if why is not None:
        if ON_CI:
            pytest.fail(f"a private PostgreSQL cluster is required on CI: {why}")
        pytest.skip(f"{why}; this test needs a PostgreSQL cluster of its own")
    with cluster() as made:
        yield made
