"""PgBouncer in transaction pooling mode in front of a local cluster, as RDS Proxy is in production.

RDS Proxy multiplexes transactions over few server connections and pins a client to one connection
when it sees session state; PgBouncer with `pool_mode = transaction` multiplexes the same way and
breaks (rather than pins) on session state, so what works through it works through the proxy.

    pooler = Pooler.start(cluster.port, pool_size=10)   # a free port on 127.0.0.1
    pooler.url("dataapi")                                # postgresql+pg8000://postgres@127.0.0.1:PORT/dataapi
    pooler.stop()

- Any database of the cluster is reachable through it (`* = host=127.0.0.1 port=...`), so
  databases created later (the tests' `CREATE DATABASE ... TEMPLATE`) need no new entry.
- `pool_size` server connections per database at most (`default_pool_size` and
  `max_db_connections`); up to `max_client_conn` (500) clients wait in line for them.
- Local only: it listens on 127.0.0.1, and every client is trusted as a user of the userlist
  (`postgres`), as the cluster trusts it.
- PgBouncer refuses to run as root: started as root it switches to the `postgres` user (its `-u`
  option), so its folder (config, log, pid file) lives where that user can write, under the system
  temp dir (not inside a checkout in a private home directory).

    python -m devtools.pooler PORT [--pool-size N]   # one in front of 127.0.0.1:PORT until Ctrl-C
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devtools.pgcluster import free_port

DEFAULT_POOL_SIZE = 5
MAX_CLIENT_CONN = 500
DEV_ENV, DEV_SIZE_ENV = "DEV_POOLER", "DEV_POOLER_SIZE"
DEV_POOL_SIZE = 10


def dev_pool_size() -> int | None:
    """`make dev`'s setting: DEV_POOLER=1 serves the functions through PgBouncer with
    DEV_POOLER_SIZE (default 10) server connections; None when it is off."""
    if os.environ.get(DEV_ENV, "").strip() in ("", "0"):
        return None
    return int(os.environ.get(DEV_SIZE_ENV, "").strip() or DEV_POOL_SIZE)


def pgbouncer_bin() -> str:
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise RuntimeError("pgbouncer not found: run `make setup` (it installs the Debian package)")
    return found


def version() -> str:
    """`PgBouncer 1.18.0`, as the binary says."""
    out = subprocess.run([pgbouncer_bin(), "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def config(
    folder: Path,
    *,
    port: int,
    server_port: int,
    pool_size: int,
    server_idle_timeout: float,
) -> str:
    """pgbouncer.ini: transaction pooling in front of 127.0.0.1:server_port, any database."""
    return f"""\
[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
auth_type = trust
auth_file = {folder / "userlist.txt"}
admin_users = postgres
pool_mode = transaction
max_client_conn = {MAX_CLIENT_CONN}
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = {pool_size}
server_idle_timeout = {server_idle_timeout:g}
autodb_idle_timeout = 60
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
"""


@dataclass
class Pooler:
    folder: Path
    port: int
    server_port: int
    pool_size: int
    process: subprocess.Popen[bytes]

    @property
    def url_base(self) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}"

    def url(self, dbname: str) -> str:
        """The URL of a database of the cluster, through the pooler."""
        return f"{self.url_base}/{dbname}"

    @property
    def log(self) -> Path:
        return self.folder / "pgbouncer.log"

    @classmethod
    def start(
        cls,
        server_port: int,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        port: int | None = None,
        folder: Path | None = None,
        server_idle_timeout: float = 10,
    ) -> Pooler:
        """Write the config into `folder` (a new one under the system temp dir by default) and
        start PgBouncer in the foreground as a child process; returns once it accepts connections."""
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if folder is None:
            folder = Path(tempfile.mkdtemp(prefix="dataapi-pgbouncer-", dir=_temp_dir()))
        folder.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        (folder / "userlist.txt").write_text('"postgres" ""\n')
        ini = folder / "pgbouncer.ini"
        ini.write_text(
            config(
                folder,
                port=port,
                server_port=server_port,
                pool_size=pool_size,
                server_idle_timeout=server_idle_timeout,
            )
        )
        command = [pgbouncer_bin(), str(ini)]
        if os.geteuid() == 0:  # it refuses root: it switches to postgres, who must own its folder
            os.chmod(folder, 0o755)
            for path in (folder, *folder.iterdir()):
                shutil.chown(path, "postgres", "postgres")
            command[1:1] = ["-u", "postgres"]
        with open(folder / "stderr.log", "wb") as stderr:  # in the foreground it logs there too
            process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # Ctrl-C reaches its starter, who stops it in order
            )
        pooler = cls(folder, port, server_port, pool_size, process)
        pooler._wait_ready()
        return pooler

    def _wait_ready(self, timeout_s: float = 15) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.folder / "stderr.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"pgbouncer exited ({self.process.returncode}): {err.strip()}")
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on 127.0.0.1:{self.port}; see {self.log}")

    def stop(self, remove: bool = False) -> None:
        """SIGINT (PgBouncer's safe shutdown), then SIGTERM, then SIGKILL; waits for it."""
        if self.process.poll() is None:
            for sig, wait_s in ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                self.process.send_signal(sig)
                try:
                    self.process.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)


def _temp_dir() -> str | None:
    """The folder pgbouncer's folder goes into: /tmp when there (TMPDIR may be private), else the default."""
    return "/tmp" if os.path.isdir("/tmp") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PgBouncer (transaction pooling) in front of 127.0.0.1:PORT")
    parser.add_argument("server_port", type=int, help="the PostgreSQL port on 127.0.0.1")
    parser.add_argument(
        "--pool-size", type=int, default=DEFAULT_POOL_SIZE, help="server connections per database"
    )
    parser.add_argument("--port", type=int, default=None, help="the pooler's port (default: a free one)")
    args = parser.parse_args(argv)
    pooler = Pooler.start(args.server_port, pool_size=args.pool_size, port=args.port)
    print(f"{version()} on 127.0.0.1:{pooler.port} (transaction pooling, {pooler.pool_size} server connections"
          f" per database) in front of 127.0.0.1:{args.server_port}; Ctrl-C stops it", flush=True)  # fmt: skip
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop and pooler.process.poll() is None:
            time.sleep(0.3)
    finally:
        pooler.stop(remove=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
