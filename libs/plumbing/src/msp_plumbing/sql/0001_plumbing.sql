-- Tables every service schema gets from the plumbing library (applied before the
-- service's own migrations). Unqualified names: the runner sets search_path.

-- Where each consumer group has got to, per partition. Written in the SAME transaction
-- as the state the records produced: this row, not Kafka's committed offset, is the truth.
CREATE TABLE consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Event ids already applied by a consumer group: the same event delivered twice
-- (a producer retry, a relay re-send, a replayed raw topic) is applied once.
CREATE TABLE processed_events (
    group_id     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, event_id)
);

-- Output events, written with the state change and relayed to Kafka afterwards.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    event_id   text        NOT NULL UNIQUE,
    topic      text        NOT NULL,
    key        bytea       NOT NULL,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
