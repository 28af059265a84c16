"""Token bucket: pure logic with an injected clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from msp_access.ratelimit import TokenBuckets, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=20, clock=clock)
    assert buckets.take("k", 20) == 0
    wait = buckets.take("k", 5)
    assert wait == 0.5
    assert buckets.take("other", 1) == 0  # per key
    clock.now += 0.5
    assert buckets.take("k", 5) == 0
    assert retry_after_header(0.01) == "1" and retry_after_header(2.2) == "3"


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(0.5, 1000),
    burst=st.floats(1, 1000),
    steps=st.lists(st.tuples(st.floats(0, 5), st.floats(0.1, 50)), max_size=40),
)
def test_never_admits_more_than_burst_plus_refill(
    rate: float, burst: float, steps: list[tuple[float, float]]
) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=rate, burst=burst, clock=clock)
    admitted = 0.0
    for dt, cost in steps:
        clock.now += dt
        wait = buckets.take("k", cost)
        if wait == 0:
            admitted += cost
        else:
            assert wait > 0
    assert admitted <= burst + rate * clock.now + 1e-6
