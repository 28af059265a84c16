-- Devices and users seen under management, for counted fees and the reconciliation
-- report (counts.py, assets.py). One row per asset and UTC day with the first and last
-- instant it was seen that day: a UTC day spans at most two customer-local days, so the
-- local days of the two ends are exactly the local days it was seen on. Order-free
-- (LEAST / GREATEST / set union), so a replay in any interleaving gives the same rows.
CREATE TABLE assets_seen (
    customer_id text        NOT NULL,
    utc_day     date        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('device', 'user')),
    asset_id    text        NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    sources     text[]      NOT NULL,  -- inventory / monitoring
    PRIMARY KEY (customer_id, utc_day, kind, asset_id)
);
