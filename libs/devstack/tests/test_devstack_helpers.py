"""Unit tests: helpers that need no broker or database."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from msp_devstack import kafka as kafka_module
from msp_devstack.kafka import KAFKA_VERSION, LocalKafka, PrerequisiteError, fetch_kafka
from msp_devstack.paths import local_dir, repo_root
from msp_devstack.postgres import LocalPostgres
from msp_devstack.processes import StartupError, free_port
from msp_devstack.stack import _port
from msp_devstack.testing import new_namespace
from msp_devstack.testkit import wait_for, wait_for_async


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = iter([0, None, "", 42])
    assert wait_for(lambda: next(calls), timeout=5, interval=0) == 42


def test_wait_for_fails_with_the_message_after_the_deadline() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.1 s waiting for the moon"):
        wait_for(lambda: False, timeout=0.1, interval=0.01, message="the moon")


def test_wait_for_treats_a_failing_assert_as_not_yet() -> None:
    state = {"n": 0}

    def check() -> bool:
        state["n"] += 1
        assert state["n"] >= 3, "not yet"
        return True

    assert wait_for(check, timeout=5, interval=0)
    with pytest.raises(AssertionError, match="never"):
        wait_for(lambda: _raise("never"), timeout=0.05)


def _raise(text: str) -> bool:
    raise AssertionError(text)


async def test_wait_for_async_awaits_the_predicate() -> None:
    values = iter([False, False, True])

    async def check() -> bool:
        return next(values)

    assert await wait_for_async(check, timeout=5, interval=0) is True
    with pytest.raises(AssertionError, match="the condition"):
        await wait_for_async(lambda: False, timeout=0.05, message=lambda: "the condition")


def test_namespace_is_unique_and_valid_for_topics_groups_and_schemas(namespace: str) -> None:
    assert re.fullmatch(r"t_[0-9a-f]{8}_", namespace)
    # Kafka topic chars and a lower-case SQL identifier, once a schema name is appended.
    assert re.fullmatch(r"[a-zA-Z0-9._-]+", namespace + "msp.contracts.v1")
    assert re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", namespace + "sla_clock")
    assert new_namespace() != namespace


def test_repo_root_and_local_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = repo_root()
    assert (root / "uv.lock").is_file()
    monkeypatch.delenv("MSP_LOCAL_DIR", raising=False)
    assert local_dir() == root / ".local"
    monkeypatch.setenv("MSP_LOCAL_DIR", str(tmp_path))
    assert local_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match=r"uv\.lock"):
        repo_root(Path("/"))


def test_kafka_version_comes_from_the_pom() -> None:
    assert re.fullmatch(r"3\.9\.\d+", KAFKA_VERSION), "stay on 3.9.x (KIP-896)"


def test_cluster_id_looks_like_kafka_storage_random_uuid() -> None:
    for _ in range(50):
        cluster_id = kafka_module._cluster_id()
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
        assert not cluster_id.startswith("-")


def test_fetch_names_the_missing_prerequisite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MSP_LOCAL_DIR", str(tmp_path))  # no cached jars here
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mvn nor java
    with pytest.raises(PrerequisiteError, match="`mvn` is not on PATH"):
        fetch_kafka()


def test_local_kafka_refuses_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    with pytest.raises(StartupError, match="port is in use"):
        LocalKafka(tmp_path, port=busy_port).start()


def test_local_postgres_refuses_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    with pytest.raises(StartupError, match="port is in use"):
        LocalPostgres(tmp_path, port=busy_port).start()


def test_run_ports_explicit_busy_fails_default_busy_falls_back(busy_port: int) -> None:
    with pytest.raises(StartupError, match=f"Kafka port {busy_port} is in use"):
        _port(busy_port, 19092, "Kafka")
    fallback = _port(None, busy_port, "Kafka")
    assert fallback != busy_port
    free = free_port()
    assert _port(None, free, "Kafka") == free
