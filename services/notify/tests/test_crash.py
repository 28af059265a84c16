"""A crash between sending and recording (SIGKILL at the crash point), then a restart:
each recipient still has exactly one message per channel (the receiver counts), and
the log shows the attempt the crash left undecided."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from notify_harness import (
    SmtpSink,
    WebhookSink,
    event,
    killed,
    msp_directory,
    prepare,
    smtp_env,
)
from test_delivery import DUE, breach

from msp_devstack.access import operator_headers
from msp_devstack.processes import stop_process_group
from msp_devstack.testkit import produce, service_env, wait_for, wait_for_async
from msp_events.topics import SLA
from msp_events.types.contracts import Contact

pytestmark = pytest.mark.integration


async def test_killed_between_send_and_record_still_one_message_each(
    kafka_bootstrap: str,
    database_url: str,
    namespace: str,
    tmp_path: Path,
    webhook_sink: WebhookSink,
    smtp_sink: SmtpSink,
) -> None:
    schema = await prepare(kafka_bootstrap, database_url, namespace)
    directory = msp_directory(
        service_desk_lead=[
            Contact(name="Sam", email="sdl@msp.example", webhook_url=webhook_sink.url("/ok/sdl"))
        ]
    )
    settings = {
        **smtp_env(smtp_sink),
        "MSP_NOTIFY_DIRECTORY": directory.model_dump_json(),
        "MSP_DELIVERY_LEASE_S": "2",
        "MSP_DELIVERY_POLL_S": "0.05",
    }

    def run(crash: str | None) -> tuple[subprocess.Popen[bytes], str]:
        env = service_env(
            kafka=kafka_bootstrap,
            database_url=database_url,
            schema=schema,
            namespace=namespace,
            crash=crash,
            **settings,
        )
        log = (tmp_path / "notify.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "notify"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return proc, f"http://127.0.0.1:{env['MSP_HTTP_PORT']}"

    await produce(
        kafka_bootstrap,
        f"{namespace}{SLA.name}",
        [event(breach(3, ["service_desk_lead"]), id="b1", at=DUE)],
    )
    first, _ = run("notify.after_send")  # killed after the first send
    try:
        wait_for(lambda: first.poll() is not None, timeout=120, message="the crash point")
    finally:
        stop_process_group(first, "notify", timeout=10)
    assert killed(first), (tmp_path / "notify.log").read_text()[-3000:]

    second, url = run(None)
    headers = await operator_headers(database_url, namespace=namespace)
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:

            async def both_sent() -> list[dict[str, Any]]:
                try:
                    resp = await http.get("/v1/deliveries")
                except httpx.TransportError as exc:  # still starting
                    raise AssertionError(f"not serving yet: {exc!r}") from exc
                assert resp.status_code == 200
                found: list[dict[str, Any]] = resp.json()["deliveries"]
                assert len(found) == 2 and all(d["status"] == "sent" for d in found), found
                return found

            found = await wait_for_async(both_sent, timeout=120, message="both sent")
    finally:
        stop_process_group(second, "notify", timeout=20)

    # the email and the webhook go from two worker loops: the first send to finish
    # killed the process before it was recorded; the other may have been cut too
    logs = {d["channel"]: [a["outcome"] for a in d["attempt_log"]] for d in found}
    assert all(log[-1] == "sent" and set(log[:-1]) <= {"unknown"} for log in logs.values())
    assert any("unknown" in log for log in logs.values()), logs
    stats = webhook_sink.stats()
    assert stats["accepted"] == {"/ok/sdl": 1}  # honouring the Idempotency-Key: one
    mails = smtp_sink.to("sdl@msp.example")
    assert len({m["Message-ID"] for m in mails}) == 1  # one message (a resend: same id)
    # what a cut attempt costs: a repeat the receiver drops (webhook), or a second copy
    # with the same Message-ID (email is at least once); nothing for a recorded send
    assert sum(stats["duplicates"].values()) <= logs["webhook"].count("unknown")
    assert len(mails) - 1 <= logs["email"].count("unknown")
