-- A correction notice follows the delivery of the notice it corrects: it is sent only
-- once that one is sent, and dead-lettered with it if it never is.
ALTER TABLE deliveries ADD COLUMN follows text;
CREATE INDEX deliveries_follows ON deliveries (follows) WHERE follows IS NOT NULL;
