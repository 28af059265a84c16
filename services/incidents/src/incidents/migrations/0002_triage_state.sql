-- Triage state, one row per thing triage remembers (alert identity, open incident,
-- tombstone, device heartbeat, maintenance window, alert waiting for its contract),
-- written by the triage consumer in the same transaction as its offsets and outputs.
-- A batch loads only the rows its events name plus the rows due by its time, so a
-- customer's size costs nothing to the others. `due_at`: the earliest instant at which
-- the row could change by the passing of time alone (NULL: never); the scheduler finds
-- customers through `triage_customers.wake_at`, the minimum over their rows.

CREATE TABLE triage_customers (
    customer_id text PRIMARY KEY,
    clock       timestamptz,  -- the latest event time triage reached for the customer
    wake_at     timestamptz,  -- min(due_at) over the customer's rows
    contract    jsonb         -- the latest ContractSnapshot / ContractTerminated event
);
CREATE INDEX triage_customers_wake ON triage_customers (wake_at) WHERE wake_at IS NOT NULL;

CREATE TABLE triage_alerts (
    customer_id   text NOT NULL,
    fingerprint   text NOT NULL,
    incident_id   text,
    suppressed_by text,
    device_id     text,
    site_id       text,
    due_at        timestamptz,
    body          jsonb NOT NULL,
    PRIMARY KEY (customer_id, fingerprint)
);
CREATE INDEX triage_alerts_due ON triage_alerts (customer_id, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX triage_alerts_incident ON triage_alerts (customer_id, incident_id)
    WHERE incident_id IS NOT NULL;
CREATE INDEX triage_alerts_window ON triage_alerts (customer_id, suppressed_by)
    WHERE suppressed_by IS NOT NULL;

-- open incidents only (a resolved one is forgotten by triage; the query model keeps it)
CREATE TABLE triage_incidents (
    customer_id text NOT NULL,
    incident_id text NOT NULL,
    seq         bigserial,  -- opening order: correlation takes the first match
    site_id     text,
    due_at      timestamptz,
    body        jsonb NOT NULL,
    PRIMARY KEY (customer_id, incident_id)
);
CREATE INDEX triage_incidents_site ON triage_incidents (customer_id, site_id);
CREATE INDEX triage_incidents_due ON triage_incidents (customer_id, due_at)
    WHERE due_at IS NOT NULL;

CREATE TABLE triage_incident_devices (
    customer_id text NOT NULL,
    device_id   text NOT NULL,
    incident_id text NOT NULL,
    PRIMARY KEY (customer_id, device_id, incident_id)
);
CREATE INDEX triage_incident_devices_incident ON triage_incident_devices (customer_id, incident_id);

CREATE TABLE triage_tombstones (
    customer_id text NOT NULL,
    fingerprint text NOT NULL,
    due_at      timestamptz NOT NULL,
    body        jsonb NOT NULL,
    PRIMARY KEY (customer_id, fingerprint)
);
CREATE INDEX triage_tombstones_due ON triage_tombstones (customer_id, due_at);

CREATE TABLE triage_beats (
    customer_id text NOT NULL,
    device_id   text NOT NULL,
    due_at      timestamptz,
    body        jsonb NOT NULL,
    PRIMARY KEY (customer_id, device_id)
);
CREATE INDEX triage_beats_due ON triage_beats (customer_id, due_at) WHERE due_at IS NOT NULL;

CREATE TABLE triage_windows (
    customer_id text NOT NULL,
    window_id   text NOT NULL,
    ends_at     timestamptz NOT NULL,
    body        jsonb NOT NULL,
    PRIMARY KEY (customer_id, window_id)
);
CREATE INDEX triage_windows_end ON triage_windows (customer_id, ends_at);

CREATE TABLE triage_pending (
    customer_id text NOT NULL,
    event_id    text NOT NULL,
    seq         bigserial,  -- arrival order: applied in it when the contract comes
    due_at      timestamptz NOT NULL,
    body        jsonb NOT NULL,
    PRIMARY KEY (customer_id, event_id)
);
CREATE INDEX triage_pending_due ON triage_pending (customer_id, due_at);

-- the devices known per site (from their events): how many, and which
CREATE TABLE triage_sites (
    customer_id text NOT NULL,
    site_id     text NOT NULL,
    known       integer NOT NULL,
    PRIMARY KEY (customer_id, site_id)
);
CREATE TABLE triage_site_devices (
    customer_id text NOT NULL,
    site_id     text NOT NULL,
    device_id   text NOT NULL,
    PRIMARY KEY (customer_id, site_id, device_id)
);
