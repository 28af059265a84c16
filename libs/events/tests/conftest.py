"""Shared fixtures for the msp_events unit tests (pure: no broker, no database).

Helpers are fixtures rather than importable functions: with `--import-mode=importlib`
test folders are not packages, so test modules cannot import one another.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from msp_events import serde
from msp_events.envelope import Envelope
from msp_events.samples import sample_events
from msp_events.serde import EventValidationError, FieldError

SampleObj = Callable[[str], dict[str, Any]]
ExpectError = Callable[..., list[FieldError]]


@pytest.fixture(scope="session")
def samples() -> dict[str, Envelope]:
    """The sample envelope of every event type, by type."""
    return {event.type: event for event in sample_events()}


@pytest.fixture
def sample_obj(samples: dict[str, Envelope]) -> SampleObj:
    """`sample_obj(type)`: that type's sample as a decoded JSON object, safe to mutate."""

    def make(event_type: str) -> dict[str, Any]:
        return copy.deepcopy(serde.to_json_obj(samples[event_type]))

    return make


@pytest.fixture
def expect_error(sample_obj: SampleObj) -> ExpectError:
    """`expect_error(type, mutate, pointer, fragment="")`: apply `mutate` to the
    sample's `data`, parse it, and assert it fails with an error at exactly `pointer`
    whose message contains `fragment`. Returns all errors."""

    def check(
        event_type: str,
        mutate: Callable[[dict[str, Any]], object],
        pointer: str,
        fragment: str = "",
    ) -> list[FieldError]:
        obj = sample_obj(event_type)
        mutate(obj["data"])
        with pytest.raises(EventValidationError) as info:
            serde.parse_event(obj)
        errors = info.value.errors
        assert any(e.pointer == pointer and fragment in e.message for e in errors), (
            f"no error at {pointer!r} containing {fragment!r}; got {errors}"
        )
        return errors

    return check
