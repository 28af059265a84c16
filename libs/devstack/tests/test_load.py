"""The fault suite's load and its recovery arithmetic, pure: every request the load
sends is valid as sent (each CloudEvent decodes under the contract), ids are unique,
and each accepted event names what it must become downstream."""

from __future__ import annotations

import json
from collections import Counter

from msp_devstack.drill import rate_back
from msp_devstack.load import LoadReport, RequestMaker
from msp_events import decode

CUSTOMERS = ("c-1", "c-2", "c-3")


def test_every_request_is_valid_and_names_its_effects() -> None:
    maker = RequestMaker(CUSTOMERS)
    requests = [maker.next() for _ in range(40)]
    kinds: Counter[str] = Counter()
    ids: list[str] = []
    for request in requests:
        if request.path == "/v1/events":
            bodies = request.body if isinstance(request.body, list) else [request.body]
            events = [decode(json.dumps(b)) for b in bodies]
            assert len(events) == len(request.expected)
            ids += [e.id for e in events]
            assert {e.customer_id for e in events} == {x.customer for x in request.expected}
        else:
            alerts = request.body["alerts"]
            assert [a["fingerprint"] for a in alerts] == [x.key for x in request.expected]
            assert {a["labels"]["customer"] for a in alerts} == {
                x.customer for x in request.expected
            }
        kinds.update(x.kind for x in request.expected)
    assert len(ids) == len(set(ids))
    keys = [x.key for r in requests for x in r.expected]
    assert len(keys) == len(set(keys))
    assert set(kinds) == {"alert", "ticket", "entry"}
    assert {x.customer for r in requests for x in r.expected} == set(CUSTOMERS)


def testrate_back_is_the_first_full_window_after_the_fault() -> None:
    report = LoadReport(accepted_at=[0.0, 0.5, 10.0, 13.0, 13.2, 13.4, 13.6, 14.0])
    # before the fault (t < 5) nothing counts; 4 per 2 s is half of 4/s
    assert rate_back(report, since=5.0, rate=4.0) == 8.6
    assert rate_back(report, since=5.0, rate=40.0) is None
