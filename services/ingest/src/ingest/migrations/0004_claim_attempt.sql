-- Which claim attempt (one group of one process, `claims.GroupClaims`) INSERTed a
-- 'pending' row. An attempt that gave up before producing (Postgres answered too late)
-- is "abandoned": nothing is ever produced for it, so its rows, if the INSERT committed
-- after all, are freed at once (a retry takes them over) instead of waiting for the
-- orphan grace. NULL for rows claimed before this column existed.
ALTER TABLE accepted_events ADD COLUMN attempt uuid;
