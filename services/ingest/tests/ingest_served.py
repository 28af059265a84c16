"""ingest on a real socket (uvicorn in the test's event loop, the app `python -m ingest`
serves), for third-party clients that speak HTTP themselves: the PagerDuty libraries
(whose `pagerduty` client insists on https, hence the optional self-signed TLS) and a
real Alertmanager."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn

from ingest.runtime import IngestRuntime, serving_app
from msp_devstack.processes import LOOPBACK, free_port
from msp_devstack.testkit import wait_for_async


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, made with the openssl command line tool."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("no `openssl` on PATH: it makes the test server's certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={LOOPBACK}",
            "-addext",
            f"subjectAltName=IP:{LOOPBACK}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@asynccontextmanager
async def served(
    runtime: IngestRuntime, *, tls: tuple[Path, Path] | None = None
) -> AsyncIterator[str]:
    """The base URL of `runtime` (already started) served on a free port."""
    port = free_port()
    config = uvicorn.Config(
        serving_app(runtime),
        host=LOOPBACK,
        port=port,
        lifespan="off",  # the runtime is the fixture's, already started
        log_config=None,
        access_log=False,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_for_async(lambda: server.started, timeout=30, message="uvicorn did not start")
        yield f"{'https' if tls else 'http'}://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        await task
