-- sla-clock state. Unqualified names: the migration runner sets search_path.

-- The latest contract snapshot per customer (the whole version history, as JSON).
-- `revision` comes from a sequence (never reused, even after a rollback) so a process
-- can cache the parsed snapshot per revision.
CREATE SEQUENCE contract_revisions;
CREATE TABLE contracts (
    customer_id   text        PRIMARY KEY,
    contract_id   text        NOT NULL,
    snapshot      text        NOT NULL,
    versions      integer     NOT NULL,
    revision      bigint      NOT NULL DEFAULT nextval('contract_revisions'),
    terminated_at timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Each ticket's transition log: replayed in (at, ord, event_id) order on every change,
-- so a late event lands in its place and the clocks are recomputed deterministically.
CREATE TABLE transitions (
    customer_id text        NOT NULL,
    ticket_id   text        NOT NULL,
    event_id    text        NOT NULL,
    kind        text        NOT NULL,
    at          timestamptz NOT NULL,
    priority    text,
    status      text,
    agent_reply boolean     NOT NULL DEFAULT false,
    device_id   text,
    PRIMARY KEY (customer_id, ticket_id, event_id)
);

-- One row per ticket: what the queue and the ticket API read, and why a ticket has no
-- clock (no contract yet, no target for its priority, excluded asset).
CREATE TABLE tickets (
    customer_id      text        NOT NULL,
    ticket_id        text        NOT NULL,
    priority         text,
    status           text,
    open             boolean     NOT NULL,
    opened_at        timestamptz,
    tier             text,
    contract_id      text,
    contract_version integer,
    no_clock_reason  text,
    PRIMARY KEY (customer_id, ticket_id)
);
CREATE INDEX tickets_by_id ON tickets (ticket_id);
CREATE INDEX tickets_open ON tickets (priority, tier) WHERE open;

-- The clocks as of the last replay. A running clock's live elapsed time is
-- elapsed + business time since running_since (see service.clock_view), which both the
-- ticket API and the monthly report use, so they cannot disagree.
CREATE TABLE clocks (
    customer_id      text        NOT NULL,
    ticket_id        text        NOT NULL,
    metric           text        NOT NULL,
    cycle            integer     NOT NULL,
    clock_id         text        NOT NULL,
    priority         text        NOT NULL,
    tier             text        NOT NULL,
    contract_id      text        NOT NULL,
    contract_version integer     NOT NULL,
    coverage         text        NOT NULL,
    target_seconds   integer     NOT NULL,
    state            text        NOT NULL,
    started_at       timestamptz NOT NULL,
    stopped_at       timestamptz,
    stop_reason      text,
    elapsed          interval    NOT NULL,
    running_since    timestamptz,
    due_at           timestamptz,
    breached_at      timestamptz,
    pauses           jsonb       NOT NULL DEFAULT '[]',
    PRIMARY KEY (customer_id, ticket_id, metric, cycle)
);
CREATE INDEX clocks_by_start ON clocks (customer_id, started_at);
CREATE INDEX clocks_live ON clocks (state) WHERE state IN ('running', 'paused');

-- Future thresholds of running clocks, claimed by the scheduler when due.
CREATE TABLE deadlines (
    id               bigserial   PRIMARY KEY,
    customer_id      text        NOT NULL,
    ticket_id        text        NOT NULL,
    metric           text        NOT NULL,
    cycle            integer     NOT NULL,
    kind             text        NOT NULL,
    percent          integer     NOT NULL,
    due_at           timestamptz NOT NULL,
    escalation_level integer     NOT NULL,
    roles            text[]      NOT NULL
);
CREATE INDEX deadlines_due ON deadlines (due_at);
CREATE INDEX deadlines_ticket ON deadlines (customer_id, ticket_id);

-- Every SLA event id ever emitted: a replay recomputes the same ids and skips them.
CREATE TABLE emitted (
    event_id   text        PRIMARY KEY,
    emitted_at timestamptz NOT NULL DEFAULT now()
);

-- The stream's event time (max time of consumed ticket and incident events): the
-- scheduler's "now" when MSP_SCHEDULER_CLOCK=event_time (replay, simulation).
CREATE TABLE event_clock (
    id             integer     PRIMARY KEY CHECK (id = 1),
    max_event_time timestamptz NOT NULL
);

-- Incidents, for measured availability in the monthly report.
CREATE TABLE incidents (
    customer_id        text        NOT NULL,
    incident_id        text        NOT NULL,
    opened_at          timestamptz NOT NULL,
    resolved_at        timestamptz,
    parent_incident_id text,
    scope              text        NOT NULL,
    PRIMARY KEY (customer_id, incident_id)
);
