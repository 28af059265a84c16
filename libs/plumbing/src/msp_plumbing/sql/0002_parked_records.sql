-- Records whose events wait for context (e.g. a ticket before its customer's contract),
-- kept byte for byte by the consumer group that parked them (`Tx.park`). If applying
-- one fails once its context arrives, it is dead-lettered alone with these bytes
-- (`Tx.dead_letter_parked`), never blamed on the event that released it.
CREATE TABLE parked_records (
    group_id      text        NOT NULL,
    event_id      text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    timestamp_ms  bigint      NOT NULL,
    key           bytea,
    value         bytea       NOT NULL,
    header_names  text[]      NOT NULL,
    header_values bytea[]     NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, event_id)
);
