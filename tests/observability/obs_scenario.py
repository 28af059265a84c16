"""A small end-to-end scenario through ingest's HTTP API that gives every dashboard
panel data: two contracts, an Alertmanager storm (one incident and its proactive
ticket), a flapping check, PSA tickets (one waiting on the customer, one breaching its
SLA, and escalating past it, once later events advance event time; the contracts,
starting in January, get their monthly SLA reports), time entries of every classification (one
held for review, one scope creep, one waiting for a contract), an invoice run, a
rejected request and a garbage record on a raw topic (dead letter). Event time is
March 2026; London office hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx

from msp_devstack.fleet import Fleet
from msp_devstack.processes import run_sync
from msp_devstack.testkit import produce, wait_for
from msp_events import Envelope, make_event
from msp_events.base import EventData
from msp_events.samples import sample_contract_version
from msp_events.serde import to_json_obj
from msp_events.topics import RAW_MONITORING
from msp_events.types.change_orders import ChangeOrderApproved
from msp_events.types.contracts import ContractSnapshot, EscalationStep
from msp_events.types.monitoring import AlertFiring, AlertResolved
from msp_events.types.tickets import TicketCreated, TicketStatusChanged, TimeLogged

BATCH = "application/cloudevents-batch+json"


class Story:
    """The scenario's events for one round: `tag` names its customers and ids, `t0`
    (a weekday 10:00 UTC, London office hours) anchors its event times."""

    def __init__(self, tag: str, t0: datetime) -> None:
        self.tag = tag
        self.t0 = t0
        self.managed = f"obs-{tag}-managed"
        self.on_demand = f"obs-{tag}-ondemand"
        self.no_contract = f"obs-{tag}-nocontract"  # billing holds its work until a contract

    @property
    def customers(self) -> list[str]:
        return [self.managed, self.on_demand, self.no_contract]

    def at(self, minutes: float) -> datetime:
        return self.t0 + timedelta(minutes=minutes)

    def event(self, customer: str, data: EventData, when: datetime, id: str) -> Envelope:
        subject = getattr(data, "ticket_id", None)
        return make_event(
            data,
            customer_id=customer,
            source="/obs/psa",
            time=when,
            id=f"obs-{self.tag}-{id}",
            subject=subject,
        )

    def contracts(self) -> list[Envelope]:
        managed = sample_contract_version()  # London, office hours, P1 24x7, flat fee
        # a step above 100 %: T-BREACH escalates after its breach (the escalation panel)
        beyond = EscalationStep(threshold_percent=150, level=4, roles_to_inform=["account_manager"])
        managed = managed.model_copy(update={"escalation_plan": [*managed.escalation_plan, beyond]})
        on_demand = managed.model_copy(update={"tier": "on_demand", "flat_fee": None})
        start = managed.effective_from
        first = ContractSnapshot(contract_id=f"ctr-{self.tag}-1", versions=[managed])
        second = ContractSnapshot(contract_id=f"ctr-{self.tag}-2", versions=[on_demand])
        return [
            self.event(self.managed, first, start, "contract-managed"),
            self.event(self.on_demand, second, start, "contract-ondemand"),
        ]

    def change_order(self) -> Envelope:
        data = ChangeOrderApproved(
            change_order_id="CO-OBS-1",
            ticket_ids=["T-PROJ"],
            scope="new file server",
            approved_by="cfo@obs.example",
            approved_at=self.t0 - timedelta(days=1),
        )
        return self.event(self.managed, data, self.t0 - timedelta(days=1), "co-1")

    def tickets(self) -> list[Envelope]:
        """T-BREACH (P1, 24x7: warned at 75 and 90 %, breached at 15 minutes without a
        response, escalated at 150 %), T-WAIT (P3, paused: waiting on the customer),
        T-RUN (P2, running)."""
        out = []
        for ticket, priority in (("T-BREACH", "P1"), ("T-WAIT", "P3"), ("T-RUN", "P2")):
            data = TicketCreated(
                ticket_id=ticket,
                title=f"{ticket} reported by phone",
                priority=priority,  # type: ignore[arg-type]
                category="help_desk",
                source="phone",
                opened_at=self.t0,
            )
            out.append(self.event(self.managed, data, self.t0, f"{ticket}-created"))
        waiting = TicketStatusChanged(
            ticket_id="T-WAIT",
            status="waiting_on_customer",
            previous_status="new",
            changed_at=self.at(5),
        )
        out.append(self.event(self.managed, waiting, self.at(5), "T-WAIT-waiting"))
        return out

    def time_entries(self) -> list[Envelope]:
        """One entry per classification, and one for a customer without a contract;
        they end at 12:00, which moves sla-clock's event time past T-BREACH's
        deadlines."""

        def entry(customer: str, n: int, ticket: str, category: str, **kw: Any) -> Envelope:
            data = TimeLogged(
                entry_id=f"TE-{n}",
                ticket_id=ticket,
                technician_id="tech-obs",
                started_at=self.at(60),
                ended_at=self.at(120),
                work_category=category,
                **kw,
            )
            return self.event(customer, data, self.at(120), f"te-{n}")

        return [
            entry(self.managed, 1, "T-RUN", "help_desk"),  # covered
            entry(self.managed, 2, "T-PROJ", "installation", change_order_id="CO-OBS-1"),
            entry(self.managed, 3, "T-CREEP", "upgrade"),  # scope creep: no change order
            entry(self.managed, 4, "T-RUN", "help_desk", warranty_claim_ref="RMA-OBS-1"),
            entry(self.managed, 5, "T-RUN", "gardening"),  # held for review: unclassified
            entry(self.on_demand, 6, "T-OD", "help_desk"),  # on demand
            entry(self.no_contract, 7, "T-NC", "help_desk"),  # awaiting a contract
        ]

    def flapping(self) -> list[Envelope]:
        """fire, resolve, fire, ... every 30 s: 8 state changes in 4 minutes (> 4 in 10)."""
        out = []
        for i in range(8):
            common: dict[str, Any] = {
                "source_system": "rmm",
                "source_fingerprint": "obs-nas-ping",
                "device_id": "nas-1",
                "site_id": "site-branch",
                "check": "ping",
                "check_kind": "device_offline",
            }
            when = self.at(20 + i * 0.5)
            data: EventData
            if i % 2 == 0:
                data = AlertFiring(
                    **common, severity="major", summary="nas-1 not answering ping", starts_at=when
                )
            else:
                data = AlertResolved(**common, ends_at=when)
            out.append(self.event(self.managed, data, when, f"flap-{i}"))
        return out

    def alertmanager_storm(self) -> dict[str, Any]:
        """Five devices of one site go offline together: one incident, one proactive
        ticket."""
        alerts = [
            {
                "status": "firing",
                "labels": {
                    "alertname": "DeviceOffline",
                    "customer": self.managed,
                    "instance": f"ws-{i:02d}",
                    "site": "site-hq",
                    "severity": "critical",
                    "check_kind": "device_offline",
                },
                "annotations": {"summary": f"ws-{i:02d} is offline"},
                "startsAt": (self.t0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.obs.example/graph",
                "fingerprint": f"obs-storm-{i:02d}",
            }
            for i in range(5)
        ]
        return {
            "receiver": "msp-ingest",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {"site": "site-hq"},
            "commonLabels": {"customer": self.managed, "site": "site-hq"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.obs.example",
            "version": "4",
            "groupKey": '{}:{site="site-hq"}',
            "truncatedAlerts": 0,
        }


class Scenario:
    """Drives one `Story` through the fleet: ingest's HTTP API (CloudEvents and the
    Alertmanager webhook), a raw topic, and billing's invoice-run API."""

    def __init__(self, fleet: Fleet, story: Story, *, kafka: str, database_url: str) -> None:
        self.fleet = fleet
        self.story = story
        self.kafka = kafka
        self.database_url = database_url
        self.key = fleet.create_api_key(source="obs-psa", customers=story.customers)
        self.ingest = httpx.Client(base_url=fleet.url("ingest"), timeout=30)

    def close(self) -> None:
        self.ingest.close()

    def post(self, events: Sequence[Envelope]) -> None:
        body = [to_json_obj(e) for e in events]
        r = self.ingest.post(
            "/v1/events",
            json=body,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": BATCH},
        )
        assert r.status_code == 202, r.text

    def count(self, service: str, sql: str, customers: list[str]) -> int:
        async def query() -> int:
            conn = await asyncpg.connect(self.database_url)
            try:
                schema = self.fleet.schema(service)
                sql_in_schema = sql.replace("{schema}", f'"{schema}"')
                return int(await conn.fetchval(sql_in_schema, customers))
            finally:
                await conn.close()

        return run_sync(query)

    def contracts_stored(self) -> bool:
        sql = "SELECT count(*) FROM {schema}.contracts WHERE customer_id = ANY($1::text[])"
        mine = [self.story.managed, self.story.on_demand]
        return self.count("sla-clock", sql, mine) == 2 and self.count("billing", sql, mine) == 2

    def line_items(self) -> int:
        sql = "SELECT count(*) FROM {schema}.line_items WHERE customer_id = ANY($1::text[])"
        return self.count("billing", sql, [self.story.managed, self.story.on_demand])

    def run(self) -> None:
        story = self.story
        self.post(story.contracts())
        # contracts first, so alerts and tickets meet a known customer everywhere
        wait_for(
            self.contracts_stored,
            timeout=120,
            interval=0.5,
            message="contracts stored by sla-clock and billing",
        )
        self.post([story.change_order(), *story.tickets()])
        r = self.ingest.post(
            "/v1/integrations/alertmanager",
            json=story.alertmanager_storm(),
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert r.status_code == 202, r.text
        self.post(story.flapping())
        self.post(story.time_entries())
        # a request without a key: refused as a whole (ingest's rejection panel)
        assert self.ingest.post("/v1/events", json=[]).status_code == 401
        # an undecodable record on a raw topic: dead-lettered by ingest's raw consumer
        run_sync(
            lambda: produce(
                self.kafka,
                self.fleet.topic(RAW_MONITORING.name),
                raw=[(story.managed.encode(), b"{not json")],
            )
        )
        wait_for(
            lambda: self.line_items() >= 6,
            timeout=120,
            interval=0.5,
            message="six time entries classified by billing",
        )
        billing = httpx.post(
            self.fleet.url("billing") + "/v1/invoice-runs",
            json={"period": "2026-03"},
            timeout=60,
            headers=self.fleet.operator_headers(),
        )
        assert billing.status_code == 200, billing.text
        outcomes = {o["customer_id"]: o["outcome"] for o in billing.json()["outcomes"]}
        assert outcomes.get(story.managed) == "issued", outcomes
