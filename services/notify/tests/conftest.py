"""notify test setup: the test folder on sys.path for `notify_harness` (importlib
import mode does not add it; the module name is unique in the workspace), and the
real receivers (an SMTP server, an HTTP webhook receiver) as processes."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from notify_harness import (
    NotifyUnderTest,
    SmtpSink,
    WebhookSink,
    start_notify,
    start_smtp_sink,
    start_webhook_sink,
)


@pytest.fixture
def webhook_sink(tmp_path: Path) -> Iterator[WebhookSink]:
    sink = start_webhook_sink(tmp_path)
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = start_smtp_sink(tmp_path)
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
async def notify_service(
    kafka_bootstrap: str, database_url: str, namespace: str, smtp_sink: SmtpSink
) -> AsyncIterator[Callable[..., Any]]:
    """`await notify_service(**settings)`: notify in this process, on the test's topics
    and schema, sending email to `smtp_sink`."""
    started: list[NotifyUnderTest] = []

    async def start(**settings: Any) -> NotifyUnderTest:
        service = await start_notify(
            kafka_bootstrap, database_url, namespace, smtp=smtp_sink, **settings
        )
        started.append(service)
        return service

    yield start
    for s in started:
        await s.close()
