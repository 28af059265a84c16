-- Included hours: one settlement per customer and invoiced period (the next period's
-- rollover is read from it). Change-order budgets and overrun approvals.

CREATE TABLE included_hours (
    customer_id       text        NOT NULL,
    period            text        NOT NULL,
    allowance_minutes integer     NOT NULL,
    rollover_in       integer     NOT NULL,
    used_minutes      integer     NOT NULL,
    overage_minutes   integer     NOT NULL,
    rollover_out      integer     NOT NULL,
    settled_at        timestamptz NOT NULL,
    PRIMARY KEY (customer_id, period)
);

ALTER TABLE change_orders
    ADD COLUMN budget_minutes integer,
    ADD COLUMN budget_amount numeric,
    ADD COLUMN overrun_approved_at timestamptz,
    ADD COLUMN overrun_reason text,
    ADD COLUMN overrun_event_time timestamptz;
