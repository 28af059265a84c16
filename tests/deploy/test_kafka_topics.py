"""The Strimzi `KafkaTopic` manifests are generated from the topic registry and cannot
drift from it: the committed file equals a fresh rendering, and what the overlays
deploy has the registry's names, partitions and config."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml
from deploy_manifests import K8S, OVERLAYS, crd_errors, of_kind, render
from hypothesis import given
from hypothesis import strategies as st

from msp_events import strimzi
from msp_events.topics import TOPICS, Topic

COMMITTED = K8S / "base" / "kafka-topics.yaml"
REGENERATE = "python -m msp_events.strimzi --out deploy/k8s/base/kafka-topics.yaml"


def test_committed_manifests_match_the_registry() -> None:
    assert COMMITTED.read_text() == strimzi.render(), (
        f"deploy/k8s/base/kafka-topics.yaml is stale: run `{REGENERATE}`"
    )


def test_generated_manifests_are_valid_kafka_topics() -> None:
    docs = list(yaml.safe_load_all(strimzi.render()))
    assert len(docs) == len(TOPICS)
    for doc in docs:
        assert not crd_errors(doc), crd_errors(doc)
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == strimzi.DEFAULT_CLUSTER


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployed_topics_are_the_registry(overlay: str) -> None:
    deployed = {
        t["spec"]["topicName"]: t
        for t in of_kind(render(f"overlays/{overlay}"), "KafkaTopic").values()
    }
    assert set(deployed) == {t.name for t in TOPICS}
    for topic in TOPICS:
        spec = deployed[topic.name]["spec"]
        assert spec["partitions"] == topic.partitions, topic.name
        assert spec["config"]["cleanup.policy"] == topic.cleanup_policy, topic.name
        assert spec["config"]["retention.ms"] == str(topic.retention_ms), topic.name
        assert spec["config"] == topic.kafka_config(), topic.name
        assert spec["replicas"] == (1 if overlay == "dev" else 3)


def test_compacted_contracts_topic_keeps_its_extra_config() -> None:
    (contracts,) = [
        d
        for d in yaml.safe_load_all(strimzi.render())
        if d["spec"]["topicName"] == "msp.contracts.v1"
    ]
    assert contracts["spec"]["config"]["cleanup.policy"] == "compact"
    assert contracts["spec"]["config"]["min.compaction.lag.ms"] == "86400000"


def test_names_are_kubernetes_safe_and_the_kafka_name_is_kept() -> None:
    assert strimzi.resource_name("msp.billing.line-items.v1") == "msp-billing-line-items-v1"
    assert strimzi.resource_name("Team_A.Alerts") == "team-a-alerts"
    with pytest.raises(ValueError, match="no valid Kubernetes name"):
        strimzi.resource_name("..")
    with pytest.raises(ValueError, match="no valid Kubernetes name"):
        strimzi.resource_name("x" * 64)


def test_two_topics_with_the_same_kubernetes_name_are_refused() -> None:
    a = Topic("msp.a.v1", "a", (), producers=(), consumers=())
    b = Topic("msp_a_v1", "b", (), producers=(), consumers=())
    with pytest.raises(ValueError, match="same Kubernetes name"):
        strimzi.render(topics=[a, b])


@given(st.text(alphabet="abcXYZ019._-", min_size=1, max_size=80))
def test_resource_name_is_a_dns_label_or_an_error(name: str) -> None:
    try:
        result = strimzi.resource_name(name)
    except ValueError:
        return
    assert len(result) <= 63
    assert result[0].isalnum() and result[-1].isalnum()
    assert set(result) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_cli_writes_the_file_and_stdout(tmp_path: Path) -> None:
    out = tmp_path / "topics.yaml"
    with redirect_stdout(io.StringIO()) as said:
        strimzi.main(["--out", str(out), "--cluster", "other", "--replicas", "2"])
    assert f"wrote {len(TOPICS)} KafkaTopic(s)" in said.getvalue()
    docs = list(yaml.safe_load_all(out.read_text()))
    assert {d["metadata"]["labels"]["strimzi.io/cluster"] for d in docs} == {"other"}
    assert {d["spec"]["replicas"] for d in docs} == {2}
    with redirect_stdout(io.StringIO()) as printed:
        strimzi.main([])
    assert printed.getvalue() == strimzi.render()
    with pytest.raises(SystemExit), redirect_stdout(io.StringIO()):
        strimzi.main(["--replicas", "0"])
