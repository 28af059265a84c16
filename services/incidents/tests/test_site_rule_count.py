"""Two batch-local indexes of the triage state must decide exactly what the walks they
replaced decided, over any sequence of alerts: the site rule's offline-device count kept
incrementally (`CustomerState.offline_count`, `note_alert`) against the recount
(`correlation.offline_devices`), and the open incidents looked up by device and site
(`CustomerState.incidents_near`) against the walk over every open incident in order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from incidents_factory import contract, firing, heartbeat, resolved, t

from incidents.config import TriageConfig
from incidents.correlation import offline_devices
from incidents.outputs import Effects
from incidents.state import CustomerState, Incident
from incidents.triage import apply_event
from msp_events.types.contracts import ContractSnapshot

C = "cust"
# a low threshold and short windows: widening, flapping and hold-downs happen often
CFG = TriageConfig(site_min_devices=3, flap_changes=3, flap_window_s=300, holddown_s=60)


class RecountState(CustomerState):
    """The reference: the count recounted from the alerts at every use, the incidents
    to join found by walking every open incident in opening order."""

    def offline_count(self, inc: Incident) -> int:
        return len(offline_devices(self, inc))

    def incidents_near(self, device_id: str | None, site_id: str | None) -> list[Incident]:
        return walk(self, device_id, site_id)


def walk(state: CustomerState, device_id: str | None, site_id: str | None) -> list[Incident]:
    return [
        inc
        for inc in state.incidents.values()
        if (device_id is not None and device_id in inc.device_ids)
        or (site_id is not None and site_id == inc.site_id)
    ]


step = st.tuples(
    st.sampled_from(["fire", "fire", "resolve", "beat", "reload"]),
    st.sampled_from(["a", "b", "c", "d", "e"]),  # fingerprints repeat: refresh, refire, flap
    st.sampled_from(["d1", "d2", "d3", "d4"]),
    st.sampled_from(["device_offline", "heartbeat_missing", "server_down", "cpu"]),
    st.sampled_from(["s1", "s1", "s2", None]),
    st.integers(min_value=0, max_value=400),
)
Step = tuple[str, str, str, str, str | None, int]


def run(steps: list[Step], state: CustomerState, *, check: bool) -> list[object]:
    """Apply the steps; `reload` stands for a new batch (the state stored and loaded:
    the count is rebuilt from it). With `check`, after every event each open
    incident's kept count equals the recount and every device's and site's incidents
    are those of the walk, in its order."""
    snapshot = contract(C).data
    assert isinstance(snapshot, ContractSnapshot)
    fx, clock = Effects(C), 0
    for i, (kind, fp, device, check_kind, site, gap) in enumerate(steps):
        clock += gap
        at = t(clock)
        if kind == "reload":
            state = type(state).model_validate(state.model_dump())
            continue
        if kind == "fire":
            event = firing(C, fp, at, device=device, site=site, kind=check_kind, id=f"e{i}")
        elif kind == "resolve":
            event = resolved(C, fp, at, device=device, site=site, kind=check_kind, id=f"e{i}")
        else:
            beat = heartbeat(C, device, at, site=site or "s1", interval=30)
            event = beat.model_copy(update={"id": f"e{i}"})  # the same in every run
        fx.extend(apply_event(state, snapshot, event, CFG))
        if check:
            for inc in state.incidents.values():
                assert state.offline_count(inc) == len(offline_devices(state, inc))
            for d in ["d1", "d2", "d3", "d4", None]:
                for s in ["s1", "s2", None]:
                    assert state.incidents_near(d, s) == walk(state, d, s)
    return (
        [e.model_dump(mode="json") for e in fx.events]
        + [r for r in fx.log]
        + [state.model_dump(mode="json")]
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40))
def test_indexes_decide_what_the_walks_decide(steps: list[Step]) -> None:
    reference = run(steps, RecountState(customer_id=C), check=False)
    # counted lazily where the rules need it (the service's path) ...
    assert run(steps, CustomerState(customer_id=C), check=False)[:-1] == reference[:-1]
    # ... and eagerly after every event, equal to the recount each time
    assert run(steps, CustomerState(customer_id=C), check=True)[:-1] == reference[:-1]


def test_a_site_storm_widens_and_counts_devices_as_they_come_and_go() -> None:
    steps: list[Step] = [
        ("fire", "a", "d1", "device_offline", "s1", 0),
        ("fire", "b", "d2", "device_offline", "s1", 5),
        ("fire", "c", "d3", "server_down", "s1", 5),  # 3 offline: widens
        ("resolve", "b", "d2", "device_offline", "s1", 5),
        ("fire", "d", "d4", "device_offline", "s1", 5),  # 3 offline again (d2 is back)
    ]
    out = run(steps, CustomerState(customer_id=C), check=True)
    titles = [
        e["data"]["title"]  # type: ignore[index]
        for e in out[:-1]
        if isinstance(e, dict) and e["data"].get("title")
    ]
    assert "Site s1 unreachable (3 devices offline)" in titles
    assert out[:-1] == run(steps, RecountState(customer_id=C), check=False)[:-1]
