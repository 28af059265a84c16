"""Wiring: settings -> runtime -> FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from msp_plumbing.app import create_app
from sla_clock.runtime import SlaRuntime
from sla_clock.settings import SlaSettings
from sla_clock.timesource import Now
from sla_clock.views import router


def build_app(settings: SlaSettings, *, clock: Now | None = None) -> tuple[FastAPI, SlaRuntime]:
    runtime = SlaRuntime(settings, clock=clock)
    return create_app(runtime=runtime, title="sla-clock", routers=[router]), runtime
