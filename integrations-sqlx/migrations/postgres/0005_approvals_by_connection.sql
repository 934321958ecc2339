-- The connection a call waiting for approval goes through, so forgetting a connection
-- deletes its requests (`ApprovalStore::delete_approvals`). Requests stored before this
-- migration get it from their record.
ALTER TABLE approvals ADD COLUMN connection TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE approvals SET connection = (record::jsonb) -> 'context' ->> 'connection';
CREATE INDEX approvals_by_connection ON approvals (tenant, connection);
