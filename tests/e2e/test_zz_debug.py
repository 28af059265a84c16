import pytest
from e2e_driver import Driver
from msp_devstack.testkit import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

def test_debug(fleet, kafka_bootstrap):
    import e2e_scenario as s
    d = Driver(fleet, kafka=kafka_bootstrap, customer=s.CUSTOMER)
    d.post_events("crm", [s.contract_event()])
    d.wait_consumed("billing", "msp.contracts.v1")
    fleet.stop("incidents")
    d.post_alertmanager(s.alertmanager_group(6))
    fleet.start_service("incidents")
    d.post_alertmanager(s.alertmanager_group(12))
    def probe():
        items = d.get("incidents", f"/v1/incidents?customer_id={d.customer}").json()["items"]
        return items if items and sum(i["alert_count"] for i in items) >= 12 else None
    try:
        wait_for(probe, timeout=40, interval=1)
        print("RESULT all 12")
    except AssertionError as e:
        print("RESULT LOST", e)
