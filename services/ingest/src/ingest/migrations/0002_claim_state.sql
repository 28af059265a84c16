-- A claim is committed as 'pending' before its event is produced and becomes
-- 'published' once Kafka acknowledged it. A claim left 'pending' (Kafka's answer was
-- lost, or the process died after the ack) is in doubt until `claims.DoubtResolver`
-- has read its topic's partition (`topic`) and either marked it published or freed it.
ALTER TABLE accepted_events
    ADD COLUMN state text NOT NULL DEFAULT 'published'
        CHECK (state IN ('pending', 'published')),
    ADD COLUMN topic text;
CREATE INDEX accepted_events_pending ON accepted_events (accepted_at) WHERE state = 'pending';
