"""A minimal Faust app for tests/test_faust_compat.py: an agent that counts records
per key in a changelog-backed table and forwards each record. Configured by env."""

import os

import faust

NS = os.environ["SMOKE_NAMESPACE"]
app = faust.App(
    f"{NS}faust-smoke",
    broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP_SERVERS']}",
    store="memory://",
    datadir=os.environ["SMOKE_DATADIR"],
    web_enabled=False,
    topic_replication_factor=1,
    topic_partitions=6,
)
source = app.topic(f"{NS}smoke.in", key_serializer="raw", value_serializer="raw")
sink = app.topic(f"{NS}smoke.out", key_serializer="raw", value_serializer="raw")
seen = app.Table("seen", default=int, partitions=6)


@app.agent(source)
async def forward(stream):  # type: ignore[no-untyped-def]
    async for key, value in stream.items():
        seen[key] += 1
        await sink.send(key=key, value=value + b"!")
