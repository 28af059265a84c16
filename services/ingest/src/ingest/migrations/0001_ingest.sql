-- API keys: only an HMAC of the key is stored (the pepper lives in the settings, not
-- here), so a database dump does not hand out working keys.
CREATE TABLE api_keys (
    key_id          text        PRIMARY KEY,
    key_hash        bytea       NOT NULL UNIQUE,
    source          text        NOT NULL,
    customer_ids    text[]      NOT NULL,
    label_customer  text        NOT NULL DEFAULT 'customer',
    label_device    text        NOT NULL DEFAULT 'instance',
    label_site      text        NOT NULL DEFAULT 'site',
    label_check_kind text       NOT NULL DEFAULT 'check_kind',
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- Event ids already published to a canonical topic, per customer (the idempotency
-- key is scoped to the tenant so one customer can never shadow another's event).
-- A request claims its ids here in a transaction held open until Kafka acknowledged.
CREATE TABLE accepted_events (
    customer_id text        NOT NULL,
    event_id    text        NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, event_id)
);
CREATE INDEX accepted_events_age ON accepted_events (accepted_at);
