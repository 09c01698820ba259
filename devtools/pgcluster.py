"""A throwaway PostgreSQL cluster for tests and the local stack.

As root, initdb/pg_ctl refuse to run, so they run as the `postgres` user, and the data directory
lives where that user can traverse (under the system temp dir, not inside a checkout in a private home directory).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: run `make setup`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Cluster:
    datadir: Path
    port: int

    @property
    def url_base(self) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}"

    def url(self, dbname: str) -> str:
        return f"{self.url_base}/{dbname}"

    @classmethod
    def create(cls, datadir: Path | None = None, port: int | None = None) -> Cluster:
        """initdb (when the directory is new) and start; returns a running cluster."""
        if datadir is None:
            datadir = Path(
                tempfile.mkdtemp(prefix="dataapi-pg-", dir="/tmp" if os.path.isdir("/tmp") else None)
            )
        datadir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(datadir, 0o700)
            shutil.chown(datadir, "postgres", "postgres")
        cluster = cls(datadir, port or free_port())
        binp = pg_bin()
        if not (datadir / "PG_VERSION").exists():
            subprocess.run(
                _as_postgres(
                    [
                        str(binp / "initdb"),
                        "-D",
                        str(datadir),
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                        "--no-sync",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        opts = (
            f"-p {cluster.port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c timezone=UTC"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(binp / "pg_ctl"),
                    "-D",
                    str(datadir),
                    "-l",
                    str(datadir / "log"),
                    "-w",
                    "-o",
                    opts,
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return cluster

    def stop(self, remove: bool = False) -> None:
        subprocess.run(
            _as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if remove:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE DATABASE and friends)."""
        import pg8000.native

        for _ in range(50):
            try:
                conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=self.port, database=dbname)
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError("PostgreSQL did not accept connections")
        try:
            conn.run(statement)
        finally:
            conn.close()
