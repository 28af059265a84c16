"""Failpoints for crash tests: the process kills itself (SIGKILL, no cleanup) at a
named step, so tests can prove that a crash between two steps loses and duplicates
nothing. Set ``MSP_CRASH_POINT=name`` (first hit) or ``name:N`` (N-th hit). Unset in
production, where a check costs one dict lookup."""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("MSP_CRASH_POINT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
