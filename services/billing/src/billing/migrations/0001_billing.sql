-- Billing state. Unqualified names: the runner sets search_path to the schema.

-- The latest contract record per customer, with its whole version history.
CREATE TABLE contracts (
    customer_id   text        PRIMARY KEY,
    contract_id   text        NOT NULL,
    payload       jsonb       NOT NULL,  -- ContractSnapshot / ContractTerminated data
    event_type    text        NOT NULL,
    event_id      text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE change_orders (
    customer_id     text        NOT NULL,
    change_order_id text        NOT NULL,
    approved        boolean     NOT NULL,
    ticket_ids      text[]      NOT NULL DEFAULT '{}',
    work_categories text[]      NOT NULL DEFAULT '{}',
    approved_at     timestamptz,
    valid_until     timestamptz,
    note            text        NOT NULL DEFAULT '',
    event_time      timestamptz NOT NULL,
    PRIMARY KEY (customer_id, change_order_id)
);

CREATE TABLE tickets (
    customer_id    text    NOT NULL,
    ticket_id      text    NOT NULL,
    title          text,
    category       text,
    minutes_logged integer NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, ticket_id)
);

-- Every time entry received; `pending` until the customer's contract is known.
CREATE TABLE entries (
    seq          bigserial   NOT NULL,
    customer_id  text        NOT NULL,
    entry_id     text        NOT NULL,
    event_id     text        NOT NULL,
    event_time   timestamptz NOT NULL,
    payload      jsonb       NOT NULL,  -- the TimeLogged data
    pending      boolean     NOT NULL,
    PRIMARY KEY (customer_id, entry_id)
);
CREATE INDEX entries_pending ON entries (customer_id, seq) WHERE pending;

-- The latest outcome per line item (what the topic's latest record says).
CREATE TABLE line_items (
    line_item_id     text        PRIMARY KEY,
    customer_id      text        NOT NULL,
    entry_id         text        NOT NULL,
    source_event_id  text        NOT NULL,
    segment          integer     NOT NULL,
    ticket_id        text,
    work_category    text        NOT NULL,
    classification   text        NOT NULL,
    rule             text        NOT NULL,
    reason           text        NOT NULL,
    work_date        date        NOT NULL,
    period           text        NOT NULL,
    prior_period     boolean     NOT NULL,
    minutes_worked   integer     NOT NULL,
    minutes_billed   integer     NOT NULL,
    currency         text        NOT NULL,
    amount           numeric     NOT NULL,
    change_order_id  text,
    revision         integer     NOT NULL DEFAULT 1,
    invoice_id       text,
    payload          jsonb       NOT NULL  -- the LineItemRecorded data
);
CREATE INDEX line_items_customer_period ON line_items (customer_id, period);
CREATE INDEX line_items_held ON line_items (customer_id)
    WHERE classification IN ('scope_creep', 'held_review');
CREATE INDEX line_items_entry ON line_items (customer_id, entry_id);

CREATE TABLE invoices (
    invoice_id  text        PRIMARY KEY,
    customer_id text        NOT NULL,
    period      text        NOT NULL,
    currency    text        NOT NULL,
    total       numeric     NOT NULL,
    issued_at   timestamptz NOT NULL,
    payload     jsonb       NOT NULL,  -- the InvoiceIssued data
    UNIQUE (customer_id, period)
);

-- A period is closed for a customer once its invoice run happened (even when there was
-- nothing to invoice): later work dated in it goes to the next open period.
CREATE TABLE closed_periods (
    customer_id text        NOT NULL,
    period      text        NOT NULL,
    invoice_id  text,
    closed_at   timestamptz NOT NULL,
    PRIMARY KEY (customer_id, period)
);

CREATE TABLE credit_notes (
    credit_note_id text        PRIMARY KEY,
    invoice_id     text        NOT NULL REFERENCES invoices,
    customer_id    text        NOT NULL,
    total          numeric     NOT NULL,
    issued_at      timestamptz NOT NULL,
    payload        jsonb       NOT NULL
);

CREATE TABLE credited_lines (
    invoice_id     text NOT NULL,
    line_id        text NOT NULL,
    credit_note_id text NOT NULL,
    PRIMARY KEY (invoice_id, line_id)
);
