-- The workspace and user of the call each record answers, so the MCP server's
-- per-principal cap counts a principal's pending calls with an index instead of reading
-- the tenant's records (`ApprovalStore::count_pending_approval_calls`). No user is the
-- empty string. Records stored before this migration get both from their record.
ALTER TABLE approval_calls ADD COLUMN workspace TEXT NOT NULL DEFAULT '';
ALTER TABLE approval_calls ADD COLUMN principal_user TEXT NOT NULL DEFAULT '';
UPDATE approval_calls SET
    workspace = json_extract(record, '$.request.context.session.workspace'),
    principal_user = COALESCE(json_extract(record, '$.request.context.session.user'), '');
CREATE INDEX approval_calls_by_principal
    ON approval_calls (tenant, workspace, principal_user, stage);
