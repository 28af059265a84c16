"""The simulated month's outputs are byte-identical to the golden file.

`month_golden.play_month` plays the simulator's month (seed 1, March 2026, 30
customers: what `make run` shows) through the five services on the session's broker
and Postgres, and reads every record of every topic plus notify's notices (see that
module for what is covered, and for the few fields that vary between two runs of the
same code and are masked or compared as net outcomes). The test compares them, record
by record, with `golden/month-2026-03-seed1.tsv`, generated before the performance
work (commit b6da0a7): a change of any compared byte fails it, naming the first
differing record (topic, id) with a diff of its JSON against the golden value.

When an output is MEANT to change, regenerate the golden and commit it with the change,
so the diff is reviewed with it:

    make golden-month      # = MSP_GOLDEN_WRITE=1 pytest tests/e2e/test_month_golden.py

The diff of the .tsv shows which records (topic, id) changed, appeared or went away.
"""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path

import pytest
from month_golden import (
    GOLDEN,
    GOLDEN_VALUES,
    RANDOM_FIELDS,
    WRITE_ENV,
    Output,
    golden_total,
    lines,
    play_month,
    read_golden,
    read_values,
    total,
    wants_write,
    write_golden,
    write_values,
)

pytestmark = pytest.mark.integration


def pretty(value: bytes) -> list[str]:
    try:
        return json.dumps(json.loads(value), indent=2, sort_keys=True).splitlines()
    except ValueError:
        return [repr(value)]


def describe(line: str, produced: dict[str, Output]) -> str:
    topic, ident = line.split("\t")[:2]
    out = produced.get(line)
    if out is None:
        return f"{topic} {ident}"
    shown = "\n".join(pretty(out.value))
    return f"{topic} {ident} (key {out.key!r}, headers {out.headers!r}):\n{shown}"


def json_diff(old_line: str, new: Output) -> str:
    """A unified diff of the golden record's JSON and the new one's (sorted keys)."""
    old = read_values().get(old_line)
    if old is None:
        return f"(no golden value for it in {GOLDEN_VALUES.name}); now:\n" + "\n".join(
            pretty(new.value)
        )
    diff = difflib.unified_diff(pretty(old), pretty(new.value), "golden", "now", n=2, lineterm="")
    return "\n".join(diff)


def first_difference(golden: list[str], now: list[Output]) -> str | None:
    """The first record (in (topic, id) order) that differs, as a message; None when
    the outputs equal the golden."""
    produced = {o.line: o for o in now}
    mine = sorted(produced)
    if mine == golden:
        return None
    want, got = set(golden), set(mine)
    missing = sorted(want - got)
    extra = sorted(got - want)
    by_key = {tuple(x.split("\t")[:2]): x for x in missing}
    for line in extra:
        old = by_key.get(tuple(line.split("\t")[:2]))
        if old is not None:
            topic, ident = line.split("\t")[:2]
            return (
                f"{len(missing)} golden records differ or are missing, {len(extra)} new; "
                f"first changed record: topic {topic}, id {ident}\n"
                f"golden line: {old}\nnow:         {line}\n{json_diff(old, produced[line])}"
            )
    if missing:
        return (
            f"{len(missing)} golden records missing, {len(extra)} new; first missing: "
            f"{missing[0]}" + (f"; first new: {describe(extra[0], produced)}" if extra else "")
        )
    return f"{len(extra)} records not in the golden; first: {describe(extra[0], produced)}"


@pytest.mark.timeout(900)
def test_the_simulated_months_outputs_equal_the_golden(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    outputs = play_month(kafka_bootstrap, database_url, tmp_path)
    print(f"month played and read in {time.monotonic() - began:.0f} s: {len(outputs)} records")
    twice = [o for o in outputs if o.copies > 1]
    print(f"records seen more than once (identical copies): {len(twice)}")
    if wants_write():
        write_golden(outputs)
        print(f"{WRITE_ENV}=1: wrote {GOLDEN}")
        return
    assert GOLDEN.exists(), f"no golden file {GOLDEN}: run `make golden-month` to make one"
    golden = read_golden()
    assert total(golden) == golden_total(), f"{GOLDEN} was edited by hand (its total differs)"
    difference = first_difference(golden, outputs)
    if difference is not None:
        write_values(outputs, tmp_path / GOLDEN_VALUES.name)  # every value, for a closer look
    assert difference is None, (
        f"the simulated month's outputs differ from {GOLDEN.name} (this run's values: "
        f"{tmp_path / GOLDEN_VALUES.name}) "
        f"(masked, not compared: {sorted(RANDOM_FIELDS)}):\n{difference}"
    )
    assert lines(outputs) == golden
