"""Supervision of a service's background loops (relays, consumers, schedulers, claim
workers): one mechanism, used by `ServiceRuntime.spawn_task` and open to any service.

Rules:
* A transient error (`is_transient`: Postgres connection lost, admin shutdown, cannot
  connect now, a released connection; OSError; Kafka connection, leader and timeout
  errors) restarts the loop after a bounded exponential backoff with jitter. The loop
  recovers on its own once its dependency answers again.
* A loop that keeps failing for `give_up_after_s` (default 300 s) or raises anything
  else has died for good: the supervisor records the failure (`/healthz` and `/readyz`
  turn 503) and calls `on_fatal`, which `msp_plumbing.app.serve` wires to end the
  process with a non-zero exit code, so the orchestrator restarts it.
* `/readyz` is red while a loop has been in backoff for more than `not_ready_after_s`
  (default 5 s); green again as soon as it runs.
* A loop that ran `stable_after_s` without failing starts its backoff from the bottom.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,  # connection lost / does not exist
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # e.g. a connection released by a dead pool
    # "cannot switch to state ...; another operation is in progress": a pooled
    # connection left mid-query by work abandoned while Postgres went away (its release
    # terminates it, so the retry gets a fresh one)
    asyncpg.exceptions.InternalClientError,
    KafkaConnectionError,
    KafkaTimeoutError,
)
"""Errors a dependency's restart or failover produces; retried, never fatal at once."""


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: `TRANSIENT_ERRORS`, Kafka errors the client marks
    `retriable` (not leader, leader not available, request timed out, node not ready,
    no brokers...), and groups made only of those."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_transient(e) for e in exc.exceptions)
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    return isinstance(exc, KafkaError) and bool(exc.retriable)


async def within(work: Awaitable[T], seconds: float) -> T:
    """`await work` with a deadline that holds even when cancelling the work does not:
    asyncpg cannot cancel a query on a frozen server until it answers, so
    `asyncio.timeout` would wait as long as the freeze. Past the deadline the work is
    cancelled and abandoned, and TimeoutError raised."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise TimeoutError(f"no answer within {seconds:g} s")
    return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(base, min(cap,
    base * 2**n)) seconds."""

    base_s: float = 0.2
    cap_s: float = 5.0

    def delay(self, attempt: int) -> float:
        upper = min(self.cap_s, self.base_s * (2 ** min(attempt, 30)))
        return random.uniform(self.base_s, max(self.base_s, upper))


@dataclass
class TaskHealth:
    """What the supervisor knows about one loop."""

    name: str
    state: str = "starting"  # running | retrying | done | failed
    failing_since: float | None = None  # monotonic time of the first failure in a row
    last_error: BaseException | None = None
    restarts: int = 0

    def problem(self, not_ready_after_s: float) -> str | None:
        """Why this loop makes the service not ready, or None."""
        if self.state == "failed":
            return f"{self.name} died: {self.last_error!r}"
        if self.state == "retrying" and self.failing_since is not None:
            failing = time.monotonic() - self.failing_since
            if failing > not_ready_after_s:
                return f"{self.name} retrying for {failing:.0f} s: {self.last_error!r}"
        return None


class LogThrottle:
    """One log line per key per `every_s`, with the count of lines held back."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None: hold this line back; else log it, the int saying how many were held."""
        now = time.monotonic()
        if now < self._next.get(key, 0.0):
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._next[key] = now + self.every_s
        return self._held.pop(key, 0)


@dataclass
class Supervisor:
    on_fatal: Callable[[str, BaseException], None]
    backoff: Backoff = field(default_factory=Backoff)
    give_up_after_s: float = 300.0
    not_ready_after_s: float = 5.0
    stable_after_s: float = 10.0
    health: dict[str, TaskHealth] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _throttle: LogThrottle = field(default_factory=LogThrottle)

    def spawn(self, name: str, loop: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run `loop()` supervised; it is called again for every restart."""
        health = self.health[name] = TaskHealth(name)
        task = asyncio.create_task(self._supervise(health, loop), name=name)
        self.tasks.append(task)
        return task

    def problems(self) -> list[str]:
        found = (h.problem(self.not_ready_after_s) for h in self.health.values())
        return [p for p in found if p is not None]

    async def _supervise(self, health: TaskHealth, loop: Callable[[], Awaitable[None]]) -> None:
        attempt = 0
        while True:
            health.state = "running"
            began = time.monotonic()
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                now = time.monotonic()
                if now - began >= self.stable_after_s:  # it had recovered: a new outage
                    health.failing_since, attempt = None, 0
                if health.failing_since is None:
                    health.failing_since = now
                health.last_error = exc
                if not is_transient(exc):
                    self._fail(health, exc, "failed")
                    return
                if now - health.failing_since > self.give_up_after_s:
                    self._fail(health, exc, f"kept failing for {self.give_up_after_s:.0f} s")
                    return
                delay = self.backoff.delay(attempt)
                attempt += 1
                health.restarts += 1
                health.state = "retrying"
                held = self._throttle.allow(f"{health.name}:{type(exc).__name__}")
                if held is not None:
                    log.warning(
                        "%s: transient error, restarting in %.1f s: %r",
                        health.name,
                        delay,
                        exc,
                        extra={"task": health.name, "suppressed": held},
                    )
                await asyncio.sleep(delay)
            else:
                health.state = "done"
                health.failing_since = None
                return
            finally:
                if health.state == "running":  # cancelled while running
                    health.state = "done"

    def _fail(self, health: TaskHealth, exc: BaseException, why: str) -> None:
        health.state = "failed"
        log.error("background task %s %s: %r", health.name, why, exc, exc_info=exc)
        self.on_fatal(health.name, exc)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every loop and wait at most `timeout_s` for them to finish."""
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=timeout_s)
            for task in pending:
                log.warning("background task %s did not stop in %.0f s", task.get_name(), timeout_s)
        self.tasks.clear()
