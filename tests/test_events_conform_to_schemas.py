"""Every event we write validates against the published JSON Schemas in docs/events,
checked by the `jsonschema` library with format checking ON (as a consumer that enforces
formats or generates code from the schemas would): the simulated month's events, one
sample of every event type, and the line items and invoices billing's own functions
make of the month (every currency of the simulator, JPY included). Pure: no broker.

The format checkers for date-time, time, duration, uri ... exist only with jsonschema's
`format-nongpl` extra (a dev dependency); without it jsonschema skips those formats
silently, so the first tests prove the checkers are active and a known-bad record fails.
"""

from __future__ import annotations

import copy
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from billing.classification import WorkContext, classify, entry_minutes
from billing.consumers import change_order
from billing.contracts import ContractState
from billing.invoice import AccountingCodes, build_invoice
from billing.line_items import build_line_items
from msp_events import Envelope, make_event
from msp_events.registry import ENVELOPES
from msp_events.samples import sample_events
from msp_events.serde import parse_event, to_json_obj
from msp_events.types.change_orders import ChangeOrderApproved, ChangeOrderRejected
from msp_events.types.contracts import ContractSnapshot, ContractTerminated
from msp_events.types.tickets import TimeLogged
from msp_simulator.scenario import DEFAULT_MONTH, generate

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "events" / "schemas"
FORMATS: FormatChecker = Draft202012Validator.FORMAT_CHECKER
# Every format the schemas use, or a producer is likely to reach for.
NEEDED_FORMATS = {"date-time", "date", "time", "duration", "uri", "uri-reference", "email"}


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    out = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        out[path.stem] = Draft202012Validator(schema, format_checker=FORMATS)
    assert set(out) == set(ENVELOPES), "one published schema per event type"
    return out


def failures(
    validators: dict[str, Draft202012Validator], events: Iterable[Envelope]
) -> tuple[int, list[str]]:
    """How many events were checked, and every schema error as 'type id /pointer: msg'."""
    checked, errors = 0, []
    for event in events:
        obj = to_json_obj(event)
        checked += 1
        for err in validators[obj["type"]].iter_errors(obj):
            pointer = "".join(f"/{p}" for p in err.absolute_path)
            errors.append(f"{obj['type']} {obj['id']} {pointer}: {err.message}")
    return checked, errors


def test_format_checkers_are_really_active() -> None:
    assert sorted(NEEDED_FORMATS - set(FORMATS.checkers)) == [], (
        "jsonschema lacks format checkers: install the dev group (jsonschema[format-nongpl])"
    )
    assert not FORMATS.conforms("08:00", "time"), "RFC 3339 time needs seconds and an offset"
    assert FORMATS.conforms("08:00:00Z", "time")
    assert not FORMATS.conforms("2026-03-10T08:00:00", "date-time"), "no offset"
    assert not FORMATS.conforms("2026-02-30", "date")


def test_a_known_bad_record_is_rejected(validators: dict[str, Draft202012Validator]) -> None:
    samples = {e.type: to_json_obj(e) for e in sample_events()}
    created = samples["msp.ticket.created.v1"]
    assert validators["msp.ticket.created.v1"].is_valid(created)
    bad = copy.deepcopy(created)
    bad["time"] = "2026-03-10 08:00"  # not RFC 3339: only a format checker catches this
    assert not validators["msp.ticket.created.v1"].is_valid(bad)

    contract = copy.deepcopy(samples["msp.contract.snapshot.v1"])
    hours = contract["data"]["versions"][0]["calendar"]["weekly_hours"]
    day = next(iter(hours))
    hours[day][0]["start"] = "8am"
    assert not validators["msp.contract.snapshot.v1"].is_valid(contract)
    hours[day][0]["start"], hours[day][0]["end"] = "00:00", "24:00"  # a whole day is fine
    assert validators["msp.contract.snapshot.v1"].is_valid(contract)


def test_every_sample_event_conforms(validators: dict[str, Draft202012Validator]) -> None:
    samples = sample_events()
    assert {e.type for e in samples} == set(ENVELOPES), "a sample of every event type"
    checked, errors = failures(validators, samples)
    assert errors == [], f"{len(errors)} failures in {checked} samples:\n" + "\n".join(errors)


@pytest.fixture(scope="module")
def month_events() -> list[Envelope]:
    month = generate(seed=1)
    return [event for post in month.posts for event in post.events]


def test_every_event_of_the_simulated_month_conforms(
    validators: dict[str, Draft202012Validator], month_events: list[Envelope]
) -> None:
    types = Counter(e.type for e in month_events)
    assert types["msp.contract.snapshot.v1"] >= 30 and types["msp.ticket.time_logged.v1"] > 0
    checked, errors = failures(validators, month_events)
    print(f"simulated month: {checked} events of {len(types)} types, {len(errors)} failures")
    assert errors == [], f"{len(errors)} failures in {checked} events:\n" + "\n".join(errors[:50])


def bill_the_month(events: list[Envelope]) -> Iterator[Envelope]:
    """The line items and invoices billing's own functions make of the month's time
    entries: classify each (in event order, with the ticket's minutes so far), price
    it, then invoice every customer for the month."""
    period = DEFAULT_MONTH.strftime("%Y-%m")
    contracts: dict[str, ContractState] = {}
    orders = defaultdict(list)
    ticket_minutes: Counter[str] = Counter()
    items = defaultdict(list)
    for event in sorted(events, key=lambda e: e.time):
        data, customer = event.data, event.customer_id
        if isinstance(data, ContractSnapshot | ContractTerminated):
            contracts[customer] = ContractState.from_event(data)
        elif isinstance(data, ChangeOrderApproved | ChangeOrderRejected):
            orders[customer].append(change_order(event))
        elif isinstance(data, TimeLogged):
            context = WorkContext(
                contracts.get(customer), orders[customer], ticket_minutes[data.ticket_id]
            )
            ticket_minutes[data.ticket_id] += entry_minutes(data)
            lines = build_line_items(
                data,
                source_event_id=event.id,
                decision=classify(data, context),
                contract=contracts[customer],
                last_closed=None,
            )
            items[customer] += lines
            for line in lines:
                yield make_event(line, customer_id=customer, source="/billing", time=event.time)
    issued = datetime(2026, 4, 1, tzinfo=UTC)
    for customer, contract in sorted(contracts.items()):
        invoice = build_invoice(
            customer_id=customer,
            period=period,
            contract=contract,
            items=items[customer],
            issued_at=issued,
            codes=AccountingCodes(),
        )
        if invoice is not None:
            yield make_event(invoice, customer_id=customer, source="/billing", time=issued)


def test_billing_output_for_the_month_conforms(
    validators: dict[str, Draft202012Validator], month_events: list[Envelope]
) -> None:
    billed = list(bill_the_month(month_events))
    types = Counter(e.type for e in billed)
    currencies = {e.data.currency for e in billed}  # type: ignore[union-attr]
    assert types["msp.billing.invoice_issued.v1"] >= 24, "every managed customer invoiced"
    assert {"USD", "EUR", "JPY"} <= currencies
    checked, errors = failures(validators, billed)
    print(f"billing of the month: {checked} events in {sorted(currencies)}, {len(errors)} failures")
    assert errors == [], f"{len(errors)} failures in {checked} events:\n" + "\n".join(errors[:50])


def test_decimals_given_in_exponent_form_are_written_positionally(
    validators: dict[str, Draft202012Validator],
) -> None:
    """A producer may send 1E+1; we write 10, for every kind of decimal (multipliers,
    percentages, quantities, money), as money always was: one form on the wire."""
    samples = {e.type: to_json_obj(e) for e in sample_events()}
    contract = copy.deepcopy(samples["msp.contract.snapshot.v1"])
    version = contract["data"]["versions"][0]
    version["rates"].update(weekend_multiplier="1E+1", standard_hourly="9.5E+1")
    version["uptime_target_percent"] = "9.95E+1"
    invoice = copy.deepcopy(samples["msp.billing.invoice_issued.v1"])
    line = invoice["data"]["lines"][0]
    line["quantity"] = format(Decimal(line["quantity"]).normalize(), "E")  # e.g. 4.4E+1
    events = [parse_event(contract), parse_event(invoice)]
    checked, errors = failures(validators, events)
    assert checked == 2 and errors == [], errors
    written = to_json_obj(events[0])["data"]["versions"][0]
    assert written["rates"]["weekend_multiplier"] == "10"
    assert written["rates"]["standard_hourly"] == "95"
    assert written["uptime_target_percent"] == "99.5"
    assert "E" not in to_json_obj(events[1])["data"]["lines"][0]["quantity"]
