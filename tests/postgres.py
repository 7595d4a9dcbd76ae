"""A real PostgreSQL server for the tests, started and stopped by them: Debian's `postgresql`
package (`initdb` and `pg_ctl` from /usr/lib/postgresql/<version>/bin), a cluster in a temporary
folder, trust authentication on 127.0.0.1 and a free port. As root the server runs as the
`postgres` user (PostgreSQL refuses to run as root). Where the package is missing the tests that
need it are skipped with that reason, unless STUDIO_REQUIRE_POSTGRES=1 (CI), where they fail."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from servers import free_port

SUPERUSER = "postgres"


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's versioned folder (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(folders[-1]) if folders and (Path(folders[-1]) / "initdb").exists() else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SUPERUSER, "--", *command]


@dataclass
class PostgresServer:
    root: Path
    port: int
    bin: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on the server; its SQLAlchemy URL."""
        import psycopg

        name = "studio_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
                                        "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb + pg_ctl start in a new temporary folder (outside pytest's 0700 tmp, which the
    `postgres` user could not enter)."""
    folder = postgres_bin()
    if folder is None:
        raise FileNotFoundError("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")
    root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER, SUPERUSER)
    port = free_port()
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    subprocess.run(_as_server_user([str(folder / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER,
                                    "-A", "trust", "--no-sync", "-E", "UTF8"]), **run)
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off "
               f"-c full_page_writes=off -c max_connections=100 -c shared_buffers=32MB")
    try:
        subprocess.run(_as_server_user([str(folder / "pg_ctl"), "-D", str(root / "data"), "-l",
                                        str(root / "server.log"), "-o", options, "-w", "-t", "60", "start"]), **run)
    except subprocess.CalledProcessError as err:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {err.stderr}\n{log}") from err
    return PostgresServer(root, port, folder)
