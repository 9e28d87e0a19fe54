"""Azurite, Microsoft's Azure Storage emulator, as a pytest fixture: a blob service on
127.0.0.1 and a free port, in memory, started for the test module and stopped by its own
process id at the end.

The ``azurite-blob`` program is found in ``$SSISRUN_AZURITE``, on ``PATH``, or in
``<repo>/.ci-node/node_modules/.bin/azurite-blob`` (where ``.ci/run`` installs it with
``npm install --prefix .ci-node azurite``); without one, the tests that use the fixture skip
and say how to get it. Azurite's telemetry is switched off: no traffic leaves loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ACCOUNT = "devstoreaccount1"
KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
       "K1SZFPTOtr/KBHBeksoGMGw==")


def azurite_binary() -> str | None:
    """The azurite-blob program to run, or None."""
    explicit = os.environ.get("SSISRUN_AZURITE", "").strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("azurite-blob")
    if found:
        return found
    local = REPO / ".ci-node" / "node_modules" / ".bin" / "azurite-blob"
    return str(local) if os.access(local, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Azurite:
    """A running Azurite blob service."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self, key: str = KEY, account: str = ACCOUNT) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
                f"BlobEndpoint={self.endpoint};")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def start_azurite(workspace: Path) -> Azurite:
    binary = azurite_binary()
    if binary is None:
        pytest.skip("Azurite (the Azure Storage emulator) is not installed: "
                    "npm install --prefix .ci-node azurite, or set SSISRUN_AZURITE to an "
                    "azurite-blob program")
    workspace.mkdir(parents=True, exist_ok=True)
    last = ""
    for _ in range(3):  # another process may take the free port before Azurite does
        port = _free_port()
        log = workspace / f"azurite-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                 "--inMemoryPersistence", "--skipApiVersionCheck", "--loose",
                 "--disableTelemetry", "--silent"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=workspace, start_new_session=True)
        server = Azurite(port, process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return server
            except OSError:
                time.sleep(0.05)
        server.stop()
        last = log.read_text(errors="replace")[-2000:]
    pytest.fail(f"Azurite did not start listening on 127.0.0.1: {last}")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()
