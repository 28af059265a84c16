-- The shared access schema (`access`, or `<namespace>access`): one key table every
-- service verifies against, and one audit log every service appends to.

-- API keys: only an HMAC of the key is stored (the pepper lives in the settings, not
-- here), so a database dump does not hand out working keys.
CREATE TABLE api_keys (
    key_id           text        PRIMARY KEY,
    key_hash         bytea       NOT NULL UNIQUE,
    source           text        NOT NULL,
    roles            text[]      NOT NULL,
    customer_ids     text[]      NOT NULL,
    all_customers    boolean     NOT NULL DEFAULT false,
    label_customer   text        NOT NULL DEFAULT 'customer',
    label_device     text        NOT NULL DEFAULT 'instance',
    label_site       text        NOT NULL DEFAULT 'site',
    label_check_kind text        NOT NULL DEFAULT 'check_kind',
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz
);

-- Every mutating call: who (from the verified credential, never the request body),
-- what, on which object and customer, written in the transaction of the change.
CREATE TABLE audit_log (
    audit_id        bigserial   PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    service         text        NOT NULL,
    action          text        NOT NULL,
    subject         text        NOT NULL,
    display_name    text        NOT NULL,
    credential_id   text        NOT NULL,
    customer_id     text,
    object_id       text,
    details         jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_subject ON audit_log (subject, at);
