"""The Kafka handler: contracts, SLA and incident events in; deliveries to make out,
written in the consumer's transaction with its offsets (`service.plan`). What reaches
whom is `rules.py`."""

from __future__ import annotations

from msp_events import Envelope
from msp_events.types.contracts import ContractSnapshot, ContractTerminated, ContractVersion
from msp_events.types.incidents import IncidentOpened, IncidentResolved, IncidentUpdated
from msp_events.types.sla import (
    SlaBreached,
    SlaEscalated,
    SlaMonthlyReport,
    SlaOutcomeCorrected,
    SlaWarning,
)
from msp_plumbing.consumer import Handler, Tx
from notify import metrics, rules, service
from notify.rules import Directory, Notice, Recipient
from notify.settings import NotifySettings


def make_handler(settings: NotifySettings) -> Handler:
    def directory(version: ContractVersion | None) -> Directory:
        return rules.directory_for(
            version,
            msp=settings.notify_directory,
            msp_timezone=settings.notify_msp_timezone,
            msp_hours=settings.notify_msp_calendar,
            on_call_role=settings.notify_on_call_role,
        )

    async def plan(tx: Tx, event: Envelope, notice: Notice, recipients: list[Recipient]) -> None:
        created = await service.plan(
            tx.conn,
            event_id=event.id,
            event_type=event.type,
            notice=notice,
            recipients=recipients,
            group_window_s=settings.group_window_s,
        )
        metrics.NOTICES.labels(notice.kind).inc(created)
        tx.outcomes[event.id] = f"{len(recipients)} recipients"

    async def handle(tx: Tx, event: Envelope) -> None:
        data = event.data
        customer = event.customer_id
        if isinstance(data, ContractSnapshot | ContractTerminated):
            await service.store_contract(
                tx.conn, customer_id=customer, contract=data, event_id=event.id
            )
            return
        version = await service.contract_version(tx.conn, customer_id=customer, at=event.time)
        if isinstance(data, SlaWarning | SlaBreached | SlaEscalated):
            threshold = 100 if isinstance(data, SlaBreached) else data.threshold_percent
            notice = rules.sla_notice(
                data,
                customer_id=customer,
                # the clock's own zone (sla-clock sends it), else the contract's
                timezone=data.timezone or (version.timezone if version else "UTC"),
                threshold_percent=threshold,
                at=data.breached_at if isinstance(data, SlaBreached) else data.at,
            )
            await plan(tx, event, notice, directory(version).recipients(data.roles_to_inform))
        elif isinstance(data, SlaOutcomeCorrected):
            notice = rules.correction_notice(
                data,
                customer_id=customer,
                timezone=data.timezone or (version.timezone if version else "UTC"),
            )
            created = await service.plan_corrections(
                tx.conn,
                event_id=event.id,
                event_type=event.type,
                corrects_event_id=data.corrects_event_id,
                notice=notice,
            )
            metrics.NOTICES.labels(notice.kind).inc(created)
            tx.outcomes[event.id] = f"{created} corrections"
        elif isinstance(data, SlaMonthlyReport):
            await on_report(tx, event, data)
        elif isinstance(data, IncidentOpened):
            await service.store_incident(
                tx.conn,
                customer_id=customer,
                incident_id=data.incident_id,
                title=data.title,
                priority=data.priority,
                site_id=data.site_id,
            )
            if data.priority in rules.NOTIFIED_PRIORITIES:
                notice = rules.incident_opened_notice(data, customer_id=customer)
                await tell(tx, event, notice, version, data.incident_id)
        elif isinstance(data, IncidentUpdated):
            await on_update(tx, event, data, version)
        elif isinstance(data, IncidentResolved):
            await on_resolved(tx, event, data)
        else:
            tx.outcomes[event.id] = "not notified"

    async def on_report(tx: Tx, event: Envelope, data: SlaMonthlyReport) -> None:
        """The report to the report roles of the version it names, by email only (it
        is a document: HTML with the CSV attached)."""
        snapshot = await service.contract(tx.conn, customer_id=event.customer_id)
        version = None
        if snapshot is not None:
            version = next(
                (v for v in snapshot.versions if v.version == data.contract_version),
                snapshot.current,
            )
        roles = version.contacts.report_roles if version is not None else []
        recipients = [r for r in directory(version).recipients(roles) if r.channel == "email"]
        notice = rules.report_notice(data, customer_id=event.customer_id, at=event.time)
        await plan(tx, event, notice, recipients)

    async def tell(
        tx: Tx, event: Envelope, notice: Notice, version: ContractVersion | None, incident: str
    ) -> None:
        """An incident notice: on call and the contract's incident roles; remembered,
        so they hear when it resolves."""
        roles = [settings.notify_on_call_role]
        if version is not None:
            roles += version.contacts.incident_roles
        recipients = directory(version).recipients(roles)
        await plan(tx, event, notice, recipients)
        await service.remember_audience(
            tx.conn, customer_id=event.customer_id, incident_id=incident, recipients=recipients
        )

    async def on_update(
        tx: Tx, event: Envelope, data: IncidentUpdated, version: ContractVersion | None
    ) -> None:
        row = await service.incident(
            tx.conn, customer_id=event.customer_id, incident_id=data.incident_id
        )
        if row is None or data.priority is None:
            tx.outcomes[event.id] = "not notified"
            return
        await service.store_incident(
            tx.conn,
            customer_id=event.customer_id,
            incident_id=data.incident_id,
            title=data.title or row["title"],
            priority=data.priority,
            site_id=row["site_id"],
        )
        if not rules.escalated(data, row["priority"]):
            tx.outcomes[event.id] = "not notified"
            return
        notice = rules.incident_escalated_notice(
            data,
            customer_id=event.customer_id,
            title=data.title or row["title"],
            site_id=row["site_id"],
            previous=row["priority"],
        )
        await tell(tx, event, notice, version, data.incident_id)

    async def on_resolved(tx: Tx, event: Envelope, data: IncidentResolved) -> None:
        row = await service.incident(
            tx.conn, customer_id=event.customer_id, incident_id=data.incident_id
        )
        told = await service.audience(
            tx.conn, customer_id=event.customer_id, incident_id=data.incident_id
        )
        if row is None or not told:
            tx.outcomes[event.id] = "not notified"
            return
        notice = rules.incident_resolved_notice(
            customer_id=event.customer_id,
            incident_id=data.incident_id,
            title=row["title"],
            site_id=row["site_id"],
            priority=row["priority"],
            resolved_at=data.resolved_at,
            duration_seconds=data.duration_seconds,
            reason=data.reason,
        )
        await plan(tx, event, notice, told)

    return handle
