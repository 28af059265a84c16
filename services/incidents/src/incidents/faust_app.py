"""Builds the Faust app of the service from its settings (at start-up, never at import):
at-least-once processing (no exactly-once mode, faust #323/#517), in-memory tables with
changelog topics, every name under the settings' topic namespace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from incidents.agents import triage_agent
from incidents.settings import IncidentsSettings
from incidents.sink import Sink
from incidents.tables import contracts_table, triage_table
from incidents.timers import wall_clock_timer
from incidents.worker import TriageWorker
from msp_events.topics import CONTRACTS, MONITORING, PARTITIONS


@dataclass
class FaustParts:
    app: faust.App
    worker: TriageWorker
    agent: Any


def build_faust_app(
    settings: IncidentsSettings, sink: Sink, *, wait_for_changelog: bool = True
) -> FaustParts:
    """`wait_for_changelog=False` only for Faust's test_context(), which has no broker."""
    ns = settings.topic_namespace
    app = faust.App(
        f"{ns}{settings.service_name}",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        store="memory://",
        datadir=settings.faust_datadir,
        web_enabled=False,
        autodiscover=False,
        topic_replication_factor=1,
        topic_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_max_request_size=4_000_000,
        broker_session_timeout=settings.faust_session_timeout_s,
        # offsets are committed by the agent once a batch is durable (agents.py)
        broker_commit_interval=3600.0,
        broker_commit_every=1_000_000_000,
        broker_heartbeat_interval=min(3.0, settings.faust_session_timeout_s / 3),
    )
    topic = app.topic(
        MONITORING.named(ns),
        CONTRACTS.named(ns),
        key_serializer="raw",
        value_serializer="raw",
    )
    states, contracts = triage_table(app), contracts_table(app)

    async def durable() -> None:
        await states.durable()
        await contracts.durable()

    worker = TriageWorker(
        states=states,
        contracts=contracts,
        durable=durable if wait_for_changelog else None,
        sink=sink,
        cfg=settings.triage_config(),
        namespace=ns,
        group=f"{ns}{settings.service_name}",
    )
    agent = triage_agent(
        app,
        topic,
        worker,
        batch_max=settings.faust_batch_max,
        within=settings.faust_batch_within_s,
        commit=wait_for_changelog,
    )
    if settings.wall_clock_tick_s > 0:
        wall_clock_timer(app, worker, interval_s=settings.wall_clock_tick_s)
    return FaustParts(app, worker, agent)
