"""The Kafka handler: contracts, SLA and incident events in; deliveries to make out,
written in the consumer's transaction with its offsets. What reaches whom is
`rules.py`.

Set-based per batch: the contracts and incidents (and audiences) a batch needs are
read in one query per table, each event is then decided in memory in partition
order (an event sees what the batch's earlier ones did), and the batch's ungrouped
deliveries, incident rows and audiences are written in one statement each at the end.
Grouped incident notices join their pending groups at the end too, in one statement
(`service.plan_grouped`: only SLA deliveries are read during a batch, by a
correction, which first writes the SLA deliveries planned so far)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from msp_events import Envelope
from msp_events.types.contracts import (
    ContractSnapshot,
    ContractTerminated,
    ContractVersion,
)
from msp_events.types.incidents import IncidentOpened, IncidentResolved, IncidentUpdated
from msp_events.types.sla import (
    SlaBreached,
    SlaEscalated,
    SlaMonthlyReport,
    SlaOutcomeCorrected,
    SlaWarning,
)
from msp_plumbing.consumer import BatchHandler, Tx
from notify import metrics, rules, service
from notify.rules import Directory, Notice, Recipient
from notify.service import GroupedNotice, IncidentKey, IncidentRow, PlannedDelivery
from notify.settings import NotifySettings


def make_batch_handler(settings: NotifySettings) -> BatchHandler:
    def directory(version: ContractVersion | None) -> Directory:
        return rules.directory_for(
            version,
            msp=settings.notify_directory,
            msp_timezone=settings.notify_msp_timezone,
            msp_hours=settings.notify_msp_calendar,
            on_call_role=settings.notify_on_call_role,
        )

    # contracts parsed in earlier batches, by the event that stored them: read again
    # only when the stored one changed (by any instance)
    parsed: service.ParsedContracts = {}

    async def handle_batch(tx: Tx, events: Sequence[Envelope]) -> None:
        batch = _Batch(tx, settings, directory, parsed)
        await batch.load(events)
        for event in events:
            await batch.handle(event)
        await batch.flush()

    return handle_batch


class _Batch:
    """One batch's state: what was read up front, what the batch changed, and the
    writes still to make."""

    def __init__(
        self,
        tx: Tx,
        settings: NotifySettings,
        directory: Callable[[ContractVersion | None], Directory],
        parsed: service.ParsedContracts,
    ) -> None:
        self.parsed = parsed
        # a version's directory (its calendars built), once per batch; the version is
        # kept with it so that its object id is not reused
        self.directories: dict[int, tuple[ContractVersion | None, Directory]] = {}
        self.tx = tx
        self.settings = settings
        self._new_directory = directory
        self.contracts: dict[str, ContractSnapshot] = {}
        self.incidents: dict[IncidentKey, IncidentRow] = {}
        self.told: dict[IncidentKey, list[Recipient]] = {}
        self.changed_incidents: dict[IncidentKey, IncidentRow] = {}
        self.new_audience: list[tuple[IncidentKey, Recipient]] = []
        self.deliveries: list[PlannedDelivery] = []
        self.grouped: list[GroupedNotice] = []
        self.created: Counter[str] = Counter()

    def _directory(self, version: ContractVersion | None) -> Directory:
        known = self.directories.get(id(version))
        if known is None:
            known = self.directories[id(version)] = (version, self._new_directory(version))
        return known[1]

    async def load(self, events: Sequence[Envelope]) -> None:
        conn = self.tx.conn
        customers = sorted({e.customer_id for e in events})
        self.contracts = await service.contracts(conn, customer_ids=customers, parsed=self.parsed)
        lookups = sorted(
            {
                (e.customer_id, e.data.incident_id)
                for e in events
                # an opened one too: a missing site keeps the one known
                if isinstance(e.data, IncidentOpened | IncidentUpdated | IncidentResolved)
            }
        )
        self.incidents = await service.incidents(conn, keys=lookups)
        resolved = sorted(
            {
                (e.customer_id, e.data.incident_id)
                for e in events
                if isinstance(e.data, IncidentResolved)
            }
        )
        told = await service.audiences(conn, keys=resolved)
        self.told = {key: told.get(key, []) for key in resolved}

    async def flush(self) -> None:
        """The batch's pending writes, one statement per table; the counters."""
        conn = self.tx.conn
        self.deliveries += await service.plan_grouped(
            conn, notices=self.grouped, group_window_s=self.settings.group_window_s
        )
        self.grouped = []
        await self._flush_deliveries()
        await service.store_incidents(conn, rows=self.changed_incidents)
        self.changed_incidents = {}
        await service.remember_audiences(conn, rows=self.new_audience)
        self.new_audience = []
        for kind, n in self.created.items():
            metrics.NOTICES.labels(kind).inc(n)
        self.created.clear()

    async def _flush_deliveries(self) -> None:
        inserted = await service.insert_deliveries(self.tx.conn, self.deliveries)
        self.deliveries = []
        self.created.update(r["kind"] for r in inserted)

    # -- one event --------------------------------------------------------------------

    async def handle(self, event: Envelope) -> None:
        tx, data, customer = self.tx, event.data, event.customer_id
        if isinstance(data, ContractSnapshot | ContractTerminated):
            await service.store_contract(
                tx.conn, customer_id=customer, contract=data, event_id=event.id
            )
            self.contracts[customer] = ContractSnapshot(
                contract_id=data.contract_id, versions=data.versions
            )
            return
        version = service.version_at(self.contracts.get(customer), event.time)
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
            await self.plan(
                event, notice, self._directory(version).recipients(data.roles_to_inform)
            )
        elif isinstance(data, SlaOutcomeCorrected):
            notice = rules.correction_notice(
                data,
                customer_id=customer,
                timezone=data.timezone or (version.timezone if version else "UTC"),
            )
            await self._flush_deliveries()  # it reads the deliveries it corrects
            created = await service.plan_corrections(
                tx.conn,
                event_id=event.id,
                event_type=event.type,
                corrects_event_id=data.corrects_event_id,
                notice=notice,
            )
            self.created[notice.kind] += created
            tx.outcomes[event.id] = f"{created} corrections"
        elif isinstance(data, SlaMonthlyReport):
            await self.on_report(event, data)
        elif isinstance(data, IncidentOpened):
            self.store_incident(
                (customer, data.incident_id),
                IncidentRow(data.title, data.priority, data.site_id),
            )
            if data.priority in rules.NOTIFIED_PRIORITIES:
                notice = rules.incident_opened_notice(data, customer_id=customer)
                await self.tell(event, notice, version, data.incident_id)
        elif isinstance(data, IncidentUpdated):
            await self.on_update(event, data, version)
        elif isinstance(data, IncidentResolved):
            await self.on_resolved(event, data)
        else:
            tx.outcomes[event.id] = "not notified"

    def store_incident(self, key: IncidentKey, row: IncidentRow) -> None:
        """As the upsert does: a missing site keeps the one known."""
        known = self.incidents.get(key)
        if row.site_id is None and known is not None:
            row = IncidentRow(row.title, row.priority, known.site_id)
        self.incidents[key] = row
        self.changed_incidents[key] = row

    async def plan(self, event: Envelope, notice: Notice, recipients: list[Recipient]) -> None:
        if notice.group_key is None:
            self.deliveries += service.planned(
                event_id=event.id, event_type=event.type, notice=notice, recipients=recipients
            )
        else:  # grouped at the end of the batch: nothing the batch reads depends on it
            self.grouped.append(GroupedNotice(event.id, event.type, notice, recipients))
        self.tx.outcomes[event.id] = f"{len(recipients)} recipients"

    async def on_report(self, event: Envelope, data: SlaMonthlyReport) -> None:
        """The report to the report roles of the version it names, by email only (it
        is a document: HTML with the CSV attached)."""
        snapshot = self.contracts.get(event.customer_id)
        version = None
        if snapshot is not None:
            version = next(
                (v for v in snapshot.versions if v.version == data.contract_version),
                snapshot.current,
            )
        roles = version.contacts.report_roles if version is not None else []
        recipients = [r for r in self._directory(version).recipients(roles) if r.channel == "email"]
        notice = rules.report_notice(data, customer_id=event.customer_id, at=event.time)
        await self.plan(event, notice, recipients)

    async def tell(
        self, event: Envelope, notice: Notice, version: ContractVersion | None, incident: str
    ) -> None:
        """An incident notice: on call and the contract's incident roles; remembered,
        so they hear when it resolves."""
        roles = [self.settings.notify_on_call_role]
        if version is not None:
            roles += version.contacts.incident_roles
        recipients = self._directory(version).recipients(roles)
        await self.plan(event, notice, recipients)
        key = (event.customer_id, incident)
        self.new_audience += [(key, r) for r in recipients]
        self.told.pop(key, None)  # changed: read again if it resolves in this batch

    async def on_update(
        self, event: Envelope, data: IncidentUpdated, version: ContractVersion | None
    ) -> None:
        key = (event.customer_id, data.incident_id)
        row = self.incidents.get(key)
        if row is None or data.priority is None:
            self.tx.outcomes[event.id] = "not notified"
            return
        self.store_incident(key, IncidentRow(data.title or row.title, data.priority, row.site_id))
        if not rules.escalated(data, row.priority):
            self.tx.outcomes[event.id] = "not notified"
            return
        notice = rules.incident_escalated_notice(
            data,
            customer_id=event.customer_id,
            title=data.title or row.title,
            site_id=row.site_id,
            previous=row.priority,
        )
        await self.tell(event, notice, version, data.incident_id)

    async def on_resolved(self, event: Envelope, data: IncidentResolved) -> None:
        key = (event.customer_id, data.incident_id)
        row = self.incidents.get(key)
        if key not in self.told:  # told in this batch: write it, read it back in order
            await service.remember_audiences(self.tx.conn, rows=self.new_audience)
            self.new_audience = []
            told = await service.audiences(self.tx.conn, keys=[key])
            self.told[key] = told.get(key, [])
        told_list = self.told[key]
        if row is None or not told_list:
            self.tx.outcomes[event.id] = "not notified"
            return
        notice = rules.incident_resolved_notice(
            customer_id=event.customer_id,
            incident_id=data.incident_id,
            title=row.title,
            site_id=row.site_id,
            priority=row.priority,
            resolved_at=data.resolved_at,
            duration_seconds=data.duration_seconds,
            reason=data.reason,
        )
        await self.plan(event, notice, told_list)
