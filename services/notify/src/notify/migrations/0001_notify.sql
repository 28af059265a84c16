-- notify's state. Unqualified names: the runner sets search_path to the schema.

-- The latest contract record per customer (its contact directory, time zone, calendar).
CREATE TABLE contracts (
    customer_id   text        PRIMARY KEY,
    payload       jsonb       NOT NULL,  -- ContractSnapshot / ContractTerminated data
    event_id      text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- What an incident's later notices need: its title, site and priority so far.
CREATE TABLE incidents (
    customer_id   text        NOT NULL,
    incident_id   text        NOT NULL,
    title         text        NOT NULL,
    priority      text        NOT NULL,
    site_id       text,
    PRIMARY KEY (customer_id, incident_id)
);

-- Who was told an incident opened (or escalated): they hear that it resolved.
CREATE TABLE incident_audience (
    customer_id   text        NOT NULL,
    incident_id   text        NOT NULL,
    channel       text        NOT NULL,
    address       text        NOT NULL,
    role          text        NOT NULL,
    name          text        NOT NULL,
    PRIMARY KEY (customer_id, incident_id, channel, address)
);

-- The outbox of deliveries to make, written in the consumer's transaction, and the
-- delivery log: one row per (event, recipient, channel), its id derived from them.
CREATE TABLE deliveries (
    delivery_id     text        PRIMARY KEY,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    customer_id     text        NOT NULL,
    kind            text        NOT NULL,
    channel         text        NOT NULL,   -- email | webhook | slack | teams
    address         text        NOT NULL,   -- email address or URL
    role            text        NOT NULL,
    recipient_name  text        NOT NULL,
    message         jsonb       NOT NULL,   -- the notice (rendered per channel at send)
    members         jsonb       NOT NULL DEFAULT '[]',  -- grouped notices after the first
    group_key       text,
    status          text        NOT NULL DEFAULT 'pending',
        -- pending | sending | retrying | sent | dead
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,   -- not before (quiet hours, group window, backoff)
    due_at          timestamptz NOT NULL,   -- the first not-before (latency is measured from it)
    lease_until     timestamptz,            -- a 'sending' row past its lease is reclaimed
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text,
    source_time     timestamptz NOT NULL    -- the event's time
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_group ON deliveries (group_key, channel, address)
    WHERE status = 'pending' AND group_key IS NOT NULL;
CREATE INDEX deliveries_customer ON deliveries (customer_id, created_at);
CREATE INDEX deliveries_event ON deliveries (event_id);

-- Every attempt: started, and how it ended (sent | failed | unknown after a crash).
CREATE TABLE delivery_attempts (
    delivery_id   text        NOT NULL REFERENCES deliveries (delivery_id),
    attempt       integer     NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    outcome       text        NOT NULL DEFAULT 'sending',
    http_status   integer,
    error         text,
    PRIMARY KEY (delivery_id, attempt)
);
