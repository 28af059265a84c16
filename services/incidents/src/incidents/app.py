"""The FastAPI app of the service, built from settings at start-up."""

from __future__ import annotations

from fastapi import FastAPI

from incidents.runtime import IncidentsRuntime
from incidents.settings import IncidentsSettings
from incidents.views import router
from msp_plumbing.app import create_app


def build(settings: IncidentsSettings | None = None) -> tuple[FastAPI, IncidentsRuntime]:
    runtime = IncidentsRuntime(settings or IncidentsSettings())
    return create_app(runtime=runtime, title="incidents", routers=[router]), runtime
