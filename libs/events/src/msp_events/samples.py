"""Realistic, valid, deterministic sample events: one per event type.

Used by tests (round trips through Kafka and serde, docs examples) and by anyone who
needs a well-formed event to start from. Everything is fixed: ids are derived, times are
constants, so two calls return equal events. The samples tell one story: customer
``cust-acme`` (a managed customer in London) has a backup failure on its domain
controller one night in March 2026, which becomes an incident, a proactive ticket, SLA
clock events, some project work under a change order, and the month's invoice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from msp_events.base import EventData
from msp_events.envelope import Envelope
from msp_events.serde import derive_event_id, make_event
from msp_events.types.billing import (
    CreditNoteIssued,
    InvoiceIssued,
    InvoiceLine,
    LineItemReclassified,
    LineItemRecorded,
)
from msp_events.types.change_orders import (
    ChangeOrderApproved,
    ChangeOrderOverrunApproved,
    ChangeOrderRejected,
)
from msp_events.types.contracts import (
    BusinessCalendar,
    Contact,
    ContactDirectory,
    ContractSnapshot,
    ContractTerminated,
    ContractVersion,
    EscalationStep,
    ExcludedAsset,
    FlatFee,
    Holiday,
    MaintenanceWindow,
    MonitoringCoverage,
    Rates,
    SlaPolicy,
    SlaTarget,
    TimeRange,
)
from msp_events.types.deadletter import DeadLetterRecorded, dead_letter_customer_id
from msp_events.types.finance import AccountingDocumentPrepared
from msp_events.types.incidents import IncidentOpened, IncidentResolved, IncidentUpdated
from msp_events.types.inventory import Asset, InventorySnapshot
from msp_events.types.monitoring import (
    AlertFiring,
    AlertResolved,
    Heartbeat,
    MaintenanceCancelled,
    MaintenanceScheduled,
    MaintenanceScope,
)
from msp_events.types.sla import (
    SlaBreached,
    SlaClockCancelled,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaEscalated,
    SlaMet,
    SlaMonthlyReport,
    SlaOutcomeCorrected,
    SlaReportAvailability,
    SlaReportBreach,
    SlaReportLine,
    SlaWarning,
)
from msp_events.types.tickets import (
    TicketAssigned,
    TicketClosed,
    TicketCommentAdded,
    TicketCreated,
    TicketPriorityChanged,
    TicketReopened,
    TicketResolved,
    TicketStatusChanged,
    TimeLogged,
)

CUSTOMER_ID = "cust-acme"
CONTRACT_ID = "ctr-acme-managed"
DEVICE_ID = "srv-dc01"
SITE_ID = "site-london"
TICKET_ID = "TKT-10421"
INCIDENT_ID = "inc-7f3a9c"
ALERT_FINGERPRINT = "4c1e2d9b7a3f6e10"
CHANGE_ORDER_ID = "CO-2026-014"


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """An instant in 2026, UTC (March by default: London is on GMT until the 29th)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# England & Wales bank holidays 2026 (Boxing Day falls on a Saturday: substitute Monday).
UK_BANK_HOLIDAYS_2026: tuple[tuple[date, str], ...] = (
    (date(2026, 1, 1), "New Year's Day"),
    (date(2026, 4, 3), "Good Friday"),
    (date(2026, 4, 6), "Easter Monday"),
    (date(2026, 5, 4), "Early May bank holiday"),
    (date(2026, 5, 25), "Spring bank holiday"),
    (date(2026, 8, 31), "Summer bank holiday"),
    (date(2026, 12, 25), "Christmas Day"),
    (date(2026, 12, 28), "Boxing Day (substitute day)"),
)


def sample_contract_version() -> ContractVersion:
    """A realistic managed contract, version 1, effective 2026-01-01 (Europe/London):
    office hours Mon-Fri 08:00-18:00, UK bank holidays 2026, P1..P5 targets (P1 24x7),
    per-user flat fee and hourly project rates in GBP."""
    office_hours = [TimeRange(start=time(8, 0), end=time(18, 0))]
    return ContractVersion(
        version=1,
        effective_from=at(1, 0, month=1),  # midnight in London: GMT in January
        tier="managed",
        timezone="Europe/London",
        calendar=BusinessCalendar(
            weekly_hours={day: office_hours for day in ("mon", "tue", "wed", "thu", "fri")},
            holidays=[Holiday(date=d, name=name) for d, name in UK_BANK_HOLIDAYS_2026],
        ),
        sla=SlaPolicy(
            targets=[
                SlaTarget(
                    priority="P1",
                    first_response_minutes=15,
                    resolution_minutes=240,
                    coverage="24x7",
                ),
                SlaTarget(
                    priority="P2",
                    first_response_minutes=30,
                    resolution_minutes=480,
                    coverage="business_hours",
                ),
                SlaTarget(
                    priority="P3",
                    first_response_minutes=60,
                    resolution_minutes=1200,
                    coverage="business_hours",
                ),
                SlaTarget(
                    priority="P4",
                    first_response_minutes=240,
                    resolution_minutes=2400,
                    coverage="business_hours",
                ),
                SlaTarget(
                    priority="P5",
                    first_response_minutes=480,
                    resolution_minutes=6000,
                    coverage="business_hours",
                ),
            ],
        ),
        monitoring=MonitoringCoverage(enabled=True, coverage="24x7"),
        covered_categories=["help_desk", "patching", "monitoring", "backup", "security"],
        project_categories=["installation", "upgrade", "decommission", "new_site", "migration"],
        project_size_threshold_minutes=480,
        rates=Rates(
            currency="GBP",
            standard_hourly=Decimal("95.00"),
            # Managed customers pay no after-hours premium (seed 004); emergencies on
            # project work still cost more.
            after_hours_multiplier=Decimal("1"),
            weekend_multiplier=Decimal("1"),
            holiday_multiplier=Decimal("1"),
            emergency_multiplier=Decimal("1.5"),
            minimum_minutes=15,
            increment_minutes=15,
        ),
        flat_fee=FlatFee(model="per_user", unit_price=Decimal("45.00"), users=38),
        uptime_target_percent=Decimal("99.5"),
        maintenance_windows=[
            MaintenanceWindow(
                window_id="mw-weekly-patching",
                weekday="sun",
                start=time(1, 0),
                duration_minutes=180,
                scope=MaintenanceScope(whole_customer=True),
                description="Weekly patching and reboots",
            )
        ],
        escalation_plan=[
            EscalationStep(
                threshold_percent=75,
                level=1,
                roles_to_inform=["service_desk_lead"],
                responsible=["assigned_technician"],
                accountable=["service_desk_lead"],
                informed=["account_manager"],
            ),
            EscalationStep(
                threshold_percent=90,
                level=2,
                roles_to_inform=["service_desk_lead", "service_delivery_manager"],
                responsible=["assigned_technician", "senior_engineer"],
                accountable=["service_delivery_manager"],
                consulted=["senior_engineer"],
                informed=["account_manager"],
            ),
            EscalationStep(
                threshold_percent=100,
                level=3,
                roles_to_inform=["service_delivery_manager", "customer_it_contact"],
                responsible=["senior_engineer"],
                accountable=["service_delivery_manager"],
                informed=["account_manager", "customer_it_contact"],
            ),
        ],
        excluded_assets=[
            ExcludedAsset(asset_id="ws-legacy-xp01", reason="Windows XP: out of vendor support")
        ],
        contacts=ContactDirectory(
            roles={
                "customer_it_contact": [
                    Contact(
                        name="Priya Shah",
                        email="it@customer.example",
                        phone="+442079460000",
                        webhook_url="https://hooks.customer.example/msp",
                    )
                ],
                "customer_finance": [Contact(name="Tom Reid", email="finance@customer.example")],
            },
            incident_roles=["customer_it_contact"],
            report_roles=["customer_it_contact", "customer_finance"],
        ),
        runbooks={
            "backup_failure": "https://runbooks.msp.example/backup-failure",
            "server_down": "https://runbooks.msp.example/server-down",
            "internet_down": "https://runbooks.msp.example/isp-outage",
        },
        rationale="Initial managed services agreement signed 2025-12-12: 38 users, "
        "office hours support, 24x7 monitoring and P1 response.",
        amended_by="sales@msp.example",
    )


def _sample_contract_versions() -> list[ContractVersion]:
    first = sample_contract_version()
    # Version 2: the customer added a second site; more users, rationale recorded.
    second = ContractVersion.model_validate(
        {
            **first.model_dump(),
            "version": 2,
            "effective_from": at(1, 0),
            "flat_fee": {"model": "per_user", "unit_price": Decimal("45.00"), "users": 44},
            "rationale": "Bristol office opened 2026-03-01: six more users on the flat fee.",
            "amended_by": "am.jones@msp.example",
        }
    )
    return [first, second]


def _payloads() -> list[tuple[EventData, str, datetime, str | None]]:
    """(payload, source, event time, subject) for every sample."""
    versions = _sample_contract_versions()
    clock = {
        "clock_id": f"clk-{TICKET_ID}-resolution-1",
        "ticket_id": TICKET_ID,
        "metric": "resolution",
        "cycle": 1,
        "priority": "P2",
        "contract_id": CONTRACT_ID,
        "contract_version": 2,
        "timezone": "Europe/London",
    }
    response_clock = {
        **clock,
        "clock_id": f"clk-{TICKET_ID}-first_response-1",
        "metric": "first_response",
    }
    # The ticket was reopened on the 11th: cycle 2 of its resolution clock breaches.
    reopened_clock = {**clock, "clock_id": f"clk-{TICKET_ID}-resolution-2", "cycle": 2}
    alert_identity = {
        "source_system": "alertmanager",
        "source_fingerprint": ALERT_FINGERPRINT,
        "device_id": DEVICE_ID,
        "site_id": SITE_ID,
        "check": "VeeamBackupJobFailed",
        "check_kind": "backup_failure",
    }
    project_line = LineItemRecorded(
        line_item_id="li-te-88412",
        source_event_ids=[derive_event_id("sample", TimeLogged.event_type)],
        entry_id="TE-88412",
        ticket_id="TKT-10433",
        classification="project",
        rule="approved_change_order",
        reason="Installation work authorised by change order CO-2026-014",
        work_date=date(2026, 3, 12),
        minutes_worked=85,
        minutes_billed=90,
        currency="GBP",
        rate=Decimal("95.00"),
        multiplier=Decimal("1"),
        amount=Decimal("142.50"),
        period="2026-03",
        contract_id=CONTRACT_ID,
        contract_version=2,
        change_order_id=CHANGE_ORDER_ID,
    )
    flat_fee_line = InvoiceLine(
        line_id="inv-2026-03-acme-1",
        description="Managed services, March 2026: 44 users x GBP 45.00",
        quantity=Decimal("44"),
        unit_amount=Decimal("45.00"),
        line_amount=Decimal("1980.00"),
        currency="GBP",
        item_code="MSP-MANAGED-USER",
        account_code="200",
        tax_code="OUTPUT2",
        service_date=date(2026, 3, 1),
        classification="flat_fee",
    )
    project_invoice_line = InvoiceLine(
        line_id="inv-2026-03-acme-2",
        description="Project work (CO-2026-014): install conference room display, 1.5 h",
        quantity=Decimal("1.5"),
        unit_amount=Decimal("95.00"),
        line_amount=Decimal("142.50"),
        currency="GBP",
        item_code="MSP-PROJECT-HOUR",
        account_code="200",
        tax_code="OUTPUT2",
        service_date=date(2026, 3, 12),
        classification="project",
        source_line_item_ids=[project_line.line_item_id],
    )
    credit_line = InvoiceLine(
        line_id="cn-2026-03-acme-1",
        description="SLA service credit: P2 resolution breached on TKT-10421",
        quantity=Decimal("1"),
        unit_amount=Decimal("99.00"),
        line_amount=Decimal("99.00"),
        currency="GBP",
        item_code="MSP-SLA-CREDIT",
        account_code="200",
        tax_code="OUTPUT2",
        service_date=date(2026, 3, 10),
        classification="flat_fee",
    )

    return [
        # --- monitoring -------------------------------------------------------------
        (
            AlertFiring(
                **alert_identity,
                severity="major",
                summary="Nightly backup job 'DC01-Full' failed on srv-dc01",
                description="Veeam job DC01-Full ended with status Failed: "
                "repository 'nas01' is out of space.",
                labels={"alertname": "VeeamBackupJobFailed", "instance": "srv-dc01:9182"},
                annotations={"runbook_url": "https://runbooks.msp.example/backup-failure"},
                business_critical=True,
                starts_at=at(10, 2, 15),
                generator_url="http://prometheus.acme.internal:9090/graph?g0.expr=veeam_job",
            ),
            "/ingest/alertmanager",
            at(10, 2, 16),
            DEVICE_ID,
        ),
        (
            AlertResolved(**alert_identity, ends_at=at(10, 9, 40), summary="Backup succeeded"),
            "/ingest/alertmanager",
            at(10, 9, 41),
            DEVICE_ID,
        ),
        (
            Heartbeat(
                device_id="ws-0142",
                site_id=SITE_ID,
                agent="rmm-agent/5.9.1",
                interval_seconds=300,
                sent_at=at(10, 8, 0),
            ),
            "/ingest/rmm",
            at(10, 8, 0),
            "ws-0142",
        ),
        (
            InventorySnapshot(
                source_system="rmm",
                observed_at=at(10, 6, 0),
                assets=[
                    Asset(kind="device", asset_id=DEVICE_ID, site_id=SITE_ID, name="DC01"),
                    Asset(kind="device", asset_id="ws-0142", site_id=SITE_ID),
                    Asset(kind="user", asset_id="j.smith@acme.example", name="Jo Smith"),
                ],
            ),
            "/ingest/rmm",
            at(10, 6, 1),
            None,
        ),
        (
            MaintenanceScheduled(
                window_id="mw-2026-03-14-switches",
                starts_at=at(14, 22, 0),
                ends_at=at(15, 2, 0),
                scope=MaintenanceScope(site_ids=[SITE_ID]),
                reason="Firmware update on the core switches",
                scheduled_by="j.doe@msp.example",
            ),
            "/ingest/rmm",
            at(9, 16, 30),
            "mw-2026-03-14-switches",
        ),
        (
            MaintenanceCancelled(
                window_id="mw-2026-03-14-switches",
                reason="Vendor withdrew the firmware release",
                cancelled_at=at(13, 11, 5),
            ),
            "/ingest/rmm",
            at(13, 11, 5),
            "mw-2026-03-14-switches",
        ),
        # --- tickets ------------------------------------------------------------------
        (
            TicketCreated(
                ticket_id=TICKET_ID,
                title="Backup failure on srv-dc01",
                description="Opened by monitoring: nightly backup failed (repository full).",
                priority="P2",
                category="backup",
                source="proactive",
                proactive=True,
                incident_id=INCIDENT_ID,
                device_id=DEVICE_ID,
                site_id=SITE_ID,
                opened_at=at(10, 2, 17),
            ),
            "/incidents",
            at(10, 2, 17),
            TICKET_ID,
        ),
        (
            TicketStatusChanged(
                ticket_id=TICKET_ID,
                status="waiting_on_customer",
                previous_status="in_progress",
                reason="Asked the customer to approve deleting old restore points",
                changed_at=at(10, 8, 45),
            ),
            "/ingest/psa",
            at(10, 8, 45),
            TICKET_ID,
        ),
        (
            TicketPriorityChanged(
                ticket_id=TICKET_ID,
                priority="P2",
                previous_priority="P3",
                reason="Domain controller without a backup: raised by the service desk",
                changed_at=at(10, 8, 10),
            ),
            "/ingest/psa",
            at(10, 8, 10),
            TICKET_ID,
        ),
        (
            TicketAssigned(
                ticket_id=TICKET_ID,
                technician_id="tech-ssmith",
                team="service-desk",
                assigned_at=at(10, 8, 5),
            ),
            "/ingest/psa",
            at(10, 8, 5),
            TICKET_ID,
        ),
        (
            TicketCommentAdded(
                ticket_id=TICKET_ID,
                comment_id="cmt-553201",
                author_kind="agent",
                author_id="tech-ssmith",
                public=True,
                body="We are looking into last night's failed backup of your domain controller.",
                added_at=at(10, 8, 20),
            ),
            "/ingest/psa",
            at(10, 8, 20),
            TICKET_ID,
        ),
        (
            TimeLogged(
                entry_id="TE-88412",
                ticket_id="TKT-10433",
                technician_id="tech-ssmith",
                started_at=at(12, 13, 0),
                ended_at=at(12, 14, 25),
                work_category="installation",
                billable_hint="billable",
                description="Installed and configured the conference room display",
                asset_id="disp-conf-01",
                change_order_id=CHANGE_ORDER_ID,
            ),
            "/ingest/psa",
            at(12, 14, 30),
            "TKT-10433",
        ),
        (
            TicketResolved(
                ticket_id=TICKET_ID,
                resolution_code="fixed",
                resolved_by="tech-ssmith",
                note="Pruned old restore points; re-ran the job successfully.",
                resolved_at=at(10, 9, 45),
            ),
            "/ingest/psa",
            at(10, 9, 45),
            TICKET_ID,
        ),
        (
            TicketClosed(ticket_id=TICKET_ID, closed_at=at(13, 9, 0)),
            "/ingest/psa",
            at(13, 9, 0),
            TICKET_ID,
        ),
        (
            TicketReopened(
                ticket_id=TICKET_ID,
                reason="Backup failed again the following night",
                reopened_at=at(11, 7, 30),
            ),
            "/ingest/psa",
            at(11, 7, 30),
            TICKET_ID,
        ),
        # --- contracts ----------------------------------------------------------------
        (
            ContractSnapshot(contract_id=CONTRACT_ID, versions=versions),
            "/ingest/crm",
            at(1, 0),
            CONTRACT_ID,
        ),
        (
            ContractTerminated(
                contract_id=CONTRACT_ID,
                versions=versions,
                effective_at=at(1, 0, month=7),
                reason="Customer acquired; IT moves to the parent company's provider",
            ),
            "/ingest/crm",
            at(30, 15, 0),
            CONTRACT_ID,
        ),
        # --- change orders ------------------------------------------------------------
        (
            ChangeOrderApproved(
                change_order_id=CHANGE_ORDER_ID,
                ticket_ids=["TKT-10433"],
                scope="Install and configure a display in the new conference room",
                work_categories=["installation"],
                budget_amount=Decimal("285.00"),
                budget_minutes=180,
                currency="GBP",
                approved_by="ops.director@acme.example",
                approved_at=at(11, 10, 0),
                valid_until=at(30, 23, 59),
            ),
            "/ingest/psa",
            at(11, 10, 0),
            CHANGE_ORDER_ID,
        ),
        (
            ChangeOrderOverrunApproved(
                change_order_id=CHANGE_ORDER_ID,
                reason="The wall needed reinforcing: one more hour agreed on site",
                approved_by="ops.director@acme.example",
                approved_at=at(13, 9, 0),
            ),
            "/ingest/psa",
            at(13, 9, 0),
            CHANGE_ORDER_ID,
        ),
        (
            ChangeOrderRejected(
                change_order_id="CO-2026-015",
                reason="Customer will replace the printers themselves",
                rejected_by="ops.director@acme.example",
                rejected_at=at(16, 14, 0),
            ),
            "/ingest/psa",
            at(16, 14, 0),
            "CO-2026-015",
        ),
        # --- incidents ----------------------------------------------------------------
        (
            IncidentOpened(
                incident_id=INCIDENT_ID,
                title="Backup failure on srv-dc01",
                priority="P2",
                impact="medium",
                urgency="high",
                scope="device",
                site_id=SITE_ID,
                device_ids=[DEVICE_ID],
                alert_fingerprints=[f"{CUSTOMER_ID}:{ALERT_FINGERPRINT}"],
                check_kind="backup_failure",
                priority_reason="impact medium x urgency high = P2 (business-critical device)",
                tier="managed",
                opened_at=at(10, 2, 16),
                ticket_id=TICKET_ID,
            ),
            "/incidents",
            at(10, 2, 16),
            INCIDENT_ID,
        ),
        (
            IncidentUpdated(
                incident_id=INCIDENT_ID,
                alerts_attached=[f"{CUSTOMER_ID}:9e0b7c5a21d4f380"],
                reason="Correlated: repository nas01 low on disk space",
                updated_at=at(10, 2, 30),
            ),
            "/incidents",
            at(10, 2, 30),
            INCIDENT_ID,
        ),
        (
            IncidentResolved(
                incident_id=INCIDENT_ID,
                resolved_at=at(10, 9, 41),
                duration_seconds=26_700,
                reason="All alerts recovered",
            ),
            "/incidents",
            at(10, 9, 41),
            INCIDENT_ID,
        ),
        # --- SLA ----------------------------------------------------------------------
        (
            SlaClockStarted(
                **clock,
                target_business_seconds=8 * 3600,
                coverage="business_hours",
                started_at=at(10, 2, 17),
                due_at=at(10, 16, 0),  # business hours start 08:00 London (GMT)
            ),
            "/sla-clock",
            at(10, 2, 17),
            TICKET_ID,
        ),
        (
            SlaClockPaused(
                **clock,
                status="waiting_on_customer",
                paused_at=at(10, 8, 45),
                elapsed_business_seconds=2700,
            ),
            "/sla-clock",
            at(10, 8, 45),
            TICKET_ID,
        ),
        (
            SlaClockResumed(**clock, resumed_at=at(10, 9, 15), due_at=at(10, 16, 30)),
            "/sla-clock",
            at(10, 9, 15),
            TICKET_ID,
        ),
        (
            SlaWarning(
                **reopened_clock,
                threshold_percent=75,
                escalation_level=1,
                roles_to_inform=["service_desk_lead"],
                due_at=at(11, 16, 0),
                elapsed_business_seconds=21_600,
                at=at(11, 14, 0),
            ),
            "/sla-clock",
            at(11, 14, 0),
            TICKET_ID,
        ),
        (
            SlaBreached(
                **reopened_clock,
                due_at=at(11, 16, 0),
                breached_at=at(11, 16, 0),
                escalation_level=3,
                roles_to_inform=["service_delivery_manager", "customer_it_contact"],
            ),
            "/sla-clock",
            at(11, 16, 0),
            TICKET_ID,
        ),
        (
            # cycle 2 (breached at 12:00 on the 12th, see the correction below) still
            # runs at 150 % of its 8 business hours: the plan's step above the breach
            SlaEscalated(
                **reopened_clock,
                threshold_percent=150,
                escalation_level=4,
                roles_to_inform=["account_manager", "service_delivery_manager"],
                due_at=at(12, 12, 0),
                elapsed_business_seconds=43_200,
                at=at(12, 16, 0),
            ),
            "/sla-clock",
            at(12, 16, 0),
            TICKET_ID,
        ),
        (
            SlaMet(
                **response_clock,
                met_at=at(10, 8, 20),
                elapsed_business_seconds=1200,
                target_business_seconds=1800,
            ),
            "/sla-clock",
            at(10, 8, 20),
            TICKET_ID,
        ),
        (
            SlaClockCancelled(
                **{**clock, "ticket_id": "TKT-10440", "clock_id": "clk-TKT-10440-resolution-1"},
                reason="asset excluded: ws-legacy-xp01",
                cancelled_at=at(17, 10, 2),
            ),
            "/sla-clock",
            at(17, 10, 2),
            "TKT-10440",
        ),
        (
            # The ticket's wait on the customer (10:00-16:00 on the 11th) reached
            # sla-clock late: cycle 2's breach moves from 16:00 to 12:00 on the 12th.
            SlaOutcomeCorrected(
                **reopened_clock,
                corrects_event_id="6f1f6d0e-4f39-5d38-9a43-3c0c3a3f3b51",
                statement="breach",
                was_at=at(11, 16, 0),
                now_at=at(12, 12, 0),
                outcome="breached",
                outcome_at=at(12, 12, 0),
                because_of=["psa-evt-55120", "psa-evt-55121"],
                corrected_at=at(11, 17, 5),
            ),
            "/sla-clock",
            at(11, 17, 5),
            TICKET_ID,
        ),
        (
            # February's report, on the first business day of March in London
            SlaMonthlyReport(
                month="2026-02",
                timezone="Europe/London",
                as_of=at(2, 8, 0),
                contract_id=CONTRACT_ID,
                contract_version=1,
                contract_versions=[1],
                clocks=2,
                summary=[
                    SlaReportLine(
                        metric="first_response",
                        priority="P2",
                        clocks=1,
                        met=1,
                        breached=0,
                        pending=0,
                        cancelled=0,
                        met_percent=Decimal("100.00"),
                        mean_business_seconds=Decimal("1200.00"),
                    ),
                    SlaReportLine(
                        metric="resolution",
                        priority="P2",
                        clocks=1,
                        met=0,
                        breached=1,
                        pending=0,
                        cancelled=0,
                        met_percent=Decimal("0.00"),
                        mean_business_seconds=Decimal("30600.00"),
                    ),
                ],
                mean_time_to_respond_seconds=Decimal("1200.00"),
                mean_time_to_resolve_seconds=Decimal("30600.00"),
                breaches=[
                    SlaReportBreach(
                        clock_id="clk-TKT-10201-resolution-1",
                        ticket_id="TKT-10201",
                        metric="resolution",
                        cycle=1,
                        priority="P2",
                        due_at=datetime(2026, 2, 17, 16, 0, tzinfo=UTC),
                        breached_at=datetime(2026, 2, 17, 16, 0, tzinfo=UTC),
                        reason="resolution took 30600 business s against the 28800 s P2 "
                        "target (business_hours) of contract " + CONTRACT_ID + " v1",
                        contract_id=CONTRACT_ID,
                        contract_version=1,
                    )
                ],
                breaches_total=1,
                availability=SlaReportAvailability(
                    measured_percent=Decimal("99.96"),
                    target_percent=Decimal("99.5"),
                    met=True,
                    downtime_seconds=1020,
                    incidents=1,
                ),
                csv="clock_id,ticket_id,metric,cycle,priority,outcome,state,"
                "target_business_seconds,elapsed_business_seconds,started_at,stopped_at,"
                "due_at,breached_at,contract_id,contract_version\n"
                "clk-TKT-10201-first_response-1,TKT-10201,first_response,1,P2,met,stopped,"
                "1800,1200,2026-02-17T07:40:00Z,2026-02-17T08:20:00Z,2026-02-17T08:30:00Z,,"
                + CONTRACT_ID
                + ",1\n"
                "clk-TKT-10201-resolution-1,TKT-10201,resolution,1,P2,breached,stopped,"
                "28800,30600,2026-02-17T07:40:00Z,2026-02-17T16:30:00Z,2026-02-17T16:00:00Z,"
                "2026-02-17T16:00:00Z," + CONTRACT_ID + ",1\n",
            ),
            "/sla-clock",
            at(2, 8, 0),
            "sla-report/2026-02",
        ),
        # --- billing ------------------------------------------------------------------
        (project_line, "/billing", at(12, 14, 30), project_line.line_item_id),
        (
            LineItemReclassified(
                line_item_id="li-te-88399",
                line_item_ids=["li-te-88399"],
                entry_id="TE-88399",
                ticket_id="TKT-10433",
                from_classification="scope_creep",
                to_classification="project",
                rule="late_change_order_approval",
                reason="Change order CO-2026-014 approved after the work was done",
                reclassified_by="change-order:CO-2026-014",
                reclassified_at=at(12, 15, 0),
                change_order_id=CHANGE_ORDER_ID,
            ),
            "/billing",
            at(12, 15, 0),
            "li-te-88399",
        ),
        (
            InvoiceIssued(
                invoice_id="INV-2026-03-ACME",
                period="2026-03",
                currency="GBP",
                issued_at=at(1, 6, 0, month=4),
                lines=[flat_fee_line, project_invoice_line],
                subtotal=Decimal("2122.50"),
                tax_total=Decimal("424.50"),
                total=Decimal("2547.00"),
            ),
            "/billing",
            at(1, 6, 0, month=4),
            "INV-2026-03-ACME",
        ),
        (
            CreditNoteIssued(
                credit_note_id="CN-2026-03-ACME-1",
                invoice_id="INV-2026-03-ACME",
                reason="SLA service credit: P2 resolution target breached (TKT-10421)",
                issued_at=at(2, 9, 0, month=4),
                currency="GBP",
                lines=[credit_line],
                total=Decimal("99.00"),
            ),
            "/billing",
            at(2, 9, 0, month=4),
            "CN-2026-03-ACME-1",
        ),
        (
            AccountingDocumentPrepared(
                document_id="xero-5f0c9a56-2b1e-5c3a-9d8e-0f4b7a1c2d3e",
                target="xero",
                kind="credit_note",
                resource="CreditNotes",
                source_id="CN-2026-03-ACME-1",
                invoice_id="INV-2026-03-ACME",
                document_number="CN-2026-03-ACME-1",
                currency="GBP",
                subtotal=Decimal("99.00"),
                tax_total=Decimal("0.00"),
                document='{"CreditNotes":[{"Type":"ACCRECCREDIT","Contact":{"ContactNumber":'
                '"cust-acme","Name":"cust-acme"},"Date":"2026-04-02","CreditNoteNumber":'
                '"CN-2026-03-ACME-1","Reference":"credits INV-2026-03-ACME","CurrencyCode":'
                '"GBP","Status":"DRAFT","LineAmountTypes":"Exclusive","LineItems":[{'
                '"Description":"SLA service credit","Quantity":1,"UnitAmount":99.00,'
                '"LineAmount":99.00,"ItemCode":"MSP-MANAGED","AccountCode":"200"}]}]}',
                unmapped=["contacts/cust-acme/xero_contact_id"],
            ),
            "/billing/accounting",
            at(2, 9, 0, month=4),
            "xero-5f0c9a56-2b1e-5c3a-9d8e-0f4b7a1c2d3e",
        ),
        # --- dead letters -------------------------------------------------------------
        (
            DeadLetterRecorded.from_record(
                topic="msp.raw.tickets.v1",
                partition=3,
                offset=18_224,
                key=CUSTOMER_ID.encode(),
                value=b'{"specversion":"1.0","type":"msp.ticket.created.v1","data":{}}',
                headers=[("content-type", b"application/cloudevents+json")],
                reason="Field required",
                error_pointer="/data/ticket_id",
                consumer_group="ingest",
                service="ingest",
                failed_at=at(10, 11, 2),
            ),
            "/ingest",
            at(10, 11, 2),
            "msp.raw.tickets.v1/3/18224",
        ),
    ]


def sample_events() -> list[Envelope]:
    """One valid envelope per event type (same order as the story above)."""
    events = []
    for data, source, time_, subject in _payloads():
        customer_id = CUSTOMER_ID
        if isinstance(data, DeadLetterRecorded):
            customer_id = dead_letter_customer_id(data.original_key())
        events.append(
            make_event(
                data,
                customer_id=customer_id,
                source=source,
                time=time_,
                subject=subject,
                id=derive_event_id("sample", data.event_type),
            )
        )
    return events
