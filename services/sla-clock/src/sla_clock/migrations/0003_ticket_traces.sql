-- The W3C trace context of each ticket's latest consumed event (traces.py), so that a
-- warning or breach the deadline scheduler fires later, with no event in hand,
-- continues the ticket's trace like the events computed while consuming do.
CREATE TABLE ticket_traces (
    customer_id text NOT NULL,
    ticket_id   text NOT NULL,
    traceparent text NOT NULL,
    tracestate  text,
    PRIMARY KEY (customer_id, ticket_id)
);
