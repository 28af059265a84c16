-- The incidents query model (written by the projection consumer from msp.incidents.v1)
-- and the triage log (written by the triage agent with its outbox rows).

CREATE TABLE incidents (
    incident_id     text PRIMARY KEY,
    customer_id     text NOT NULL,
    title           text NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    priority        text NOT NULL,
    impact          text NOT NULL,
    urgency         text NOT NULL,
    scope           text NOT NULL,
    tier            text NOT NULL,
    tier_rank       smallint NOT NULL,
    site_id         text,
    device_ids      text[] NOT NULL DEFAULT '{}',
    check_kind      text NOT NULL,
    priority_reason text NOT NULL,
    runbook         text,
    ticket_id       text,
    flapping        boolean NOT NULL DEFAULT false,
    opened_at       timestamptz NOT NULL,
    resolved_at     timestamptz,
    resolution      text,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX incidents_queue ON incidents (priority, tier_rank, opened_at);
CREATE INDEX incidents_customer ON incidents (customer_id, opened_at);

CREATE TABLE incident_alerts (
    incident_id text NOT NULL REFERENCES incidents (incident_id),
    fingerprint text NOT NULL,
    attached_at timestamptz NOT NULL,
    PRIMARY KEY (incident_id, fingerprint)
);

CREATE TABLE incident_timeline (
    event_id    text PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (incident_id),
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    detail      jsonb NOT NULL
);
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, at);

CREATE TABLE triage_log (
    event_id    text PRIMARY KEY,
    customer_id text NOT NULL,
    fingerprint text,
    outcome     text NOT NULL,
    reason      text NOT NULL,
    incident_id text,
    at          timestamptz NOT NULL,
    check_kind  text,
    severity    text,
    device_id   text,
    site_id     text
);
CREATE INDEX triage_log_customer ON triage_log (customer_id, at);
CREATE INDEX triage_log_incident ON triage_log (incident_id) WHERE incident_id IS NOT NULL;
