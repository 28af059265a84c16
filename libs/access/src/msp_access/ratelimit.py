"""Per-credential token bucket: `rate` events per second refill, `burst` tokens at most.

Costs are counted in events (a batch of 500 costs 500), so a key cannot side-step the
limit by batching. The buckets live in this process: with N instances behind a load
balancer a key gets up to N x the configured rate. That is deliberate (no shared
store on the hot path); size the limit per instance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(
        self, *, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens: returns 0 when allowed, else the seconds to wait before
        retrying (nothing is taken then). A cost above `burst` can never pass: the
        caller must reject it as too large instead."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds; never 0 (that would invite a busy loop)."""
    return str(max(1, math.ceil(wait_s)))
