-- What the SLA topic holds for each outcome statement of a clock (corrections.py): the
-- latest event of the slot (the original warning / breach / met / cancellation, or the
-- correction that replaced it) and the instant it states (NULL: withdrawn). Written in
-- the same transaction as the events (outbox), so it is exactly what was published.
-- Statements emitted before this table existed have no row: the next replay of their
-- ticket records what it finds true (their ids are in `emitted`, so nothing is re-sent).
CREATE TABLE published (
    customer_id text        NOT NULL,
    ticket_id   text        NOT NULL,
    clock_id    text        NOT NULL,
    statement   text        NOT NULL,  -- warning | breach | met | cancellation
    percent     integer     NOT NULL,  -- a warning's threshold; 0 otherwise
    priority    text        NOT NULL,  -- the priority a warning was for; '' otherwise
    event_id    text        NOT NULL,
    at          timestamptz,
    identity    jsonb       NOT NULL,  -- the clock's identity as stated
    PRIMARY KEY (customer_id, ticket_id, clock_id, statement, percent, priority)
);
