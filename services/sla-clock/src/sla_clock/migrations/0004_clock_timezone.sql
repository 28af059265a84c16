-- The time zone of the contract version a clock runs on: the scheduler's warnings,
-- breaches and escalations carry it (SLA events name the customer's zone so a notifier
-- can render local times). NULL for clocks written before it: their next replay fills it.
ALTER TABLE clocks ADD COLUMN timezone text;
