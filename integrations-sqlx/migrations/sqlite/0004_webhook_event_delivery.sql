-- Whether a recorded webhook event reached the event sink: 0 while its first delivery
-- runs (a redelivery then is answered 503 in every process, not 2xx "duplicate"), 1 once
-- it did. Events recorded before this migration count as delivered.
ALTER TABLE webhook_events ADD COLUMN delivered INTEGER NOT NULL DEFAULT 1;
