"""Contract events, on `msp.contracts.v1` (compacted, keyed by customer).

Emitted by ingest from the contract system / CRM. Consumed by incidents (tier,
monitoring coverage, maintenance windows, excluded assets), sla-clock (targets,
calendar, escalation plan) and billing (covered work, rates, flat fee).

Contracts are explicit, versioned data (DESIGN.md): every SLA outcome and every price
can be traced to the `ContractVersion` that applied. The topic is compacted, which keeps
only the latest record per customer, yet SLA targets and proration need the versions
that were in force earlier. So every record carries the customer's *whole* version
history, and a service rebuilding from the topic sees every version.

Local times (business hours, maintenance windows) are wall-clock times in the contract's
`timezone`; instants are UTC like everywhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from msp_events.base import (
    PLAIN_DECIMAL,
    Currency,
    EventData,
    Identifier,
    NonNegativeMoney,
    Part,
    Priority,
    Tier,
    TimeZoneName,
    UtcDatetime,
)
from msp_events.bounds import check_date
from msp_events.types.monitoring import CheckKind, MaintenanceScope
from msp_events.types.tickets import TicketStatus

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""In `date.weekday()` order: ``WEEKDAYS[d.weekday()]`` is the key for date `d`."""

Coverage = Literal["24x7", "business_hours"]
"""When a clock counts: around the clock, or only inside the calendar's business hours."""

MINUTES_PER_DAY = 24 * 60
MAX_TARGET_MINUTES = 366 * MINUTES_PER_DAY
"""An SLA target is at most a year: deadlines stay computable from any valid instant."""


def _local_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError(
            "must be a local time without a UTC offset (the contract's timezone applies)"
        )
    if value.second or value.microsecond:
        raise ValueError("must be whole minutes (HH:MM)")
    return value


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _minute_of_day(value: time) -> int:
    return value.hour * 60 + value.minute


# The published schema says exactly what is written: "HH:MM". Not JSON Schema's
# `format: time`, which is RFC 3339's full-time (seconds *and* a UTC offset): these are
# wall-clock times in the contract's timezone, which have no fixed offset.
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DAY_END_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"

LocalTime = Annotated[
    time,
    AfterValidator(_local_time),
    PlainSerializer(_hhmm, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": HHMM_PATTERN,
            "description": "Local wall-clock time HH:MM (24-hour) in the contract's timezone",
        }
    ),
]
"""A wall-clock time "HH:MM" in the contract's timezone."""


def _parse_day_end(value: object) -> object:
    # "24:00" is how people write "until midnight"; Python's `time` has no 24:00, so we
    # store it as 00:00, which an *end* time can only mean as end of day (see TimeRange).
    return time(0) if value in ("24:00", "24:00:00") else value


def _write_day_end(value: time) -> str:
    return "24:00" if value == time(0) else _hhmm(value)


DayEnd = Annotated[
    time,
    BeforeValidator(_parse_day_end),
    AfterValidator(_local_time),
    PlainSerializer(_write_day_end, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DAY_END_PATTERN,
            "description": "Local wall-clock time HH:MM (24-hour) in the contract's timezone; "
            '"24:00" is the end of the day',
        }
    ),
]
"""The end of a local range; ``"24:00"`` (stored as 00:00) means end of day."""


class TimeRange(Part):
    """A range of local wall-clock time within one day, e.g. 08:00-18:00.

    Choice: `end` may be 00:00 (also accepted, and written, as "24:00") meaning the
    *end* of the day, so 00:00-24:00 is a whole day and 18:00-24:00 runs to midnight.
    Ranges never wrap past midnight: a night shift is two ranges on two weekdays, which
    keeps business-time arithmetic per day simple and DST-safe.
    """

    start: LocalTime
    end: DayEnd

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: time, info: ValidationInfo) -> time:
        start = info.data.get("start")
        end_minute = _minute_of_day(value) or MINUTES_PER_DAY
        if start is not None and end_minute <= _minute_of_day(start):
            raise ValueError("end must be after start (use 24:00 for end of day)")
        return value

    @property
    def start_minute(self) -> int:
        """Minutes after local midnight at which the range starts (0..1439)."""
        return _minute_of_day(self.start)

    @property
    def end_minute(self) -> int:
        """Minutes after local midnight at which the range ends (1..1440)."""
        return _minute_of_day(self.end) or MINUTES_PER_DAY


class Holiday(Part):
    """A local date on which business hours do not apply."""

    date: Annotated[dt.date, AfterValidator(check_date)]
    name: str = Field(min_length=1, max_length=128)


class BusinessCalendar(Part):
    """Business hours per weekday (a missing weekday is closed) and holidays."""

    weekly_hours: dict[Weekday, list[TimeRange]] = Field(default_factory=dict)
    holidays: list[Holiday] = Field(default_factory=list, max_length=5000)

    @field_validator("weekly_hours")
    @classmethod
    def _no_overlaps(cls, value: dict[Weekday, list[TimeRange]]) -> dict[Weekday, list[TimeRange]]:
        normalised: dict[Weekday, list[TimeRange]] = {}
        for day in WEEKDAYS:  # also puts the days in calendar order
            if day not in value:
                continue
            ranges = sorted(value[day], key=lambda r: r.start_minute)
            for before, after in pairwise(ranges):
                if after.start_minute < before.end_minute:
                    raise ValueError(
                        f"{day}: ranges {_hhmm(before.start)}-{_hhmm(before.end)} and "
                        f"{_hhmm(after.start)}-{_hhmm(after.end)} overlap"
                    )
            normalised[day] = ranges
        return normalised

    @field_validator("holidays")
    @classmethod
    def _one_per_date(cls, value: list[Holiday]) -> list[Holiday]:
        _require_unique([h.date.isoformat() for h in value], "holiday date")
        return sorted(value, key=lambda h: h.date)

    @property
    def has_business_hours(self) -> bool:
        return any(self.weekly_hours.values())

    def is_holiday(self, day: dt.date) -> bool:
        return any(h.date == day for h in self.holidays)


class SlaTarget(Part):
    """The SLA targets for one priority."""

    priority: Priority
    first_response_minutes: int = Field(gt=0, le=MAX_TARGET_MINUTES)
    resolution_minutes: int = Field(gt=0, le=MAX_TARGET_MINUTES)
    coverage: Coverage

    @field_validator("resolution_minutes")
    @classmethod
    def _resolution_not_before_response(cls, value: int, info: ValidationInfo) -> int:
        # Resolving implies responding; a shorter resolution target is almost always a
        # swapped pair of numbers in the contract system.
        first = info.data.get("first_response_minutes")
        if first is not None and value < first:
            raise ValueError("resolution_minutes must be >= first_response_minutes")
        return value


def _default_pause_statuses() -> list[TicketStatus]:
    # Waiting on the customer or a vendor is time the MSP cannot act (seed 000/003).
    return ["waiting_on_customer", "pending_vendor"]


WarningPercent = Annotated[int, Field(ge=1, le=99)]


class SlaPolicy(Part):
    """How SLA clocks run under this contract. A priority without a target has no SLA
    clock (e.g. on-demand P5 work)."""

    targets: list[SlaTarget] = Field(min_length=1)
    pause_statuses: list[TicketStatus] = Field(
        default_factory=_default_pause_statuses,
        description="Ticket statuses during which clocks pause",
    )
    warning_thresholds_percent: list[WarningPercent] = Field(
        default_factory=lambda: [75, 90],
        description="Emit an SLA warning when this share of the target has elapsed",
    )
    priority_change_rule: Literal["keep_elapsed", "retroactive"] = Field(
        default="keep_elapsed",
        description="keep_elapsed: elapsed business time carries over and the new target "
        "applies from now on; retroactive: the new priority's target applies as if the "
        "ticket had had it since the clock started",
    )

    @field_validator("targets")
    @classmethod
    def _one_target_per_priority(cls, value: list[SlaTarget]) -> list[SlaTarget]:
        _require_unique([t.priority for t in value], "priority")
        return sorted(value, key=lambda t: t.priority)

    @field_validator("pause_statuses")
    @classmethod
    def _unique_statuses(cls, value: list[TicketStatus]) -> list[TicketStatus]:
        _require_unique(value, "status")
        return value

    @field_validator("warning_thresholds_percent")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError("thresholds must be strictly ascending")
        return value

    def target_for(self, priority: Priority) -> SlaTarget | None:
        return next((t for t in self.targets if t.priority == priority), None)


class MonitoringCoverage(Part):
    """Whether and when monitoring alerts open incidents for this customer."""

    enabled: bool
    coverage: Coverage = "24x7"
    check_kinds: list[CheckKind] | None = Field(
        default=None, description="Monitored kinds of check; absent means all"
    )


Multiplier = Annotated[Decimal, Field(ge=1, max_digits=8, decimal_places=4), PLAIN_DECIMAL]


class Rates(Part):
    """Hourly rates for billable (project and on-demand) work. Multipliers apply to the
    standard rate, evaluated in the contract's timezone; a managed contract has no
    after-hours premium, so its multipliers are 1."""

    currency: Currency
    standard_hourly: NonNegativeMoney
    after_hours_multiplier: Multiplier
    weekend_multiplier: Multiplier
    holiday_multiplier: Multiplier
    emergency_multiplier: Multiplier
    minimum_minutes: int = Field(
        ge=0, le=MINUTES_PER_DAY, description="Minimum billed per time entry"
    )
    increment_minutes: int = Field(
        ge=1, le=MINUTES_PER_DAY, description="Billed time is rounded up to this"
    )


class FlatFee(Part):
    """The monthly flat fee of a managed contract, in the contract currency
    (`Rates.currency`). `fixed` needs `amount`; `per_user`/`per_device` need
    `unit_price` and the count of users/devices."""

    model: Literal["fixed", "per_user", "per_device"]
    amount: NonNegativeMoney | None = None
    unit_price: NonNegativeMoney | None = None
    users: int | None = Field(default=None, ge=0, le=1_000_000)
    devices: int | None = Field(default=None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _fields_for_model(self) -> FlatFee:
        if self.model == "fixed":
            if self.amount is None:
                raise ValueError("model 'fixed' needs amount")
            if self.unit_price is not None:
                raise ValueError("model 'fixed' takes amount, not unit_price")
            return self
        if self.amount is not None:
            raise ValueError(f"model {self.model!r} takes unit_price, not amount")
        if self.unit_price is None:
            raise ValueError(f"model {self.model!r} needs unit_price")
        if self.model == "per_user" and self.users is None:
            raise ValueError("model 'per_user' needs users")
        if self.model == "per_device" and self.devices is None:
            raise ValueError("model 'per_device' needs devices")
        return self

    def monthly_amount(self) -> Decimal:
        """The full (unprorated) monthly fee."""
        if self.model == "fixed":
            assert self.amount is not None  # guaranteed by the validator
            return self.amount
        assert self.unit_price is not None
        count = self.users if self.model == "per_user" else self.devices
        assert count is not None
        return self.unit_price * count


class MaintenanceWindow(Part):
    """A recurring weekly maintenance window (patching, backups): alerts in scope during
    the window do not open incidents. Starts at local `start` on `weekday` and may run
    past midnight."""

    window_id: Identifier
    weekday: Weekday
    start: LocalTime
    duration_minutes: int = Field(gt=0, le=7 * MINUTES_PER_DAY)
    scope: MaintenanceScope
    description: str | None = Field(default=None, max_length=1000)


RoleList = list[Annotated[str, Field(min_length=1, max_length=128)]]


class EscalationStep(Part):
    """Who to involve once a share of an SLA target has elapsed (100 = breach; above
    100 escalates further after a breach). RACI roles record who does what."""

    threshold_percent: int = Field(ge=1, le=1000)
    level: int = Field(ge=1)
    roles_to_inform: RoleList = Field(min_length=1)
    responsible: RoleList = Field(default_factory=list)
    accountable: RoleList = Field(default_factory=list)
    consulted: RoleList = Field(default_factory=list)
    informed: RoleList = Field(default_factory=list)


EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
HTTPS_URL_PATTERN = r"^https?://[^\s]+$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"

RoleName = Annotated[str, Field(min_length=1, max_length=128)]


class Contact(Part):
    """A person behind a role: where notifications reach them. Email always; a
    signed webhook, a Slack or a Microsoft Teams incoming webhook when set. `phone`
    (E.164) is recorded for people to call; nothing sends to it."""

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN, description="E.164")
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=HTTPS_URL_PATTERN,
        description="A receiver of signed JSON webhooks (X-Signature HMAC-SHA256)",
    )
    slack_webhook_url: str | None = Field(default=None, max_length=2048, pattern=HTTPS_URL_PATTERN)
    teams_webhook_url: str | None = Field(default=None, max_length=2048, pattern=HTTPS_URL_PATTERN)


class ContactDirectory(Part):
    """The customer's people behind each role of the escalation plan (e.g.
    `customer_it_contact`), who hears about P1/P2 incidents, and who receives the
    monthly SLA report. Roles not found here are the MSP's own (service desk lead,
    account manager, on-call engineer), from the notify service's settings."""

    roles: dict[RoleName, list[Contact]] = Field(
        default_factory=dict, max_length=100, description="Role -> the people behind it"
    )
    incident_roles: list[RoleName] = Field(
        default_factory=list,
        max_length=100,
        description="Roles told when a P1/P2 incident opens, escalates or resolves",
    )
    report_roles: list[RoleName] = Field(
        default_factory=list,
        max_length=100,
        description="Roles that receive the monthly SLA report",
    )

    @field_validator("roles")
    @classmethod
    def _bounded_roles(cls, value: dict[str, list[Contact]]) -> dict[str, list[Contact]]:
        for role, people in value.items():
            if len(people) > 100:
                raise ValueError(f"role {role!r}: at most 100 contacts")
        return value

    def contacts_for(self, role: str) -> list[Contact]:
        return self.roles.get(role, [])


class ExcludedAsset(Part):
    """An asset the contract does not cover (no incidents, no SLA, work is not covered
    by the flat fee), with why."""

    asset_id: Identifier
    reason: str = Field(min_length=1, max_length=1000)


Category = Annotated[str, Field(min_length=1, max_length=64)]
"""A work category, as in `TicketCreated.category` / `TimeLogged.work_category`."""

Percent = Annotated[Decimal, Field(gt=0, le=100, max_digits=7, decimal_places=4), PLAIN_DECIMAL]


Hours = Annotated[Decimal, Field(gt=0, le=744, max_digits=6, decimal_places=2), PLAIN_DECIMAL]
"""A number of hours (up to a month's 744), to the hundredth."""


class IncludedHours(Part):
    """A monthly allowance of covered hours ("block hours"): covered work in
    `categories` up to the allowance is in the flat fee; the minutes beyond it are
    billed as overage at `overage_hourly` (the contract currency, `Rates.currency`).
    Unused hours roll over to the next month up to `rollover_cap_hours` when `rollover`
    is `capped`, and expire with `none`. Billing applies it at the month's invoice run
    (the rule, proration and rollover: services/billing/README.md)."""

    hours_per_month: Hours
    categories: list[Category] = Field(
        min_length=1,
        max_length=100,
        description="Covered work categories counted against the allowance",
    )
    overage_hourly: NonNegativeMoney = Field(description="Hourly rate of the hours beyond it")
    rollover: Literal["none", "capped"] = "none"
    rollover_cap_hours: Hours | None = Field(
        default=None, description="Required with rollover 'capped': most hours carried over"
    )

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        _require_unique(value, "category")
        return value

    @model_validator(mode="after")
    def _cap_with_capped(self) -> IncludedHours:
        if self.rollover == "capped" and self.rollover_cap_hours is None:
            raise ValueError("rollover 'capped' needs rollover_cap_hours")
        if self.rollover == "none" and self.rollover_cap_hours is not None:
            raise ValueError("rollover_cap_hours is only allowed with rollover 'capped'")
        return self

    @property
    def minutes_per_month(self) -> int:
        """The allowance in whole minutes (hours to the hundredth: 0.6-minute steps,
        rounded half-up)."""
        return int((self.hours_per_month * 60).quantize(Decimal(1), ROUND_HALF_UP))

    @property
    def rollover_cap_minutes(self) -> int:
        if self.rollover_cap_hours is None:
            return 0
        return int((self.rollover_cap_hours * 60).quantize(Decimal(1), ROUND_HALF_UP))


class ContractVersion(Part):
    """One version of a customer's contract: everything in force from `effective_from`
    until the next version's `effective_from`."""

    version: int = Field(ge=1)
    effective_from: UtcDatetime
    tier: Tier
    timezone: TimeZoneName
    calendar: BusinessCalendar
    sla: SlaPolicy
    monitoring: MonitoringCoverage
    covered_categories: list[Category] = Field(
        default_factory=list, description="Work categories covered by the flat fee"
    )
    project_categories: list[Category] = Field(
        default_factory=list, description="Work categories billed as projects"
    )
    project_size_threshold_minutes: int | None = Field(
        default=None,
        gt=0,
        description="Covered-category work above this size on one ticket is a project",
    )
    rates: Rates
    flat_fee: FlatFee | None = Field(default=None, description="Required for managed tiers")
    included_hours: IncludedHours | None = Field(
        default=None,
        description="Monthly allowance of covered hours, overage billed beyond it "
        "(categories must be covered categories)",
    )
    uptime_target_percent: Percent
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list, max_length=1000)
    escalation_plan: list[EscalationStep] = Field(default_factory=list, max_length=100)
    excluded_assets: list[ExcludedAsset] = Field(default_factory=list, max_length=10_000)
    contacts: ContactDirectory = Field(
        default_factory=ContactDirectory,
        description="Who hears about escalations, incidents and the monthly SLA report",
    )
    runbooks: dict[CheckKind, Annotated[str, Field(min_length=1, max_length=2048)]] = Field(
        default_factory=dict, description="Runbook URL or reference per kind of check"
    )
    rationale: str = Field(
        min_length=1,
        max_length=10_000,
        description="Why this version exists / what changed and why (kept for the audit)",
    )
    amended_by: str | None = Field(default=None, max_length=256)

    @field_validator("rationale")
    @classmethod
    def _rationale_says_something(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("rationale must not be blank: record the reasoning")
        return value

    @field_validator("covered_categories", "project_categories")
    @classmethod
    def _unique_categories(cls, value: list[str]) -> list[str]:
        _require_unique(value, "category")
        return value

    @field_validator("included_hours")
    @classmethod
    def _included_are_covered(
        cls, value: IncludedHours | None, info: ValidationInfo
    ) -> IncludedHours | None:
        # Only covered work can be "included": any other work is billed (or held) anyway.
        covered = set(info.data.get("covered_categories") or ())
        outside = sorted(set(value.categories) - covered) if value is not None else []
        if outside:
            raise ValueError(
                f"categories must be covered_categories; not covered: {', '.join(outside)}"
            )
        return value

    @field_validator("maintenance_windows")
    @classmethod
    def _unique_windows(cls, value: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
        _require_unique([w.window_id for w in value], "window_id")
        return value

    @field_validator("excluded_assets")
    @classmethod
    def _unique_assets(cls, value: list[ExcludedAsset]) -> list[ExcludedAsset]:
        _require_unique([a.asset_id for a in value], "asset_id")
        return value

    @field_validator("escalation_plan")
    @classmethod
    def _plan_ascends(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        for before, after in pairwise(value):
            if after.threshold_percent <= before.threshold_percent or after.level <= before.level:
                raise ValueError(
                    "steps must be in order: threshold_percent and level strictly ascending"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ContractVersion:
        both = sorted(set(self.covered_categories) & set(self.project_categories))
        if both:
            raise ValueError(f"categories both covered and project: {', '.join(both)}")
        if self.tier != "on_demand" and self.flat_fee is None:
            raise ValueError(f"tier {self.tier!r} needs a flat_fee")
        uses_hours = any(t.coverage == "business_hours" for t in self.sla.targets) or (
            self.monitoring.enabled and self.monitoring.coverage == "business_hours"
        )
        if uses_hours and not self.calendar.has_business_hours:
            # The clocks would never tick: certainly a data-entry error.
            raise ValueError("business_hours coverage needs calendar.weekly_hours")
        return self

    def is_excluded(self, asset_id: str) -> bool:
        return any(a.asset_id == asset_id for a in self.excluded_assets)


def _require_unique(values: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    duplicates: set[str] = set()
    for v in values:
        (duplicates if v in seen else seen).add(v)
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(sorted(duplicates))}")


def _check_history(versions: list[ContractVersion]) -> list[ContractVersion]:
    """The history rule shared by every contract event: versions 1..n in order, none
    missing (a gap means a version was lost, and anything it governed cannot be traced),
    and effective dates that never go backwards."""
    for index, v in enumerate(versions):
        if v.version != index + 1:
            raise ValueError(
                f"versions must be 1..{len(versions)} in order without gaps; "
                f"position {index} has version {v.version}"
            )
    for before, after in pairwise(versions):
        if after.effective_from < before.effective_from:
            raise ValueError(
                f"version {after.version} is effective before version {before.version}"
            )
    return versions


def version_in_force(
    versions: Sequence[ContractVersion], instant: datetime
) -> ContractVersion | None:
    """The version in force at `instant` (timezone-aware) among `versions` ordered by
    `effective_from`, or None before the first took effect. On equal `effective_from`
    the later version wins (it is a correction)."""
    found = None
    for v in versions:
        if v.effective_from <= instant:
            found = v
        else:
            break
    return found


class _ContractHistory(EventData):
    """A contract and its whole version history (see the module docstring for why)."""

    contract_id: Identifier
    versions: list[ContractVersion] = Field(min_length=1, max_length=1000)

    @field_validator("versions")
    @classmethod
    def _history(cls, value: list[ContractVersion]) -> list[ContractVersion]:
        return _check_history(value)

    @property
    def current(self) -> ContractVersion:
        """The latest version (possibly effective only in the future)."""
        return self.versions[-1]

    def version_at(self, instant: datetime) -> ContractVersion | None:
        """The version in force at `instant` (see `version_in_force`)."""
        return version_in_force(self.versions, instant)


class ContractSnapshot(_ContractHistory):
    """The customer's contract as it now stands, with every version. Emitted by ingest
    whenever the contract system creates or amends a contract (a new version is
    appended, never edited in place). Consumers replace what they hold for the
    customer's contract with this."""

    event_type: ClassVar[str] = "msp.contract.snapshot.v1"


class ContractTerminated(_ContractHistory):
    """The contract ends at `effective_at`. Emitted by ingest from the contract system.
    Keeps the version history because this record is what compaction leaves behind:
    SLA reports and final invoices for the time before termination still need it."""

    event_type: ClassVar[str] = "msp.contract.terminated.v1"

    effective_at: UtcDatetime
    reason: str = Field(min_length=1, max_length=1000)

    @field_validator("effective_at")
    @classmethod
    def _after_first_version(cls, value: datetime, info: ValidationInfo) -> datetime:
        versions: list[ContractVersion] | None = info.data.get("versions")
        if versions and value < versions[0].effective_from:
            raise ValueError("effective_at is before the contract's first version took effect")
        return value


EVENTS: tuple[type[EventData], ...] = (
    ContractSnapshot,
    ContractTerminated,
)
