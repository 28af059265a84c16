-- The next monthly SLA report of each customer with a contract (monthly.py): the month
-- it reports and when it is due (the opening of the first business day of the next
-- month in the customer's zone). The scheduler claims due rows FOR UPDATE SKIP LOCKED
-- and, in one transaction with the report's outbox row, moves the row to the next
-- month: one report per customer and month.
CREATE TABLE report_schedule (
    customer_id text        PRIMARY KEY,
    month       text        NOT NULL,
    due_at      timestamptz NOT NULL
);
CREATE INDEX report_schedule_due ON report_schedule (due_at);
