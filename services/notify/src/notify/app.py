"""Wiring: settings -> runtime -> FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from msp_plumbing.app import create_app
from notify.runtime import NotifyRuntime
from notify.settings import NotifySettings
from notify.views import router


def build_app(settings: NotifySettings) -> tuple[FastAPI, NotifyRuntime]:
    runtime = NotifyRuntime(settings)
    return create_app(runtime=runtime, title="notify", routers=[router]), runtime
