"""msp_plumbing: what every service needs, written once.

- `consumer.TransactionalConsumer`: offsets stored with state in one transaction.
- `outbox`: events out through a table and a relay with an idempotent producer.
- `runtime.ServiceRuntime`: pool + producer + relay + consumers, with health.
- `app.create_app`: /healthz, /readyz (open), /metrics and /v1/audit (with a
  credential, `msp_access`), the one error body; `jsonlog`: JSON logs.
- `settings.ServiceSettings`: the pydantic-settings base.
- `migrations`: versioned SQL per service schema.
- `kafka_admin.ensure_topics`: topics from the registry.
"""
